namespace Scheduler.Actors.Trace;

/// <summary>
/// Bounds the bytes a reader has handed on and its consumer has not processed yet: the reader waits for room before it
/// hands on the next chunk, so a slow consumer slows the reader instead of filling a mailbox. A chunk is let in while any
/// room is left, so the bytes in flight stay below the limit plus one chunk. Thread-safe.
/// </summary>
public sealed class InFlightWindow(long limitBytes)
{
    private readonly Lock _gate = new();
    private long _bytes;
    private TaskCompletionSource? _room;

    public long LimitBytes { get; } = limitBytes;

    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Completes when the bytes in flight are below the limit.</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_bytes < LimitBytes)
            {
                return Task.CompletedTask;
            }

            _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _room.Task.WaitAsync(cancellationToken);
        }
    }

    public void Add(int bytes)
    {
        lock (_gate)
        {
            _bytes += bytes;
        }
    }

    public void Release(int bytes)
    {
        TaskCompletionSource? room = null;
        lock (_gate)
        {
            _bytes -= bytes;
            if (_bytes < LimitBytes)
            {
                (room, _room) = (_room, null);
            }
        }

        room?.TrySetResult();
    }
}
