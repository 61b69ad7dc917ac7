using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>postStart and preStop hooks run as kubelet runs them, on real sandboxed containers.</summary>
public sealed class LifecycleHookTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "hook-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;
    private string _hostDir = "";

    public Task InitializeAsync()
    {
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host);
        _hostDir = Directory.CreateDirectory(Path.Combine(_stateDir, "host-out")).FullName;
        // A hostPath is left as it is on the host: writable by the pods' non-root users because the test makes it so.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_hostDir, (UnixFileMode)0x1FF);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private V1Pod HookPod(string name, string script, V1Lifecycle lifecycle, long grace = 2)
    {
        var container = Shell("main", script, Mount("out", "/out"));
        container.Lifecycle = lifecycle;
        var pod = Pod(name, container).WithVolumes(new V1Volume { Name = "out", HostPath = new V1HostPathVolumeSource { Path = _hostDir } });
        pod.Spec.TerminationGracePeriodSeconds = grace;
        return pod;
    }

    private static V1LifecycleHandler Exec(string script) => new() { Exec = new V1ExecAction { Command = ["sh", "-c", script] } };

    private async Task<string> LogsAsync(string pod)
    {
        using var output = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _runtime.StreamLogAsync("ci", pod, new PodLogOptions(), output, timeout.Token);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Fact]
    public async Task A_postStart_exec_hook_writes_a_file_the_container_then_reads()
    {
        _runtime.PodCreated(HookPod("post", "while [ ! -f /out/hooked ]; do sleep 0.05; done; cat /out/hooked",
            new V1Lifecycle { PostStart = Exec("echo from-hook > /out/hooked.tmp && mv /out/hooked.tmp /out/hooked") }));

        var final = await _host.WaitForStatusAsync("post", s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 20);

        Assert.Equal("Succeeded", final.Phase);
        Assert.Equal("from-hook\n", await LogsAsync("post"));
        Assert.DoesNotContain(_host.Events("post"), e => e.Reason == "FailedPostStartHook");
    }

    [Fact]
    public async Task The_container_is_not_reported_running_until_its_postStart_hook_ends()
    {
        _runtime.PodCreated(HookPod("slow-hook", "sleep 30", new V1Lifecycle { PostStart = Exec("sleep 1; touch /out/slow-done") }));

        var running = await _host.WaitForReportedStatusAsync("slow-hook", s => s.Phase == "Running", timeoutSeconds: 20);

        // Only once the hook has finished may the pod be Running (a runner execs into it as soon as it is).
        Assert.True(File.Exists(Path.Combine(_hostDir, "slow-done")));
        Assert.True(running.Container("main").Ready);
        var before = _host.Statuses("slow-hook").TakeWhile(s => s.Phase != "Running").ToList();
        Assert.All(before, s => Assert.Null(s.ContainerStatuses?.FirstOrDefault()?.State?.Running));
    }

    [Fact]
    public async Task A_failing_postStart_hook_gives_the_event_and_kills_the_container()
    {
        _runtime.PodCreated(HookPod("post-fails", "sleep 30", new V1Lifecycle { PostStart = Exec("echo broken hook; exit 3") }));

        var failed = await _host.WaitForEventAsync("post-fails", "FailedPostStartHook", timeoutSeconds: 20);
        var final = await _host.WaitForStatusAsync("post-fails", s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 10);

        Assert.Equal("Warning", failed.Type);
        Assert.Contains("exited with 3", failed.Message);
        Assert.Contains("broken hook", failed.Message);
        Assert.Equal("spec.containers{main}", failed.FieldPath);
        Assert.Equal("Failed", final.Phase);
        Assert.NotEqual(0, final.Container("main").State.Terminated.ExitCode);
    }

    [Fact]
    public async Task A_tcpSocket_hook_fails_at_runtime_as_on_kubelet()
    {
        var lifecycle = new V1Lifecycle { PostStart = new V1LifecycleHandler { TcpSocket = new V1TCPSocketAction { Port = 1 } } };
        _runtime.PodCreated(HookPod("tcp-hook", "sleep 30", lifecycle));

        var failed = await _host.WaitForEventAsync("tcp-hook", "FailedPostStartHook", timeoutSeconds: 20);

        Assert.Contains("invalid handler", failed.Message);
    }

    [Fact]
    public async Task A_postStart_httpGet_hook_calls_the_path_with_its_headers_and_a_500_fails_it()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var requests = new List<string>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync();
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var read = await stream.ReadAsync(buffer);
                var request = Encoding.ASCII.GetString(buffer, 0, read);
                lock (requests) requests.Add(request);
                var status = request.StartsWith("GET /broken", StringComparison.Ordinal) ? "500 Internal Server Error" : "200 OK";
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
            }
        });
        V1Lifecycle Get(string path) => new()
        {
            PostStart = new V1LifecycleHandler
            {
                HttpGet = new V1HTTPGetAction { Port = port, Path = path, HttpHeaders = [new V1HTTPHeader { Name = "X-Hook", Value = "started" }] },
            },
        };

        _runtime.PodCreated(HookPod("http-ok", "sleep 30", Get("/ready")));
        _runtime.PodCreated(HookPod("http-broken", "sleep 30", Get("/broken")));

        await _host.WaitForStatusAsync("http-ok", s => s.Phase == "Running", timeoutSeconds: 20);
        var failed = await _host.WaitForEventAsync("http-broken", "FailedPostStartHook", timeoutSeconds: 20);

        Assert.Contains("500", failed.Message);
        Assert.DoesNotContain(_host.Events("http-ok"), e => e.Reason == "FailedPostStartHook");
        lock (requests)
        {
            var ready = Assert.Single(requests, r => r.StartsWith("GET /ready ", StringComparison.Ordinal));
            Assert.Contains("X-Hook: started", ready);
        }
    }

    [Theory]
    [InlineData("closed-port", "127.0.0.1", "1")]
    [InlineData("no-such-host", "no-such-host.invalid", "80")]
    [InlineData("unknown-port-name", "", "metrics")]
    public async Task An_httpGet_hook_that_cannot_connect_fails_the_hook_not_the_node(string name, string host, string port)
    {
        var action = new V1HTTPGetAction { Host = host, Port = int.TryParse(port, out var number) ? number : port, Path = "x" };
        _runtime.PodCreated(HookPod(name, "sleep 30", new V1Lifecycle { PostStart = new V1LifecycleHandler { HttpGet = action } }));

        var failed = await _host.WaitForEventAsync(name, "FailedPostStartHook", timeoutSeconds: 20);
        var final = await _host.WaitForStatusAsync(name, s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 10);

        Assert.StartsWith("HTTP lifecycle hook (x)", failed.Message, StringComparison.Ordinal);
        Assert.Equal("Failed", final.Phase);
    }

    [Fact]
    public async Task A_preStop_hook_runs_on_delete_before_the_container_stops()
    {
        // The container ends on SIGTERM: the hook's file proves it ran while the container was still there.
        var pod = HookPod("pre", "trap 'echo term >> /out/order; exit 0' TERM; : > /out/trap-set; while true; do sleep 0.1; done",
            new V1Lifecycle { PreStop = Exec("echo prestop >> /out/order") }, grace: 10);
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("pre", s => s.Phase == "Running", timeoutSeconds: 20);
        // Running is reported once the container's process has started, which may be before its shell set the trap.
        for (var i = 0; i < 400 && !File.Exists(Path.Combine(_hostDir, "trap-set")); i++) await Task.Delay(25);
        Assert.True(File.Exists(Path.Combine(_hostDir, "trap-set")), "the container never set its trap");

        await _runtime.KillPodAsync("ci", "pre", pod.Metadata.Uid, 10);

        Assert.Equal("prestop\nterm\n", File.ReadAllText(Path.Combine(_hostDir, "order")));
        Assert.DoesNotContain(_host.Events("pre"), e => e.Reason == "FailedPreStopHook");
    }

    [Fact]
    public async Task A_preStop_hook_that_outlives_the_grace_period_is_cut_short_with_the_event()
    {
        var pod = HookPod("pre-hangs", "sleep 60", new V1Lifecycle { PreStop = Exec("sleep 60") }, grace: 1);
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("pre-hangs", s => s.Phase == "Running", timeoutSeconds: 20);
        var started = DateTime.UtcNow;

        await _runtime.KillPodAsync("ci", "pre-hangs", pod.Metadata.Uid, 1);

        // 1 s for the hook, kubelet's 2 s minimum for SIGTERM, then SIGKILL; never the hook's 60 s.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
        var failed = Assert.Single(_host.Events("pre-hangs"), e => e.Reason == "FailedPreStopHook");
        Assert.Contains("grace period", failed.Message);
    }

    [Fact]
    public async Task A_failing_preStop_hook_gives_the_event_and_the_pod_is_still_deleted()
    {
        var pod = HookPod("pre-fails", "sleep 60", new V1Lifecycle { PreStop = Exec("exit 7") });
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("pre-fails", s => s.Phase == "Running", timeoutSeconds: 20);

        await _runtime.KillPodAsync("ci", "pre-fails", pod.Metadata.Uid, 2);

        var failed = Assert.Single(_host.Events("pre-fails"), e => e.Reason == "FailedPreStopHook");
        Assert.Contains("exited with 7", failed.Message);
        Assert.False(Directory.Exists(Path.Combine(_stateDir, "pods", pod.Metadata.Uid)));
    }
}
