namespace Scheduler.Kubernetes;

/// <summary>
/// A client-side token bucket for Kubernetes API requests (DESIGN invariant 7: the API is a shared resource).
/// Up to <c>burst</c> requests pass at once; beyond that they are spaced at <c>requestsPerSecond</c>, in arrival order.
/// Long-lived streams (a watch, an exec) take one token when they open.
/// </summary>
public sealed class ApiRateLimiter
{
    private readonly object _gate = new();
    private readonly double _rate;
    private readonly int _burst;
    private readonly TimeProvider _time;
    private double _tokens;
    private long _last;

    public ApiRateLimiter(double requestsPerSecond, int burst, TimeProvider? time = null)
    {
        if (requestsPerSecond <= 0 || burst < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(requestsPerSecond), "the rate must be positive and the burst at least 1");
        }

        _rate = requestsPerSecond;
        _burst = burst;
        _time = time ?? TimeProvider.System;
        _tokens = burst;
        _last = _time.GetTimestamp();
    }

    /// <summary>The default for a runner node: 20 requests per second, bursts of 40.</summary>
    public static ApiRateLimiter Default() => new(20, 40);

    /// <summary>How long the next request would wait, reserving its token.</summary>
    public TimeSpan Reserve()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + _time.GetElapsedTime(_last, now).TotalSeconds * _rate);
            _last = now;
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }

    public Task WaitAsync(CancellationToken ct)
    {
        var delay = Reserve();
        return delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, _time, ct);
    }
}
