using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Scheduler.Actors.Execution;
using Scheduler.Kubernetes;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The exec channel protocol over a real WebSocket pair on loopback TCP: what ends a command and what does not.</summary>
public sealed class ExecChannelsTests : IAsyncLifetime
{
    private const string Success = "{\"kind\":\"Status\",\"status\":\"Success\"}";
    private TcpClient _clientTcp = null!;
    private TcpClient _serverTcp = null!;
    private WebSocket _client = null!;
    private WebSocket _server = null!;

    public async Task InitializeAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _clientTcp = new TcpClient();
        var connecting = _clientTcp.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        _serverTcp = await listener.AcceptTcpClientAsync();
        await connecting;
        listener.Stop();
        _client = WebSocket.CreateFromStream(_clientTcp.GetStream(), new WebSocketCreationOptions { IsServer = false });
        _server = WebSocket.CreateFromStream(_serverTcp.GetStream(), new WebSocketCreationOptions { IsServer = true });
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        _server.Dispose();
        _clientTcp.Dispose();
        _serverTcp.Dispose();
        return Task.CompletedTask;
    }

    private Task SendAsync(byte channel, string text, bool endOfMessage = true) =>
        SendRawAsync([channel, .. Encoding.UTF8.GetBytes(text)], endOfMessage);

    private async Task SendRawAsync(byte[] data, bool endOfMessage = true) =>
        await _server.SendAsync(data, WebSocketMessageType.Binary, endOfMessage, CancellationToken.None);

    private async Task CloseAsync() => await _server.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);

    // The connection breaks as a network drop does: no close frame.
    private void Drop() => _serverTcp.Client.Close(0);

    private async Task<(ExecChannels.Outcome Outcome, string Stdout)> ReadAsync()
    {
        var stdout = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var outcome = await ExecChannels.ReadAsync(_client, chunk =>
        {
            stdout.Append(Encoding.UTF8.GetString(chunk.Span));
            return Task.CompletedTask;
        }, timeout.Token);
        return (outcome, stdout.ToString());
    }

    [Fact]
    public async Task Stdout_is_handed_on_stderr_dropped_and_the_status_ends_the_command()
    {
        await SendRawAsync([1]); // the channel-only frames a server sends when the streams open
        await SendRawAsync([3]);
        await SendAsync(1, "hello ");
        await SendAsync(2, "on stderr");
        await SendAsync(1, "world");
        await SendAsync(3, Success);
        await CloseAsync();

        var (outcome, stdout) = await ReadAsync();

        Assert.Equal("hello world", stdout);
        Assert.Equal(0, KubernetesGateway.ExitCodeOf(outcome.Status!));
        Assert.Null(outcome.Dropped);
    }

    [Fact]
    public async Task A_message_larger_than_the_buffer_arrives_whole_and_its_parts_carry_no_channel_byte()
    {
        var big = new string('x', ExecChannels.BufferSize * 3 + 17);
        await SendAsync(1, big);
        await SendAsync(3, "{\"kind\":\"Status\",", endOfMessage: false);
        await SendRawAsync(Encoding.UTF8.GetBytes("\"status\":\"Success\"}"));
        await CloseAsync();

        var (outcome, stdout) = await ReadAsync();

        Assert.Equal(big, stdout);
        Assert.Equal(0, KubernetesGateway.ExitCodeOf(outcome.Status!));
    }

    [Fact]
    public async Task Streaming_output_moves_to_the_larger_buffer_so_each_usual_message_is_one_callback_and_no_byte_is_lost()
    {
        // The embedded cluster's relay sends what a container writes in 8 KiB reads, each behind its channel byte.
        var messages = Enumerable.Range(0, 6).Select(i => new string((char)('a' + i), ExecChannels.BufferSize)).ToList();
        foreach (var message in messages)
        {
            await SendAsync(1, message);
        }

        await SendAsync(3, Success);
        await CloseAsync();

        var chunks = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var outcome = await ExecChannels.ReadAsync(_client, chunk =>
        {
            chunks.Add(Encoding.UTF8.GetString(chunk.Span));
            return Task.CompletedTask;
        }, timeout.Token);

        Assert.Equal(string.Concat(messages), string.Concat(chunks));
        // The first message fills the small buffer (two reads); every later one arrives whole in the larger buffer.
        Assert.Equal(messages.Count + 1, chunks.Count);
        Assert.Equal(messages.Skip(1), chunks.Skip(2));
        Assert.Equal(0, KubernetesGateway.ExitCodeOf(outcome.Status!));
    }

    [Fact]
    public async Task A_full_relay_message_is_one_callback_and_a_larger_one_arrives_in_bounded_parts_without_losing_a_byte()
    {
        // Messages that fill the streaming buffer with their channel byte (the embedded cluster's relay sends 64 KiB and
        // the byte): one read each once the connection streams.
        var full = Enumerable.Range(0, 4).Select(i => new string((char)('a' + i), ExecChannels.StreamingBufferSize - 1)).ToList();
        // A server that sends more in one message than the buffer holds: handed on in parts, none larger than the buffer.
        var oversized = new string('z', ExecChannels.StreamingBufferSize * 2 + 5);
        // Read while sending: the socket's buffers need not hold everything.
        var chunks = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var reading = ExecChannels.ReadAsync(_client, chunk =>
        {
            chunks.Add(Encoding.UTF8.GetString(chunk.Span));
            return Task.CompletedTask;
        }, timeout.Token);
        foreach (var message in full)
        {
            await SendAsync(1, message);
        }

        await SendAsync(1, oversized);
        await SendAsync(3, Success);
        await CloseAsync();
        var outcome = await reading;

        Assert.Equal(string.Concat(full) + oversized, string.Concat(chunks));
        Assert.All(chunks, chunk => Assert.InRange(chunk.Length, 1, ExecChannels.StreamingBufferSize));
        // The first message fills the small buffer (two reads); every later full message arrives whole in one callback.
        Assert.Equal(full.Skip(1), chunks.Skip(2).Take(full.Count - 1));
        Assert.Equal(0, KubernetesGateway.ExitCodeOf(outcome.Status!));
    }

    [Fact]
    public async Task A_connection_that_drops_before_the_status_gives_no_status()
    {
        await SendAsync(1, "partial output");
        Drop();

        var (outcome, stdout) = await ReadAsync();

        Assert.Equal("partial output", stdout);
        Assert.Null(outcome.Status);
        Assert.NotNull(outcome.Dropped);
    }

    [Fact]
    public async Task A_connection_that_drops_in_the_middle_of_the_status_gives_no_status()
    {
        // The first part of a status that would parse on its own (its exit code) must not count: its message never ended.
        await SendAsync(3, Success, endOfMessage: false);
        Drop();

        var (outcome, _) = await ReadAsync();

        Assert.Null(outcome.Status);
        Assert.NotNull(outcome.Dropped);
    }

    [Fact]
    public async Task A_clean_close_without_a_status_gives_no_status()
    {
        await SendAsync(1, "output");
        await CloseAsync();

        var (outcome, _) = await ReadAsync();

        Assert.Null(outcome.Status);
        Assert.Null(outcome.Dropped);
    }

    [Fact]
    public async Task A_drop_after_the_whole_status_still_ends_the_command()
    {
        await SendAsync(3, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"7\"}]}}");
        Drop();

        var (outcome, _) = await ReadAsync();

        Assert.Equal(7, KubernetesGateway.ExitCodeOf(outcome.Status!));
    }

    [Fact]
    public async Task An_endless_status_is_bounded_and_does_not_parse()
    {
        for (var i = 0; i < 20; i++)
        {
            await SendAsync(3, new string(' ', 8 * 1024), endOfMessage: false);
            await SendRawAsync([], endOfMessage: false);
        }

        await SendRawAsync(Encoding.UTF8.GetBytes(Success));
        await CloseAsync();

        var (outcome, _) = await ReadAsync();

        Assert.Equal(ExecChannels.MaxStatusBytes, Encoding.UTF8.GetByteCount(outcome.Status!));
        Assert.Null(KubernetesGateway.ExitCodeOf(outcome.Status!));
    }

    [Fact]
    public async Task Cancelling_the_caller_cancels_the_read()
    {
        await SendAsync(1, "still running");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExecChannels.ReadAsync(_client, null, cancel.Token));
    }
}

/// <summary>The gateway never takes a dropped or status-less exec as the end of a stage.</summary>
public sealed class ExecOutcomeTests
{
    [Fact]
    public void Only_a_whole_status_is_an_exit_and_a_missing_one_is_a_lost_connection()
    {
        Assert.Equal(0, KubernetesGateway.ExitOf(new ExecChannels.Outcome(Success(), null), "x"));
        Assert.Throws<ExecConnectionLostException>(() => KubernetesGateway.ExitOf(new ExecChannels.Outcome(null, new IOException("reset")), "x"));
        Assert.Throws<ExecConnectionLostException>(() => KubernetesGateway.ExitOf(new ExecChannels.Outcome(null, null), "x"));
        Assert.Throws<ExecConnectionLostException>(() => KubernetesGateway.ExitOf(new ExecChannels.Outcome("{\"kind\":\"Sta", null), "x"));
    }

    private static string Success() => "{\"kind\":\"Status\",\"status\":\"Success\"}";
}
