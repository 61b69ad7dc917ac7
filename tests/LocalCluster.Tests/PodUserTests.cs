using System.Text;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// Containers on the embedded cluster run as a non-root user; root only when the pod asks for it and the cluster allows
/// it. A pod's Secrets and volumes are its own, and another pod cannot read them even through their host paths (here a
/// hostPath volume of the node's state directory and of the memory volumes' root).
/// </summary>
public sealed class PodUserTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "local-cluster-users", Guid.NewGuid().ToString("N"));
    private readonly List<LocalClusterServer> _servers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers) await server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private async Task<(Kubernetes Client, string StateDir)> StartAsync(bool allowRoot = false)
    {
        var stateDir = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        var server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = stateDir,
            AllowRootContainers = allowRoot,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _servers.Add(server);
        return (new Kubernetes(server.ClientConfiguration()), stateDir);
    }

    private static V1Pod Pod(string name, string script, V1SecurityContext? security = null, V1PodSecurityContext? podSecurity = null,
        params (V1Volume Volume, string MountPath)[] volumes) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 1,
            RestartPolicy = "Never",
            SecurityContext = podSecurity,
            Containers =
            [
                new V1Container
                {
                    Name = "main", Image = "alpine:3", Command = ["sh", "-c", script], SecurityContext = security,
                    VolumeMounts = volumes.Select(v => new V1VolumeMount { Name = v.Volume.Name, MountPath = v.MountPath }).ToList(),
                },
            ],
            Volumes = volumes.Select(v => v.Volume).ToList(),
        },
    };

    private static async Task<string> Log(Kubernetes client, string pod)
    {
        await using var stream = await client.CoreV1.ReadNamespacedPodLogAsync(pod, "default");
        return await new StreamReader(stream).ReadToEndAsync();
    }

    private static async Task<V1ContainerStateWaiting> WaitForWaiting(Kubernetes client, string pod, string reason)
    {
        for (var i = 0; i < 200; i++)
        {
            var read = await client.CoreV1.ReadNamespacedPodAsync(pod, "default");
            if (read.Status?.ContainerStatuses?.SingleOrDefault()?.State?.Waiting is { } waiting && waiting.Reason == reason) return waiting;
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {pod} never waited with {reason}");
    }

    [Fact]
    public async Task A_container_that_names_no_user_runs_as_the_non_root_default_user()
    {
        var (client, _) = await StartAsync();
        await client.CoreV1.CreateNamespacedPodAsync(Pod("plain", "id -u; id -g"), "default");

        await WaitForPhase(client, "plain", "Succeeded");

        Assert.Equal("65532\n65532\n", await Log(client, "plain"));
    }

    [Fact]
    public async Task A_pod_asking_for_root_is_refused_with_the_reason_unless_the_cluster_allows_root()
    {
        var (client, _) = await StartAsync();
        await client.CoreV1.CreateNamespacedPodAsync(Pod("root", "id -u", new V1SecurityContext { RunAsUser = 0 }), "default");

        var waiting = await WaitForWaiting(client, "root", "CreateContainerConfigError");

        Assert.Contains("runAsUser 0 (root) is not allowed", waiting.Message);
        Assert.Contains("--allow-root", waiting.Message);
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=root");
        Assert.Contains(events.Items, e => e.Type == "Warning" && e.Reason == "Failed" && e.Message.Contains("(root) is not allowed"));
        Assert.Equal("Pending", (await client.CoreV1.ReadNamespacedPodAsync("root", "default")).Status.Phase);

        var (allowing, _) = await StartAsync(allowRoot: true);
        await allowing.CoreV1.CreateNamespacedPodAsync(Pod("root", "id -u", new V1SecurityContext { RunAsUser = 0 }), "default");
        await WaitForPhase(allowing, "root", "Succeeded");
        Assert.Equal("0\n", await Log(allowing, "root"));
    }

    [Fact]
    public async Task RunAsNonRoot_with_uid_0_is_refused_as_Kubernetes_does_even_where_root_is_allowed()
    {
        var (client, _) = await StartAsync(allowRoot: true);
        await client.CoreV1.CreateNamespacedPodAsync(
            Pod("strict", "id -u", new V1SecurityContext { RunAsUser = 0, RunAsNonRoot = true }), "default");

        var waiting = await WaitForWaiting(client, "strict", "CreateContainerConfigError");

        Assert.StartsWith("container's runAsUser breaks non-root policy (pod: \"strict_default(", waiting.Message);
        Assert.EndsWith(")\", container: main)", waiting.Message);
    }

    [Fact]
    public async Task A_pods_secret_and_volumes_are_its_own_and_fsGroup_applies_as_in_Kubernetes()
    {
        var (client, _) = await StartAsync();
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "s" },
            Data = new Dictionary<string, byte[]> { ["token"] = Encoding.UTF8.GetBytes("t0ken") },
        }, "default");
        var secret = new V1Volume { Name = "secret", Secret = new V1SecretVolumeSource { SecretName = "s", DefaultMode = 256 } }; // 0400
        var work = new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() };
        const string script = "cat /s/token; echo; stat -c '%u:%g %a' /s/token /work; echo made > /work/f && id -G";

        await client.CoreV1.CreateNamespacedPodAsync(Pod("plain", script, volumes: [(secret, "/s"), (work, "/work")]), "default");
        await client.CoreV1.CreateNamespacedPodAsync(Pod("grouped", script, podSecurity: new V1PodSecurityContext { FsGroup = 3000 },
            volumes: [(secret, "/s"), (work, "/work")]), "default");
        await WaitForPhase(client, "plain", "Succeeded");
        await WaitForPhase(client, "grouped", "Succeeded");

        var plain = (await Log(client, "plain")).Split('\n');
        var uid = plain[1].Split(':')[0];
        Assert.Equal(["t0ken", $"{uid}:{uid} 400", $"{uid}:{uid} 2770", uid], plain[..4]);
        var grouped = (await Log(client, "grouped")).Split('\n');
        var groupedUid = grouped[1].Split(':')[0];
        Assert.Equal(["t0ken", $"{groupedUid}:3000 440", $"{groupedUid}:3000 2770", $"{groupedUid} 3000"], grouped[..4]);
    }

    [Fact]
    public async Task A_pod_cannot_read_another_pods_secret_emptyDir_or_memory_volume_even_knowing_their_host_paths()
    {
        var (client, stateDir) = await StartAsync();
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "victim-secret" },
            Data = new Dictionary<string, byte[]> { ["token"] = Encoding.UTF8.GetBytes("s3cret-of-victim") },
        }, "default");
        await client.CoreV1.CreateNamespacedPodAsync(Pod("victim", "echo disk-note > /work/note; echo memory-note > /shm/note; sleep 120",
            volumes:
            [
                (new V1Volume { Name = "secret", Secret = new V1SecretVolumeSource { SecretName = "victim-secret" } }, "/s"),
                (new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() }, "/work"),
                (new V1Volume { Name = "shm", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } }, "/shm"),
            ]), "default");
        var victim = await WaitForPhase(client, "victim", "Running");
        var victimDir = Path.Combine(stateDir, "pods", victim.Metadata.Uid, "volumes");
        var memoryDir = PodVolumes.MemoryDir(victim.Metadata.Uid);
        for (var i = 0; i < 200 && !File.Exists(Path.Combine(memoryDir, "shm", "note")); i++) await Task.Delay(25);
        Assert.Equal("s3cret-of-victim", File.ReadAllText(Path.Combine(victimDir, "secret", "token")));

        // The intruder mounts the node's state directory and the memory root straight from the host.
        HostPath[] mounts = [new("node", stateDir, "/node"), new("memory", PodVolumes.MemoryRoot, "/memory")];
        var relative = Path.GetRelativePath(stateDir, victimDir);
        var memoryRelative = Path.GetRelativePath(PodVolumes.MemoryRoot, memoryDir);
        var script = $"id -u; cat /node/{relative}/secret/token /node/{relative}/work/note /memory/{memoryRelative}/shm/note 2>&1; "
                     + $"ls -A /memory /node/pods/{victim.Metadata.Uid} 2>&1; true";
        await client.CoreV1.CreateNamespacedPodAsync(Pod("intruder", script,
            volumes: [.. mounts.Select(m => (new V1Volume { Name = m.Name, HostPath = new V1HostPathVolumeSource { Path = m.Path } }, m.MountPath))]),
            "default");

        await WaitForPhase(client, "intruder", "Succeeded");
        var output = await Log(client, "intruder");
        Assert.DoesNotContain("s3cret-of-victim", output);
        Assert.DoesNotContain("disk-note", output);
        Assert.DoesNotContain("memory-note", output);
        Assert.Contains("'/memory': Permission denied", output); // the memory root does not even list the victim
        Assert.True(output.Split("Permission denied").Length - 1 == 5, output); // three files and two directories
    }

    private sealed record HostPath(string Name, string Path, string MountPath);
}
