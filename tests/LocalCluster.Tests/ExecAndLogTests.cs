using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using Scheduler.LocalCluster.Api;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

public sealed class ExecAndLogTests
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> Exec(TestCluster cluster, string pod, params string[] command)
    {
        string stdout = "", stderr = "";
        var exitCode = await cluster.Client.NamespacedPodExecAsync(pod, "default", "main", command, false, async (_, output, error) =>
        {
            var readOut = new StreamReader(output).ReadToEndAsync();
            var readErr = new StreamReader(error).ReadToEndAsync();
            stdout = await readOut;
            stderr = await readErr;
        }, CancellationToken.None);
        return (exitCode, stdout, stderr);
    }

    [Theory]
    [InlineData(new[] { "sh", "-c", "exit 0" }, 0, "", "")]
    [InlineData(new[] { "sh", "-c", "exit 3" }, 3, "", "")]
    [InlineData(new[] { "sh", "-c", "exit 255" }, 255, "", "")]
    [InlineData(new[] { "echo", "hello", "world" }, 0, "hello world\n", "")]
    [InlineData(new[] { "warn", "oops" }, 1, "", "oops\n")]
    public async Task Exec_returns_output_and_exit_code(string[] command, int exitCode, string stdout, string stderr)
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");

        var result = await Exec(cluster, "p", command);

        Assert.Equal((exitCode, stdout, stderr), result);
        Assert.Equal(1, cluster.Server.Requests.Count("get", "pods/exec"));
    }

    [Fact]
    public async Task Exec_runtime_refusals_surface_as_kubernetes_errors()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        var e = await Assert.ThrowsAsync<KubernetesException>(() => Exec(cluster, "p", "no-such-command"));
        Assert.Contains("unknown command", e.Message);
    }

    [Fact]
    public async Task Exec_v5_passes_stdin_and_closes_it_on_the_close_signal()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        var url = new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true&stdout=true&stderr=true");
        await socket.ConnectAsync(url, CancellationToken.None);
        Assert.Equal("v5.channel.k8s.io", socket.SubProtocol);

        await socket.SendAsync(new byte[] { 0 }.Concat("abc\n"u8.ToArray()).ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
        await socket.SendAsync(new byte[] { 255, 0 }, WebSocketMessageType.Binary, true, CancellationToken.None);

        var stdout = new StringBuilder();
        JsonNode? status = null;
        var buffer = new byte[4096];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close) break;
            if (buffer[0] == 1) stdout.Append(Encoding.UTF8.GetString(buffer, 1, result.Count - 1));
            if (buffer[0] == 3) status = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 1, result.Count - 1));
        }
        Assert.Equal("abc\n", stdout.ToString());
        Assert.Equal("Success", (string?)status!["status"]);
    }

    [Fact]
    public async Task Exec_output_written_faster_than_it_is_sent_gathers_into_fewer_messages_with_every_byte_in_order_before_the_status()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v4.channel.k8s.io");
        const int writes = 20_000;
        var url = new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=spew&command={writes}&stdout=true&stderr=true");
        await socket.ConnectAsync(url, CancellationToken.None);

        var stdout = new StringBuilder();
        var stdoutMessages = 0;
        var largest = 0;
        var afterStatus = 0;
        JsonNode? status = null;
        var buffer = new byte[4096];
        while (true)
        {
            var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                message.Write(buffer, 0, result.Count);
            } while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

            if (result.MessageType == WebSocketMessageType.Close) break;
            var bytes = message.ToArray();
            if (bytes[0] == 1)
            {
                stdoutMessages++;
                largest = Math.Max(largest, bytes.Length - 1);
                stdout.Append(Encoding.UTF8.GetString(bytes, 1, bytes.Length - 1));
                afterStatus += status is null ? 0 : 1;
            }

            if (bytes[0] == 3) status = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 1, bytes.Length - 1));
        }

        Assert.Equal(string.Concat(Enumerable.Range(0, writes).Select(i => $"chunk {i}\n")), stdout.ToString());
        Assert.Equal("Success", (string?)status!["status"]);
        Assert.Equal(0, afterStatus);
        Assert.True(stdoutMessages < writes / 4, $"{writes} writes went out as {stdoutMessages} messages");
        Assert.True(largest <= ExecSession.MaxMessageBytes, $"a message of {largest} bytes");
    }

    [Fact]
    public async Task A_large_output_goes_out_whole_and_in_order_in_messages_of_at_most_the_relay_limit()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v4.channel.k8s.io");
        const int size = 3 * 1024 * 1024 + 123;
        var url = new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=blob&command={size}&stdout=true&stderr=true");
        await socket.ConnectAsync(url, CancellationToken.None);

        var stdout = new MemoryStream();
        var sizes = new List<int>();
        JsonNode? status = null;
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                message.Write(buffer, 0, result.Count);
            } while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

            if (result.MessageType == WebSocketMessageType.Close) break;
            var bytes = message.ToArray();
            if (bytes[0] == 1 && bytes.Length > 1)
            {
                sizes.Add(bytes.Length - 1);
                stdout.Write(bytes, 1, bytes.Length - 1);
            }

            if (bytes[0] == 3) status = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 1, bytes.Length - 1));
        }

        var received = stdout.ToArray();
        Assert.Equal(size, received.Length);
        Assert.True(received.Select((b, i) => b == (byte)(i % 251)).All(ok => ok), "the bytes arrived out of order");
        Assert.Equal("Success", (string?)status!["status"]);
        // One write of megabytes is cut into messages of the relay's limit, never more.
        Assert.All(sizes, s => Assert.InRange(s, 1, ExecSession.MaxMessageBytes));
        Assert.Equal(ExecSession.MaxMessageBytes, sizes.Max());
    }

    [Fact]
    public async Task Exec_refuses_unsupported_subprotocols_and_bad_requests()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p", null, "a", "b"), "default");
        using var http = cluster.Http();

        using var socket = cluster.Socket();
        socket.Options.AddSubProtocol("base64.channel.k8s.io");
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(
            new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true&container=a"), CancellationToken.None));
        Assert.NotNull(refused);

        var noContainer = await http.GetAsync("/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true");
        Assert.Equal(HttpStatusCode.BadRequest, noContainer.StatusCode);
        Assert.Contains("choose one of: [a b]", await noContainer.Content.ReadAsStringAsync());

        var noCommand = await http.GetAsync("/api/v1/namespaces/default/pods/p/exec?stdout=true&container=a");
        Assert.Equal(HttpStatusCode.BadRequest, noCommand.StatusCode);

        var missingPod = await http.GetAsync("/api/v1/namespaces/default/pods/ghost/exec?command=ls&stdout=true");
        Assert.Equal(HttpStatusCode.NotFound, missingPod.StatusCode);
    }

    [Fact]
    public async Task Logs_are_served_with_tail_and_timestamps()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");

        using var all = new StreamReader(await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default"));
        Assert.Equal("main: line 1\nmain: line 2\nmain: line 3\n", await all.ReadToEndAsync());

        using var tail = new StreamReader(await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", tailLines: 1, timestamps: true));
        Assert.Equal("2026-01-01T00:00:00.000000000Z main: line 3\n", await tail.ReadToEndAsync());

        using var limited = new StreamReader(await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", limitBytes: 6));
        Assert.Equal("main: ", await limited.ReadToEndAsync());
    }

    [Fact]
    public async Task Logs_need_a_container_name_when_the_pod_has_several()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p", null, "build", "helper"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default"));
        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        Assert.Contains("a container name must be specified for pod p, choose one of: [build helper]", e.Response.Content);

        var wrong = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", container: "nope"));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.Response.StatusCode);

        using var helper = new StreamReader(await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", container: "helper"));
        Assert.StartsWith("helper: line 1", await helper.ReadToEndAsync());
    }

    [Fact]
    public async Task Log_refusals_by_the_runtime_become_statuses()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        cluster.Runtime.LogRefusal = "container \"main\" in pod \"p\" is waiting to start: ContainerCreating";

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", follow: true));
        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        var status = JsonNode.Parse(e.Response.Content)!;
        Assert.Equal("BadRequest", (string?)status["reason"]);
        Assert.Equal(cluster.Runtime.LogRefusal, (string?)status["message"]);

        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReadNamespacedPodLogAsync("ghost", "default"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Followed_logs_stream_as_they_are_written()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stream = await cluster.Client.CoreV1.ReadNamespacedPodLogAsync("p", "default", follow: true, cancellationToken: cancel.Token);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (lines.Count < 6 && await reader.ReadLineAsync(cancel.Token) is { } line) lines.Add(line);
        Assert.Equal(["main: line 1", "main: line 2", "main: line 3", "follow 0", "follow 1", "follow 2"], lines);
    }
}
