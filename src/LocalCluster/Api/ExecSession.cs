using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;

using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Api;

/// <summary>
/// <c>pods/exec</c> over a WebSocket with the <c>v5.channel.k8s.io</c> / <c>v4.channel.k8s.io</c> protocols: every message
/// starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close in v5).
/// </summary>
internal sealed class ExecSession(Cluster cluster, FaultSettings faults, CancellationToken stopping)
{
    public const string V5 = "v5.channel.k8s.io";
    public const string V4 = "v4.channel.k8s.io";
    /// <summary>The most output one message carries. Messages of 256 KiB made a 100 MiB trace no faster and cost the raw
    /// transport more CPU per MiB (docs/benchmarks.md). Each output channel holds at most four of them.</summary>
    public const int MaxMessageBytes = 64 * 1024;

    // Channel 4 (terminal resize) is read and ignored.
    private const byte StdinChannel = 0, StdoutChannel = 1, StderrChannel = 2, StatusChannel = 3, CloseChannel = 255;

    public async Task HandleAsync(HttpContext context, string ns, string podName)
    {
        var query = context.Request.Query;
        var pod = cluster.Get(ResourceKind.Pods, ns, podName);
        var command = query["command"].Where(c => c is not null).Select(c => c!).ToList();
        if (command.Count == 0) throw ApiException.BadRequest("you must specify at least 1 command");
        bool Flag(string name) => query[name] == "true" || query[name] == "1";
        bool stdin = Flag("stdin"), stdout = Flag("stdout"), stderr = Flag("stderr"), tty = Flag("tty");
        if (!stdin && !stdout && !stderr) throw ApiException.BadRequest("you must specify at least one of stdin, stdout, stderr");
        if (tty && stderr) stderr = false; // a terminal merges stderr into stdout, as kubelet does.

        var containers = (pod["spec"]?["containers"]?.AsArray() ?? []).Select(c => JsonText.Str(c?["name"]) ?? "").ToList();
        var container = query["container"].ToString() is { Length: > 0 } given ? given : null;
        if (container is null)
        {
            if (containers.Count != 1)
                throw ApiException.BadRequest($"a container name must be specified for pod {podName}, choose one of: [{string.Join(" ", containers)}]");
            container = containers[0];
        }
        else if (!containers.Contains(container))
        {
            throw ApiException.BadRequest($"container {container} is not valid for pod {podName}");
        }
        if (JsonText.Str(pod["status"]?["phase"]) is "Succeeded" or "Failed")
            throw ApiException.BadRequest($"cannot exec into a container in a completed pod; current phase is {JsonText.Str(pod["status"]?["phase"])}");

        if (!context.WebSockets.IsWebSocketRequest)
            throw ApiException.BadRequest("Upgrade request required: pods/exec is served over WebSocket (v5.channel.k8s.io or v4.channel.k8s.io)");
        var offered = context.WebSockets.WebSocketRequestedProtocols;
        var protocol = offered.Contains(V5) ? V5 : offered.Contains(V4) ? V4 : null;
        if (protocol is null)
            throw ApiException.BadRequest(
                $"unsupported exec subprotocol(s) [{string.Join(", ", offered)}]; this server supports {V5} and {V4}");

        using var socket = await context.WebSockets.AcceptWebSocketAsync(protocol).ConfigureAwait(false);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        if (faults.ExecDropAfter is { } dropAfter) cancel.CancelAfter(dropAfter);
        var sender = new ChannelSender(socket, faults.ExecDropAfterBytes, cancel);

        var stdinPipe = stdin ? new Pipe() : null;
        await using var stdoutStream = stdout ? new ChannelWriteStream(sender, StdoutChannel) : null;
        await using var stderrStream = stderr ? new ChannelWriteStream(sender, StderrChannel) : null;
        var streams = new ExecStreams(stdinPipe?.Reader.AsStream(), stdoutStream, stderrStream);
        var receiving = ReceiveAsync(socket, stdinPipe?.Writer, protocol == V5, cancel);

        JsonObject status;
        try
        {
            var exitCode = await cluster.Runtime.ExecAsync(new ExecRequest(ns, podName, container, command, tty), streams, cancel.Token)
                .ConfigureAwait(false);
            // Every byte of output goes out before the status.
            if (stdoutStream is not null) await stdoutStream.DrainAsync().ConfigureAwait(false);
            if (stderrStream is not null) await stderrStream.DrainAsync().ConfigureAwait(false);
            cancel.Token.ThrowIfCancellationRequested();
            status = exitCode == 0
                ? new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Success" }
                : new JsonObject
                {
                    ["metadata"] = new JsonObject(), ["status"] = "Failure",
                    ["message"] = $"command terminated with non-zero exit code: error executing command [{string.Join(" ", command)}], exit code {exitCode}",
                    ["reason"] = "NonZeroExitCode",
                    ["details"] = new JsonObject
                    {
                        ["causes"] = new JsonArray(new JsonObject { ["reason"] = "ExitCode", ["message"] = exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) }),
                    },
                };
        }
        catch (PodRuntimeException e)
        {
            status = new JsonObject
            {
                ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = e.Message, ["reason"] = e.Reason, ["code"] = e.HttpStatus,
            };
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Client gone, server stopping or an injected drop: no status to send.
            socket.Abort();
            await Quietly(receiving).ConfigureAwait(false);
            return;
        }

