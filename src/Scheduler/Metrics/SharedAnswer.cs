namespace Scheduler.Metrics;

/// <summary>
/// One answer shared by every caller for a short while: callers that arrive while a fetch is in flight wait for that
/// fetch, and a successful answer is reused until it is <c>maxAge</c> old. So a burst of <c>/fleet</c> requests (or a
/// scraper polling too often) costs one fan-out over the fleet, not one per request. A failed fetch is not kept: the next
/// caller tries again. A caller's cancellation ends its own wait, never the shared fetch.
/// </summary>
public sealed class SharedAnswer<T>(Func<CancellationToken, Task<T>> fetch, TimeSpan maxAge, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private Task<T>? _current;
    private DateTimeOffset _fetchedAt;

    public Task<T> GetAsync(CancellationToken cancellationToken)
    {
        Task<T> shared;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var reusable = _current is { } current
                && (!current.IsCompleted || (current.IsCompletedSuccessfully && now - _fetchedAt < maxAge));
            if (!reusable)
            {
                _fetchedAt = now;
                // Not the caller's token: a caller that gives up must not cancel the answer the others wait for.
                _current = Task.Run(() => fetch(CancellationToken.None));
            }
            shared = _current!;
        }
        return shared.WaitAsync(cancellationToken);
    }
}
