using System.Text;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// A pod on the embedded cluster may not read another pod's Secrets or volumes, nor the API's kubeconfig and token: the
/// node's state directory and the memory volumes' root are empty inside every container, while each container still sees
/// its own volumes at their mount paths.
/// </summary>
public sealed class PodIsolationTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "local-cluster-isolation", Guid.NewGuid().ToString("N"));
    private readonly string _kubeconfig = Path.Combine(Path.GetTempPath(), "local-cluster-isolation", Guid.NewGuid().ToString("N") + ".kubeconfig");
    private LocalClusterServer _server = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            KubeconfigPath = _kubeconfig,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _client = new Kubernetes(_server.ClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
            File.Delete(_kubeconfig);
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private static V1Pod SleepingPod(string name, V1Volume volume, string mountPath, string? medium = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 1,
            Containers =
            [
                new V1Container
                {
                    Name = "main", Image = "alpine:3", Command = ["sleep", "120"],
                    VolumeMounts = [new V1VolumeMount { Name = volume.Name, MountPath = mountPath }],
                },
            ],
            Volumes = [volume],
        },
    };

    private async Task<(int ExitCode, string Output)> Exec(string pod, string script)
    {
        var output = "";
        var exitCode = await _client.NamespacedPodExecAsync(pod, "default", "main", ["sh", "-c", script], false, async (_, stdout, stderr) =>
        {
            var readOut = new StreamReader(stdout).ReadToEndAsync();
            var readErr = new StreamReader(stderr).ReadToEndAsync();
            output = await readOut + await readErr;
        }, CancellationToken.None);
        return (exitCode, output);
    }

    [Fact]
    public async Task A_pod_cannot_read_another_pods_secret_memory_volume_or_the_kubeconfig()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "owner-secret" },
            Data = new Dictionary<string, byte[]> { ["token"] = Encoding.UTF8.GetBytes("s3cret-of-owner") },
        }, "default");
        await _client.CoreV1.CreateNamespacedPodAsync(SleepingPod("owner",
            new V1Volume { Name = "secret", Secret = new V1SecretVolumeSource { SecretName = "owner-secret" } }, "/var/run/owner"), "default");
        await _client.CoreV1.CreateNamespacedPodAsync(SleepingPod("memory",
            new V1Volume { Name = "shm", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } }, "/scratch"), "default");
        await _client.CoreV1.CreateNamespacedPodAsync(SleepingPod("intruder",
            new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() }, "/work"), "default");
        foreach (var pod in new[] { "owner", "memory", "intruder" })
        {
            await WaitForPhase(_client, pod, "Running");
        }

        // The owner reads its own Secret; the memory pod writes its memory volume.
        Assert.Equal((0, "s3cret-of-owner"), await Exec("owner", "cat /var/run/owner/token"));
        Assert.Equal(0, (await Exec("memory", "echo private > /scratch/note && cat /scratch/note")).ExitCode);

        // On the host, the owner's Secret file and the memory pod's note exist (the test process sees them)...
        var secretFile = Directory.EnumerateFiles(_stateDir, "token", SearchOption.AllDirectories)
            .Single(f => File.ReadAllText(f) == "s3cret-of-owner");
        var noteFile = Directory.EnumerateFiles(PodVolumes.MemoryRoot, "note", SearchOption.AllDirectories)
            .Single(f => File.ReadAllText(f) == "private\n");
        Assert.Contains(_server.Token, await File.ReadAllTextAsync(_kubeconfig));

        // ...but not inside another pod: the state directory and the memory root are empty there, and the kubeconfig is covered.
        var (code, output) = await Exec("intruder",
            $"cat '{secretFile}' '{noteFile}' '{_kubeconfig}' 2>&1; ls -A '{_stateDir}' '{PodVolumes.MemoryRoot}'");
        Assert.True(code == 0, output);
        Assert.DoesNotContain("s3cret-of-owner", output);
        Assert.DoesNotContain("private", output);
        Assert.DoesNotContain(_server.Token, output);
        Assert.DoesNotContain("current-context", output);
        Assert.EndsWith($"{_stateDir}:\n", output); // both directories listed, both empty

        // The intruder still has its own volume.
        Assert.Equal((0, "mine\n"), await Exec("intruder", "echo mine > /work/f && cat /work/f"));
    }
}
