using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// The API server with the real runtime, for what deleting pods and waiting for Secrets mean to a client. The runtime
/// looks again for a missing Secret only once an hour: a pod that starts within seconds was woken by the Secret's creation.
/// </summary>
public sealed class PodDeletionEndToEndTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "local-cluster-deletion", Guid.NewGuid().ToString("N"));
    private LocalClusterServer _server = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host, SandboxCommand.Detect(Environment.IsPrivilegedProcess, File.Exists), TimeSpan.FromHours(1)),
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
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private static V1Pod Sleeper(string name, string script) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            RestartPolicy = "Never",
            TerminationGracePeriodSeconds = 30,
            Containers = [new V1Container { Name = "main", Image = "busybox:1.36", Command = ["sh", "-c", script] }],
        },
    };

    [Fact]
    public async Task Deleted_pods_leave_no_process_and_their_secrets_go_with_them()
    {
        var sleep = $"sleep 300.{Random.Shared.Next(100000, 999999)}";
        var names = Enumerable.Range(0, 5).Select(i => $"doomed-{i}").ToList();
        foreach (var name in names)
        {
            var pod = await _client.CoreV1.CreateNamespacedPodAsync(Sleeper(name, $"trap '' TERM; {sleep} & setsid sh -c '{sleep} & exit 0'; wait"), "default");
            var owner = new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = name, Uid = pod.Metadata.Uid };
            await _client.CoreV1.CreateNamespacedSecretAsync(Secret($"{name}-token", owner), "default");
        }
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("kept"), "default");
        foreach (var name in names) await WaitForPhase(_client, name, "Running");
        var pids = await WaitForProcessesAsync(sleep, 2 * names.Count);
        Assert.Equal(2 * names.Count, pids.Count);

        // Grace 0: SIGKILL at once, whatever the container does with SIGTERM.
        await Task.WhenAll(names.Select(name => _client.CoreV1.DeleteNamespacedPodAsync(name, "default", gracePeriodSeconds: 0)));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await _client.CoreV1.ListNamespacedPodAsync("default")).Items.Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);

        Assert.Empty((await _client.CoreV1.ListNamespacedPodAsync("default")).Items);
        // The pod object goes only once its processes are gone: none is left, not even as a zombie.
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} outlived its pod"));
        var secrets = await _client.CoreV1.ListNamespacedSecretAsync("default");
        Assert.Equal(["kept"], secrets.Items.Select(s => s.Metadata.Name));
    }

    [Fact]
    public async Task A_secret_that_no_longer_names_its_owner_survives_the_owner()
    {
        var pod = await _client.CoreV1.CreateNamespacedPodAsync(Sleeper("owner", "sleep 300"), "default");
        var owner = new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "owner", Uid = pod.Metadata.Uid };
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("released", owner), "default");
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("owned", owner), "default");
        await _client.CoreV1.PatchNamespacedSecretAsync(new V1Patch("""{"metadata":{"ownerReferences":null}}""", V1Patch.PatchType.MergePatch), "released", "default");

        await _client.CoreV1.DeleteNamespacedPodAsync("owner", "default", gracePeriodSeconds: 0);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await _client.CoreV1.ListNamespacedSecretAsync("default")).Items.Any(s => s.Metadata.Name == "owned") && DateTime.UtcNow < deadline) await Task.Delay(20);

        var secrets = await _client.CoreV1.ListNamespacedSecretAsync("default");
        Assert.Equal(["released"], secrets.Items.Select(s => s.Metadata.Name));
    }

    [Fact]
    public async Task A_pod_whose_secret_and_config_map_appear_later_starts_when_they_do()
    {
        var pod = Sleeper("late", "cat /s/token; echo; cat /c/script");
        pod.Spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "token", MountPath = "/s" }, new V1VolumeMount { Name = "scripts", MountPath = "/c" }];
        pod.Spec.Volumes =
        [
            new V1Volume { Name = "token", Secret = new V1SecretVolumeSource { SecretName = "job-token" } },
            new V1Volume { Name = "scripts", ConfigMap = new V1ConfigMapVolumeSource { Name = "job-scripts" } },
        ];
        await _client.CoreV1.CreateNamespacedPodAsync(pod, "default");
        await WaitForEventAsync("late", "FailedMount");

        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("job-token"), "default");
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "job-scripts" }, Data = new Dictionary<string, string> { ["script"] = "echo hi" } }, "default");

        var deadline = DateTime.UtcNow.AddSeconds(20);
        V1Pod current;
        while ((current = await _client.CoreV1.ReadNamespacedPodAsync("late", "default")).Status?.Phase is not ("Succeeded" or "Failed") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal("Succeeded", current.Status?.Phase);
        using var log = await _client.CoreV1.ReadNamespacedPodLogAsync("late", "default", container: "main");
        Assert.Equal("s3cr3t\necho hi", (await new StreamReader(log).ReadToEndAsync()).TrimEnd());
    }

    private async Task WaitForEventAsync(string pod, string reason)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var events = await _client.CoreV1.ListNamespacedEventAsync("default");
            if (events.Items.Any(e => e.InvolvedObject?.Name == pod && e.Reason == reason)) return;
            await Task.Delay(20);
        }
        throw new TimeoutException($"pod {pod} never had a {reason} event");
    }

    // Host processes whose command line is exactly the given one (this test's unique sleep length).
    private static async Task<List<int>> WaitForProcessesAsync(string commandLine, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var pids = Directory.EnumerateDirectories("/proc")
                .Select(Path.GetFileName)
                .Where(name => int.TryParse(name, out _))
                .Where(name =>
                {
                    try { return File.ReadAllText($"/proc/{name}/cmdline").Replace('\0', ' ').Trim() == commandLine; }
                    catch (IOException) { return false; }
                })
                .Select(name => int.Parse(name!))
                .ToList();
            if (pids.Count >= count || DateTime.UtcNow > deadline) return pids;
            await Task.Delay(25);
        }
    }
}