        if (sender.Dropped || cancel.IsCancellationRequested)
        {
            socket.Abort();
            await Quietly(receiving).ConfigureAwait(false);
            return;
        }
        try
        {
            await sender.SendAsync(StatusChannel, new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(status.ToJsonString()))).ConfigureAwait(false);
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cancel.Token).ConfigureAwait(false);
            // Wait briefly for the client's close so the connection ends cleanly.
            using var closeWait = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token);
            closeWait.CancelAfter(TimeSpan.FromSeconds(2));
            await Task.WhenAny(receiving, Task.Delay(Timeout.Infinite, closeWait.Token)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client left first.
        }
        if (socket.State != WebSocketState.Closed) socket.Abort();
        await Quietly(receiving).ConfigureAwait(false);
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The socket is gone; nothing more to read.
        }
    }

    /// <summary>Reads the client's messages: stdin data, resize (ignored), v5 close of stdin, and the close frame.</summary>
    private static async Task ReceiveAsync(WebSocket socket, PipeWriter? stdin, bool v5, CancellationTokenSource cancel)
    {
        var buffer = new byte[64 * 1024];
        var stdinOpen = stdin is not null;
        try
        {
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                var channel = -1;
                WebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer, cancel.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        // The client is gone: a command still running loses its caller, as with kubelet.
                        await cancel.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                    var data = buffer.AsMemory(0, result.Count);
                    if (channel < 0 && data.Length > 0)
                    {
                        channel = data.Span[0];
                        data = data[1..];
                    }
                    if (channel == StdinChannel && stdinOpen && data.Length > 0)
                        await stdin!.WriteAsync(data, cancel.Token).ConfigureAwait(false);
                    else if (channel == CloseChannel && v5 && data.Length > 0 && data.Span[0] == StdinChannel && stdinOpen)
                    {
                        stdinOpen = false;
                        await stdin!.CompleteAsync().ConfigureAwait(false);
                    }
                } while (!result.EndOfMessage);
            }
        }
        finally
        {
            if (stdinOpen) await stdin!.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Serialises output messages onto the socket; aborts after an injected byte budget.</summary>
    private sealed class ChannelSender(WebSocket socket, long? dropAfterBytes, CancellationTokenSource cancel)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private long _sent;

        public bool Dropped { get; private set; }

        public async Task SendAsync(byte channel, ReadOnlySequence<byte> data)
        {
            await _gate.WaitAsync(cancel.Token).ConfigureAwait(false);
            try
            {
                if (dropAfterBytes is { } budget && _sent + data.Length > budget)
                {
                    // As a real connection that breaks mid-stream: what fits in the budget arrives, then the drop. Dropping the
                    // whole write instead would deliver nothing ever to a client whose first chunk exceeds the budget.
                    var fits = (int)Math.Max(0, budget - _sent);
                    if (fits > 0)
                    {
                        var head = new byte[fits + 1];
                        head[0] = channel;
                        data.Slice(0, fits).CopyTo(head.AsSpan(1));
                        await socket.SendAsync(head, WebSocketMessageType.Binary, true, cancel.Token).ConfigureAwait(false);
                        _sent += fits;
                        // A moment for the client to read it: an abort right behind the bytes can take them with it.
                        await Task.Delay(TimeSpan.FromMilliseconds(200), cancel.Token).ConfigureAwait(false);
                    }
                    Dropped = true;
                    await cancel.CancelAsync().ConfigureAwait(false);
                    throw new OperationCanceledException(cancel.Token);
                }
                // One pooled message buffer per message (the channel byte, then the data): the relay allocates nothing per chunk.
                var length = (int)data.Length;
                var message = ArrayPool<byte>.Shared.Rent(length + 1);
                try
                {
                    message[0] = channel;
                    data.CopyTo(message.AsSpan(1));
                    await socket.SendAsync(message.AsMemory(0, length + 1), WebSocketMessageType.Binary, true, cancel.Token)
                        .ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(message);
                }

                _sent += data.Length;
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>
    /// One output channel, written behind: what the container writes goes into a bounded pipe, and one pump sends what has
    /// gathered there as one message of up to <see cref="MaxMessageBytes"/>. While a send is under way the next writes gather,
    /// so a fast writer makes few large messages (fewer frames, TLS records and client reads per byte) and a quiet one is sent
    /// at once. A full pipe makes the writer wait, so the container is slowed rather than buffered without bound.
    /// </summary>
    private sealed class ChannelWriteStream : WriteOnlyStream, IFillableOutput
    {
        public const int MaxMessageBytes = ExecSession.MaxMessageBytes;
        // Segments of a message's size: the runtime reads the process's pipe straight into them (IFillableOutput), and a
        // segment is only left behind with less than a read's minimum free, so the bound below is on memory as well as bytes.
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 * MaxMessageBytes, resumeWriterThreshold: 2 * MaxMessageBytes,
            minimumSegmentSize: MaxMessageBytes, useSynchronizationContext: false));
        private readonly Task _pump;
        private bool _completed;

        public ChannelWriteStream(ChannelSender sender, byte channel) => _pump = Task.Run(() => PumpAsync(sender, channel));

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.Length == 0) return;
            FlushResult result;
            try
            {
                result = await _pipe.Writer.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                // The pump stopped on a failed send (it completed the pipe with that error).
                throw new IOException("the exec client disconnected", e);
            }

            if (result.IsCompleted) throw new IOException("the exec client disconnected"); // the pump stopped: nothing more is sent
        }

        public Memory<byte> GetMemory(int minimum) => _pipe.Writer.GetMemory(minimum);

        public async ValueTask CommitAsync(int count, CancellationToken cancellationToken)
        {
            FlushResult result;
            try
            {
                _pipe.Writer.Advance(count);
                result = await _pipe.Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                throw new IOException("the exec client disconnected", e);
            }

            if (result.IsCompleted) throw new IOException("the exec client disconnected");
        }

        /// <summary>Sends what is still in the pipe; afterwards nothing more is written. A failed send ends it quietly (the caller
        /// sees the drop or the cancellation).</summary>
        public async Task DrainAsync()
        {
            if (!_completed)
            {
                _completed = true;
                await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }

            try
            {
                await _pump.ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
            {
                // The client is gone or the connection was dropped.
            }
        }

        public override async ValueTask DisposeAsync()
        {
            await DrainAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private async Task PumpAsync(ChannelSender sender, byte channel)
        {
            var reader = _pipe.Reader;
            try
            {
                while (true)
                {
                    var result = await reader.ReadAsync().ConfigureAwait(false);
                    var pending = result.Buffer;
                    while (pending.Length > 0)
                    {
                        var message = pending.Slice(0, Math.Min(pending.Length, MaxMessageBytes));
                        await sender.SendAsync(channel, message).ConfigureAwait(false);
                        pending = pending.Slice(message.End);
                    }

                    reader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }

                await reader.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await reader.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        }
    }
}
