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
        using var http = cluster.Http();
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
        using var http = cluster.Http();
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
        using var http = cluster.Http();
        var body = await http.GetStringAsync("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=30");
        Assert.Equal(2, body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Watches_end_early_after_a_duration()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Server.Faults = new FaultSettings { WatchMaxDuration = TimeSpan.FromMilliseconds(300) };
        using var http = cluster.Http();
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

        // The connection ends without a status: the client sees an error, never exit code 0. What fits in the budget is sent
        // first, so that a client resuming by offset can make progress even when one write is larger than the budget.
        Assert.NotNull(failure);
        Assert.InRange(received, 1, 30);
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

        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        // The server's clock starts when it accepts, so ours starts before connecting (a slow connect is not an early drop).
        var started = DateTime.UtcNow;
        await socket.ConnectAsync(new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true&stdout=true"), CancellationToken.None);
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

    [Fact]
    public async Task Hangs_are_drawn_with_the_other_faults_and_repeat_with_the_seed()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        // A hang this short ends in its 504 at once, so the draw can be counted from the answers.
        var faults = new FaultSettings { ServerErrorRate = 0.1, ThrottleRate = 0.1, HangRate = 0.2, HangFor = TimeSpan.FromMilliseconds(1), Seed = 7 };

        cluster.Server.Faults = faults;
        var first = await StatusCodes(http, 400);
        cluster.Server.Faults = faults;
        var second = await StatusCodes(http, 400);

        Assert.Equal(first, second);
        Assert.InRange(first.Count(c => c == 504), 55, 110);
        Assert.InRange(first.Count(c => c == 500), 20, 65);
        Assert.InRange(first.Count(c => c == 429), 20, 65);
        Assert.Equal(400, first.Count(c => c is 200 or 429 or 500 or 504));
        Assert.Equal(2 * first.Count(c => c == 504), cluster.Server.InjectedFaults.Hangs);
        Assert.Equal(2 * first.Count(c => c == 500), cluster.Server.InjectedFaults.ServerErrors);
        Assert.Equal(2 * first.Count(c => c == 429), cluster.Server.InjectedFaults.Throttles);
    }

    [Fact]
    public async Task A_hung_request_outlives_the_client_timeout_and_is_never_served()
    {
        await using var cluster = await TestCluster.StartAsync();
        var seen = new List<string>();
        cluster.Server.InjectedFaults.Observer = fault => { lock (seen) seen.Add(fault); };
        using var http = cluster.Http(TimeSpan.FromMilliseconds(500));
        // The TLS handshake happens now, not within the 500 ms the held request is given (a loaded machine is slow at it).
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        cluster.Server.Faults = new FaultSettings { HangRate = 1, HangFor = TimeSpan.FromMinutes(5) };

        var started = DateTime.UtcNow;
        using var create = new StringContent(
            """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"held"},"spec":{"containers":[{"name":"main","image":"busybox"}]}}""",
            System.Text.Encoding.UTF8, "application/json");
        await Assert.ThrowsAnyAsync<TaskCanceledException>(() => http.PostAsync("/api/v1/namespaces/default/pods", create));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(450), TimeSpan.FromSeconds(10));

        // The hang comes before the request is served: the create never happens, however long the server holds it.
        cluster.Server.Faults = FaultSettings.None;
        Assert.Empty((await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Items);
        Assert.Equal(1, cluster.Server.InjectedFaults.Hangs);
        lock (seen) Assert.Equal(["hang 300s POST /api/v1/namespaces/default/pods"], seen);
    }

    [Fact]
    public async Task A_hang_ends_in_a_504_Timeout_status_for_a_client_that_waits()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with { Faults = new FaultSettings { HangRate = 1, HangFor = TimeSpan.FromMilliseconds(400) } });
        using var http = cluster.Http();
        var started = DateTime.UtcNow;
        var response = await http.GetAsync("/api/v1/namespaces/default/pods");
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(390));
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("Timeout", (string?)status["reason"]);
        Assert.Equal(504, (int)status["code"]!);

        // Health and discovery are never held, so a client can tell a stalled API from a dead server.
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1")).StatusCode);
    }

    [Fact]
    public async Task Exec_upgrades_can_hang_too()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Server.Faults = new FaultSettings { HangRate = 1, HangFor = TimeSpan.FromMinutes(5) };

        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        // Nothing answers the handshake: only the client's own deadline ends the wait.
        await Assert.ThrowsAnyAsync<Exception>(() => socket.ConnectAsync(
            new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=true&stdout=true"), timeout.Token));
        Assert.True(timeout.IsCancellationRequested);
        Assert.Equal(1, cluster.Server.InjectedFaults.Hangs);
    }
}
