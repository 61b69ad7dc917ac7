using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Tests.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>
/// An exec into a container that runs in its image enters it through the join program with the container's whole
/// identity: its supplementary groups too (nsenter, with no setpriv in the image, dropped them).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageExecJoinTests(TestRegistry registry) : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "image-exec-join-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public Task InitializeAsync()
    {
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir, UseImages = true }, _host, SandboxKind.Bubblewrap);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private async Task<(int Code, string Stdout)> ExecAsync(string pod, params string[] command)
    {
        using var stdout = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var code = await _runtime.ExecAsync(new ExecRequest("ci", pod, null, command, false), new ExecStreams(null, stdout, null), timeout.Token);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Fact]
    public async Task An_exec_in_an_image_has_the_containers_user_gid_and_supplementary_groups()
    {
        Assert.True(_runtime.ExecsUseJoinProgram, "the join program was not built: is clang installed?");
        var pod = Pod("groups", new V1Container { Name = "main", Image = registry.ImageB, Command = ["sleep", "4646.5"] });
        pod.Spec.SecurityContext = new V1PodSecurityContext { SupplementalGroups = [3000, 4000] };
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("groups", s => s.Phase == "Running", timeoutSeconds: 60);

        var exec = await ExecAsync("groups", "sh", "-c", "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
        // It joined the container (an exec that found no container process would run in a sandbox of its own, with the
        // same ids): its pid namespace is the container's.
        var joined = await ExecAsync("groups", "sh", "-c", "readlink /proc/self/ns/pid");
        Assert.Equal((0, HostPidNamespace("sleep 4646.5") + "\n"), joined);

        // The container's command runs in bubblewrap's user namespace, which shows groups it does not map as 65534: its
        // real ids are read from the host, where the exec's are the same.
        var container = HostStatus("sleep 4646.5");
        // 65532: the pod's volume group.
        Assert.Equal("Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t3000 4000 65532 \n", container);
        Assert.Equal((0, "uid=1000(app) gid=1000(app) groups=3000,4000,65532\n" + container), exec);
    }

    /// <summary>The pid namespace (<c>pid:[inode]</c>) of the host's one process whose command line is <paramref name="commandLine"/>.</summary>
    private static string HostPidNamespace(string commandLine)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (!int.TryParse(Path.GetFileName(dir), out _) || File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim() != commandLine) continue;
                return new FileInfo(Path.Combine(dir, "ns", "pid")).LinkTarget!;
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        throw new InvalidOperationException($"no process runs {commandLine}");
    }

    /// <summary>The Uid, Gid and Groups lines of the host's one process whose command line is <paramref name="commandLine"/>.</summary>
    private static string HostStatus(string commandLine)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (!int.TryParse(Path.GetFileName(dir), out _) || File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim() != commandLine) continue;
                return string.Concat(File.ReadAllLines(Path.Combine(dir, "status"))
                    .Where(line => line.StartsWith("Uid:", StringComparison.Ordinal) || line.StartsWith("Gid:", StringComparison.Ordinal) || line.StartsWith("Groups:", StringComparison.Ordinal))
                    .Select(line => line + "\n"));
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        throw new InvalidOperationException($"no process runs {commandLine}");
    }
}
