using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>The sandboxes other than bubblewrap: unshare (the runtime runs as root here) and none at all.</summary>
public sealed class SandboxFallbackTests : IDisposable
{
    private readonly string _stateDir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "fallback-tests-" + Guid.NewGuid().ToString("N"))).FullName;
    private readonly FakePodHost _host = new();

    public void Dispose() => Directory.Delete(_stateDir, recursive: true);

    [Fact]
    public async Task Unshare_gives_the_same_view_of_volumes_user_and_working_dir()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the unshare sandbox needs root");
        await using var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.Unshare);
        var hostDir = Directory.CreateDirectory(Path.Combine(_stateDir, "ro")).FullName;
        // unshare creates missing mount points on the host: keep them inside this test's directory.
        var scratch = Path.Combine(_stateDir, "mnt", "scratch");
        var readOnly = Path.Combine(_stateDir, "mnt", "ro");
        var container = Shell("main", $"echo shared > {scratch}/f; cat {scratch}/f; id -u; pwd; hostname; touch {readOnly}/x 2>/dev/null || echo refused",
            Mount("scratch", scratch), Mount("ro", readOnly, readOnly: true));
        container.SecurityContext = new V1SecurityContext { RunAsUser = 4242 };
        container.WorkingDir = scratch + "/deep";
        var pod = Pod("unshared", container).WithVolumes(
            new V1Volume { Name = "scratch", EmptyDir = new V1EmptyDirVolumeSource() },
            new V1Volume { Name = "ro", HostPath = new V1HostPathVolumeSource { Path = hostDir } });
        runtime.PodCreated(pod);

        var final = await _host.WaitForStatusAsync("unshared", s => s.Phase is "Succeeded" or "Failed");

        using var output = new MemoryStream();
        await runtime.StreamLogAsync("ci", "unshared", new PodLogOptions(), output, CancellationToken.None);
        var log = Encoding.UTF8.GetString(output.ToArray());
        Assert.Equal("Succeeded", final.Phase);
        Assert.StartsWith($"shared\n4242\n{scratch}/deep\nunshared\n", log);
        Assert.EndsWith("refused\n", log);
        Assert.Empty(Directory.GetFiles(hostDir));
    }

    [Fact]
    public async Task Without_a_sandbox_the_container_cannot_run_and_says_what_to_install()
    {
        await using var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.None);
        runtime.PodCreated(Pod("nosandbox", Shell("main", "true")));

        var status = await _host.WaitForStatusAsync("nosandbox", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "RunContainerError");

        Assert.Contains("apt-get install bubblewrap", status.Container("main").State.Waiting.Message);
        Assert.Equal("Pending", status.Phase);
    }
}
