using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>Exec output through the API server from real processes: large outputs whole, the channels apart, the status
/// after the last byte, and a client that stops reading holds the command back instead of growing the server.</summary>
public sealed class ExecOutputTransportTests
{
    private static async Task<TestCluster> StartWithPodAsync()
    {
        var cluster = await TestCluster.StartAsync(o => o with { RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host) });
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p" },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never", TerminationGracePeriodSeconds = 0,
                Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sleep", "300"] }],
            },
        }, "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        return cluster;
    }

    private static async Task<ClientWebSocket> ExecAsync(TestCluster cluster, string script)
    {
        var socket = cluster.Socket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        var url = new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}/api/v1/namespaces/default/pods/p/exec?" +
                          $"command=sh&command=-c&command={Uri.EscapeDataString(script)}&stdout=true&stderr=true");
        await socket.ConnectAsync(url, CancellationToken.None);
        return socket;
    }

    /// <summary>Reads the exec to its end: each channel's bytes, the status, and whether any output came after the status.</summary>
    private sealed class Received
    {
        public MemoryStream Stdout { get; } = new();
        public MemoryStream Stderr { get; } = new();
        public JsonNode? Status { get; private set; }
        public bool OutputAfterStatus { get; private set; }

        public async Task ReadAsync(WebSocket socket, Func<Task>? afterFirstOutput = null)
        {
            var buffer = new byte[128 * 1024];
            var message = new MemoryStream();
            while (true)
            {
                message.SetLength(0);
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close) return;
                    message.Write(buffer, 0, result.Count);
                } while (!result.EndOfMessage);

                var data = message.GetBuffer().AsSpan(0, (int)message.Length);
                if (data.Length == 0) continue;
                switch (data[0])
                {
                    case 1 or 2:
                        if (Status is not null) OutputAfterStatus = true;
                        (data[0] == 1 ? Stdout : Stderr).Write(data[1..]);
                        if (afterFirstOutput is { } pause)
                        {
                            afterFirstOutput = null;
                            await pause();
                        }

                        break;
                    case 3:
                        Status = JsonNode.Parse(Encoding.UTF8.GetString(data[1..]));
                        break;
                }
            }
        }
    }

    [Fact]
    public async Task Megabytes_on_stdout_and_stderr_arrive_whole_in_order_on_their_channels_before_the_status()
    {
        await using var cluster = await StartWithPodAsync();
        using var socket = await ExecAsync(cluster, "seq 1 300000 & seq 1 300000 | sed 's/^/e/' >&2; wait");
        var received = new Received();

        await received.ReadAsync(socket);

        Assert.Equal(string.Concat(Enumerable.Range(1, 300000).Select(i => $"{i}\n")), Encoding.ASCII.GetString(received.Stdout.ToArray()));
        Assert.Equal(string.Concat(Enumerable.Range(1, 300000).Select(i => $"e{i}\n")), Encoding.ASCII.GetString(received.Stderr.ToArray()));
        Assert.Equal("Success", (string?)received.Status?["status"]);
        Assert.False(received.OutputAfterStatus);
    }

    [Fact]
    public async Task A_client_that_stops_reading_holds_the_command_back_and_the_server_to_its_bound()
    {
        // 256 MiB of output against a client that stops after its first message: the kernel's socket buffers and the
        // channel's bounded pipe fill, then the command waits. The server's memory stays near where it was (it would
        // grow by up to the whole output if it buffered without bound), and every byte still arrives, then the status.
        const long total = 256L * 1024 * 1024;
        await using var cluster = await StartWithPodAsync();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var socket = await ExecAsync(cluster, $"head -c {total} /dev/zero; echo done >&2");
        var received = new Received();
        long heldBack = 0, grown = 0;

        await received.ReadAsync(socket, async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            grown = GC.GetTotalMemory(forceFullCollection: true) - before;
            heldBack = total - received.Stdout.Length;
        });

        Assert.True(heldBack > total / 2, $"only {heldBack} bytes were still to come after the pause: the command was not held back");
        Assert.True(grown < 64L * 1024 * 1024, $"the heap grew by {grown} bytes while the client was not reading");
        Assert.Equal(total, received.Stdout.Length);
        Assert.Equal("done\n", Encoding.ASCII.GetString(received.Stderr.ToArray()));
        Assert.Equal("Success", (string?)received.Status?["status"]);
        Assert.False(received.OutputAfterStatus);
    }
}
