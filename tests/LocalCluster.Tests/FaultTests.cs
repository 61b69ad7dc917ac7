using System.Net;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

public sealed class FaultTests
{
    private static async Task<List<int>> StatusCodes(HttpClient http, int count)
    {
        var codes = new List<int>();
        for (var i = 0; i < count; i++)
            codes.Add((int)(await http.GetAsync("/api/v1/namespaces/default/pods")).StatusCode);
        return codes;
    }

    [Fact]
    public async Task Injected_failures_follow_the_rates_and_repeat_with_the_seed()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = new HttpClient { BaseAddress = cluster.Server.Url };
        var faults = new FaultSettings { ServerErrorRate = 0.2, ThrottleRate = 0.3, Seed = 42 };

        cluster.Server.Faults = faults;
        var first = await StatusCodes(http, 400);
        cluster.Server.Faults = faults;
        var second = await StatusCodes(http, 400);

        Assert.Equal(first, second);
        Assert.InRange(first.Count(c => c == 500), 50, 110);
        Assert.InRange(first.Count(c => c == 429), 85, 155);
        Assert.Equal(400, first.Count(c => c is 200 or 429 or 500));

        cluster.Server.Faults = FaultSettings.None;
        Assert.All(await StatusCodes(http, 20), c => Assert.Equal(200, c));
    }

    [Fact]
    public async Task Throttling_answers_429_with_Retry_After_and_a_status()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with { Faults = new FaultSettings { ThrottleRate = 1, RetryAfterSeconds = 7 } });
        using var http = new HttpClient { BaseAddress = cluster.Server.Url };
        var response = await http.GetAsync("/api/v1/namespaces/default/pods");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("7", response.Headers.GetValues("Retry-After").Single());
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("TooManyRequests", (string?)status["reason"]);
        Assert.Equal(7, (int)status["details"]!["retryAfterSeconds"]!);

        // Discovery and health stay up so clients can still connect.
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ListNamespacedPodAsync("default"));
        Assert.Equal(HttpStatusCode.TooManyRequests, error.Response.StatusCode);
    }

    [Fact]
    public async Task Latency_delays_every_resource_request()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Server.Faults = new FaultSettings { Latency = TimeSpan.FromMilliseconds(300) };
        var started = DateTime.UtcNow;
        await cluster.Client.CoreV1.ListNamespacedPodAsync("default");
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(290));
    }

    [Fact]
    public async Task Watches_end_early_after_N_events()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        for (var i = 0; i < 5; i++) await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod($"p{i}"), "default");
        cluster.Server.Faults = new FaultSettings { WatchMaxEvents = 2 };
        using var http = new HttpClient { BaseAddress = cluster.Server.Url };
        var body = await http.GetStringAsync("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=30");
        Assert.Equal(2, body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Watches_end_early_after_a_duration()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Server.Faults = new FaultSettings { WatchMaxDuration = TimeSpan.FromMilliseconds(300) };
        using var http = new HttpClient { BaseAddress = cluster.Server.Url };
        var started = DateTime.UtcNow;
        await http.GetStringAsync("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=30");
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Exec_connections_drop_after_N_bytes()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Server.Faults = new FaultSettings { ExecDropAfterBytes = 30 };

        long received = 0;
        var failure = await Record.ExceptionAsync(() => cluster.Client.NamespacedPodExecAsync("p", "default", "main", ["spew", "100"], false,
            async (_, stdout, _) =>
            {
                var buffer = new byte[1024];
                int n;
                while ((n = await stdout.ReadAsync(buffer)) > 0) received += n;
            }, CancellationToken.None));

        // The connection ends without a status: the client sees an error, never exit code 0.
        Assert.NotNull(failure);
        Assert.True(received <= 30, $"received {received} bytes");
    }

    [Fact]
    public async Task Followed_logs_drop_after_N_bytes()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Server.Faults = new FaultSettings { LogFollowDropAfterBytes = 20 };

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        // The drop may reach the client while it reads the headers or the body.
        var failure = await Record.ExceptionAsync(async () =>
        {
            var stream = await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", follow: true, cancellationToken: cancel.Token);
            await stream.CopyToAsync(received, cancel.Token);
        });
        Assert.False(cancel.IsCancellationRequested, "the stream should have been dropped by the server");
        Assert.True(received.Length <= 20, $"received {received.Length} bytes");
        Assert.True(failure is null or IOException or HttpRequestException, failure?.ToString());
    }

    [Fact]
    public async Task Exec_connections_drop_after_a_duration()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Server.Faults = new FaultSettings { ExecDropAfter = TimeSpan.FromMilliseconds(300) };

        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true&stdout=true"), CancellationToken.None);
        var started = DateTime.UtcNow;
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // stdin stays open, so only the injected drop can end this exec.
        var ended = await Record.ExceptionAsync(async () =>
        {
            var result = await socket.ReceiveAsync(new byte[1024], guard.Token);
            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        });
        Assert.False(guard.IsCancellationRequested, "the exec was never dropped");
        Assert.True(ended is null or WebSocketException, ended?.ToString());
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Followed_logs_drop_after_a_duration()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Server.Faults = new FaultSettings { LogFollowDropAfter = TimeSpan.FromMilliseconds(300) };

        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var started = DateTime.UtcNow;
        await Record.ExceptionAsync(async () =>
        {
            var stream = await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", follow: true, cancellationToken: guard.Token);
            await stream.CopyToAsync(Stream.Null, guard.Token);
        });
        Assert.False(guard.IsCancellationRequested, "the followed log was never dropped");
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    }
}
