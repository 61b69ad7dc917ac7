using System.Buffers;
using System.Net.WebSockets;

namespace Scheduler.Kubernetes;

/// <summary>
/// Reads one exec connection (<c>v4.channel.k8s.io</c>): each message starts with its channel byte (1 stdout, 2 stderr,
/// 3 status JSON); a message the WebSocket hands over in parts carries the byte in its first part only. Reads asynchronously
/// into one small pooled buffer, so an open exec holds no thread and a few KiB (KubernetesClient's StreamDemuxer rents 1 MiB
/// per connection and its MuxedStream reads block a thread-pool thread per channel). A connection whose stdout fills the
/// small buffer (a log being read, not an exit marker) moves to a <see cref="StreamingBufferSize"/> one, so a large message
/// (the embedded cluster's 64 KiB plus the channel byte, or more) arrives in one read and one callback, not two.
/// </summary>
public static class ExecChannels
{
    /// <summary>The receive buffer a connection starts with.</summary>
    public const int BufferSize = 8 * 1024;

    /// <summary>The receive buffer once stdout has filled the first one: also the largest stdout chunk handed on. One read
    /// takes a whole message of the embedded cluster's relay (64 KiB of output and its channel byte; kubelet's are 32 KiB),
    /// where a buffer of 64 KiB took two; it is held for as long as the connection streams (a job's log reader).</summary>
    public const int StreamingBufferSize = 128 * 1024;

    /// <summary>A status longer than this is not a Kubernetes status: the rest is dropped (and it will not parse).</summary>
    public const int MaxStatusBytes = 64 * 1024;

    private const byte StdoutChannel = 1, StatusChannel = 3;

    /// <summary>What the connection gave: the status channel's text when its message arrived whole, else null (the connection
    /// ended or dropped first, so the command's end is unknown). <paramref name="Dropped"/> is the error that ended it, if any.</summary>
    public sealed record Outcome(string? Status, Exception? Dropped);

    /// <summary>Reads until the server closes the connection or it drops. Stdout goes to <paramref name="onStdout"/> as it
    /// arrives (the memory is reused after the callback's task ends); stderr is read and dropped. Cancellation propagates.</summary>
    public static async Task<Outcome> ReadAsync(WebSocket socket, Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        ArrayBufferWriter<byte>? status = null;
        string? completeStatus = null;
        var channel = -1; // the channel of the message being read; -1 between messages
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                try
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                }
                catch (Exception e) when (e is WebSocketException or IOException && !ct.IsCancellationRequested)
                {
                    return new Outcome(completeStatus, e);
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return new Outcome(completeStatus, null);
                }

                var data = buffer.AsMemory(0, result.Count);
                if (channel < 0 && data.Length > 0)
                {
                    channel = data.Span[0];
                    data = data[1..];
                }

                if (channel == StdoutChannel && data.Length > 0 && onStdout is not null)
                {
                    await onStdout(data);
                    if (result.Count == buffer.Length && buffer.Length < StreamingBufferSize)
                    {
                        // Output is streaming: one larger buffer for the rest of the connection (the callback is done with
                        // this one).
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(StreamingBufferSize);
                    }
                }
                else if (channel == StatusChannel)
                {
                    status ??= new ArrayBufferWriter<byte>(256);
                    var room = MaxStatusBytes - status.WrittenCount;
                    if (room > 0)
                    {
                        status.Write(data.Span[..Math.Min(room, data.Length)]);
                    }
                }

                if (result.EndOfMessage)
                {
                    if (channel == StatusChannel && status is not null)
                    {
                        completeStatus = System.Text.Encoding.UTF8.GetString(status.WrittenSpan);
                    }

                    channel = -1;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
