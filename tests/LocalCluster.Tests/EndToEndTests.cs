using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Xunit.Abstractions;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>The API server with the real runtime: pods are sandboxed host processes.</summary>
public sealed class EndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "local-cluster-e2e", Guid.NewGuid().ToString("N"));
    private LocalClusterServer _server = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
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
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private static V1Pod ShellPod(string name, string restartPolicy, params (string Name, string Script)[] containers) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            RestartPolicy = restartPolicy,
            TerminationGracePeriodSeconds = 2,
            Containers = containers.Select(c => new V1Container
            {
                Name = c.Name, Image = "alpine:3", Command = ["sh", "-c", c.Script],
                VolumeMounts = [new V1VolumeMount { Name = "shared", MountPath = "/shared" }],
            }).ToList(),
            Volumes = [new V1Volume { Name = "shared", EmptyDir = new V1EmptyDirVolumeSource() }],
        },
    };

    /// <summary>Host processes whose command line carries the marker.</summary>
    private static List<int> ProcessesWith(string marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(marker, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }
        return found;
    }

    [Fact]
    public async Task Two_containers_share_an_emptyDir_and_the_watch_shows_Pending_Running_Succeeded()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var mark = (await _client.CoreV1.ListNamespacedPodAsync("default")).Metadata.ResourceVersion;
        var phases = Task.Run(async () =>
        {
            var seen = new List<string>();
            await foreach (var (_, pod) in _client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: mark, cancellationToken: timeout.Token))
            {
                if (seen.LastOrDefault() != pod.Status.Phase) seen.Add(pod.Status.Phase);
                if (pod.Status.Phase is "Succeeded" or "Failed") break;
            }
            return seen;
        });

        await _client.CoreV1.CreateNamespacedPodAsync(ShellPod("pair", "Never",
            ("writer", "echo shared-payload > /shared/msg; sleep 0.5"),
            ("reader", "for i in $(seq 1 100); do [ -f /shared/msg ] && break; sleep 0.1; done; cat /shared/msg")), "default");

        Assert.Equal(["Pending", "Running", "Succeeded"], await phases);
        using var log = new StreamReader(await _client.CoreV1.ReadNamespacedPodLogAsync("pair", "default", container: "reader"));
        Assert.Equal("shared-payload\n", await log.ReadToEndAsync());
    }

    [Theory]
    [InlineData("exit 0", 0)]
    [InlineData("exit 3", 3)]
    [InlineData("echo out; echo err >&2; exit 7", 7)]
    public async Task Exec_runs_in_the_container_and_returns_its_exit_code(string script, int exitCode)
    {
        await _client.CoreV1.CreateNamespacedPodAsync(ShellPod("exec", "Never", ("main", "echo ready > /shared/state; sleep 60")), "default");
        await WaitForPhase(_client, "exec", "Running");
        string stdout = "", stderr = "";
        var code = await _client.NamespacedPodExecAsync("exec", "default", "main", ["sh", "-c", "for i in $(seq 1 100); do [ -s /shared/state ] && break; sleep 0.05; done; cat /shared/state; " + script], false,
            async (_, o, e) =>
            {
                var readOut = new StreamReader(o).ReadToEndAsync();
                var readErr = new StreamReader(e).ReadToEndAsync();
                stdout = await readOut;
                stderr = await readErr;
            }, CancellationToken.None);
        Assert.Equal(exitCode, code);
        Assert.StartsWith("ready\n", stdout);
        Assert.Equal(script.Contains("err") ? "err\n" : "", stderr);
    }

    [Fact]
    public async Task Deleting_a_pod_leaves_no_process_behind()
    {
        var marker = $"sleep {3000 + Random.Shared.Next(1000)}";
        var pod = ShellPod("sleeper", "Always", ("main", $"trap 'exit 0' TERM; {marker} & wait"));
        await _client.CoreV1.CreateNamespacedPodAsync(pod, "default");
        await WaitForPhase(_client, "sleeper", "Running");
        for (var i = 0; i < 100 && ProcessesWith(marker).Count == 0; i++) await Task.Delay(50);
        Assert.NotEmpty(ProcessesWith(marker));

        await _client.CoreV1.DeleteNamespacedPodAsync("sleeper", "default");
        await WaitUntilGone(_client, "sleeper");

        Assert.Empty(ProcessesWith(marker));
    }

    [Fact]
    public async Task Kubectl_drives_real_processes()
    {
        var kubectl = Kubectl.Find();
        if (kubectl is null)
        {
            output.WriteLine("kubectl is not on PATH; nothing to drive");
            return;
        }
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: real
            spec:
              terminationGracePeriodSeconds: 2
              containers:
              - name: main
                image: alpine:3
                command: ["sh", "-c", "echo hello from a process; sleep 120"]
            """;
        var config = _server.KubeconfigPath;
        async Task<Kubectl.Result> Run(string? stdin, params string[] args)
        {
            var result = await Kubectl.RunAsync(kubectl, config, stdin, args);
            output.WriteLine($"kubectl {string.Join(' ', args)}\n{result}");
            return result;
        }

        Assert.Equal(0, (await Run(yaml, "apply", "-f", "-")).ExitCode);
        Assert.Equal(0, (await Run(null, "wait", "--for=condition=Ready", "pod/real", "--timeout=30s")).ExitCode);
        var get = await Run(null, "get", "pod", "real", "-o", "json");
        Assert.Equal("Running", (string?)JsonNode.Parse(get.Stdout)!["status"]!["phase"]);

        var logs = await Run(null, "logs", "real");
        Assert.Equal("hello from a process\n", logs.Stdout);

        var exec = await Run(null, "exec", "real", "--", "sh", "-c", "echo inside; exit 3");
        Assert.Equal(3, exec.ExitCode);
        Assert.Equal("inside\n", exec.Stdout);

        var cat = await Run("typed input\n", "exec", "-i", "real", "--", "cat");
        Assert.Equal(0, cat.ExitCode);
        Assert.Equal("typed input\n", cat.Stdout);

        var delete = await Run(null, "delete", "pod", "real", "--timeout=30s");
        Assert.Equal(0, delete.ExitCode);
        Assert.Empty(ProcessesWith("echo hello from a process"));
        var describeGone = await Run(null, "get", "pod", "real");
        Assert.Contains("not found", describeGone.Stderr);
    }

    [Fact]
    public async Task Missing_images_show_as_ErrImagePull_in_status_and_events()
    {
        await using var server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = Path.Combine(_stateDir, "missing"),
            Node = new NodeSettings { MissingImages = ["registry.example/*"] },
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        using var client = new Kubernetes(server.ClientConfiguration());
        var pod = ShellPod("pull", "Never", ("main", "true"));
        pod.Spec.Containers[0].Image = "registry.example/nothing:1";
        await client.CoreV1.CreateNamespacedPodAsync(pod, "default");

        V1Pod current = null!;
        for (var i = 0; i < 200; i++)
        {
            current = await client.CoreV1.ReadNamespacedPodAsync("pull", "default");
            if (current.Status.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason is "ErrImagePull" or "ImagePullBackOff") break;
            await Task.Delay(25);
        }
        Assert.Contains(current.Status.ContainerStatuses![0].State.Waiting.Reason, new[] { "ErrImagePull", "ImagePullBackOff" });
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=pull");
        Assert.Contains(events.Items, e => e.Type == "Warning" && e.Message.Contains("ErrImagePull", StringComparison.Ordinal));
    }
}
