using System.Globalization;

namespace Scheduler.LocalCluster;

/// <summary>
/// Failures the API server injects for reliability tests. Everything is off by default; with a <see cref="Seed"/>
/// the sequence of injected request failures is deterministic.
/// </summary>
public sealed record FaultSettings
{
    public static FaultSettings None { get; } = new();

    /// <summary>Fraction (0..1) of resource requests answered 500 InternalError.</summary>
    public double ServerErrorRate { get; init; }

    /// <summary>Fraction (0..1) of resource requests answered 429 TooManyRequests with Retry-After.</summary>
    public double ThrottleRate { get; init; }

    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>Fraction (0..1) of resource requests held without an answer for <see cref="HangFor"/> (then 504 Timeout), as an
    /// API server that accepted the connection and stalled; a client learns of it only from its own timeout.</summary>
    public double HangRate { get; init; }

    /// <summary>How long a hung request is held before it is answered 504; longer than a client's timeout to test that timeout.</summary>
    public TimeSpan HangFor { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Added before every resource request is handled.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>A watch stream ends (cleanly, as on a server timeout) after this many events.</summary>
    public int? WatchMaxEvents { get; init; }

    /// <summary>A watch stream ends (cleanly) after this long.</summary>
    public TimeSpan? WatchMaxDuration { get; init; }

    /// <summary>An exec connection is dropped (aborted) after sending this many output bytes.</summary>
    public long? ExecDropAfterBytes { get; init; }

    /// <summary>An exec connection is dropped (aborted) after this long.</summary>
    public TimeSpan? ExecDropAfter { get; init; }

    /// <summary>A followed log stream is dropped (aborted) after this many bytes.</summary>
    public long? LogFollowDropAfterBytes { get; init; }

    /// <summary>A followed log stream is dropped (aborted) after this long.</summary>
    public TimeSpan? LogFollowDropAfter { get; init; }

    /// <summary>Seed of the random draw deciding which requests fail; null draws from a random seed.</summary>
    public int? Seed { get; init; }
}

/// <summary>How many request faults the server has injected, and a hook that hears of each one (the standalone server
/// prints them, so that a rehearsal's log shows which call met which fault).</summary>
public sealed class InjectedFaults
{
    private long _serverErrors;
    private long _throttles;
    private long _hangs;

    public long ServerErrors => Interlocked.Read(ref _serverErrors);
    public long Throttles => Interlocked.Read(ref _throttles);
    public long Hangs => Interlocked.Read(ref _hangs);

    /// <summary>Called with e.g. <c>500 GET /api/v1/namespaces/default/pods?watch=true</c> or <c>hang 120s POST …</c>; must not block.</summary>
    public Action<string>? Observer { get; set; }

    internal void Record(int code, string method, string path)
    {
        if (code == 500) Interlocked.Increment(ref _serverErrors);
        else Interlocked.Increment(ref _throttles);
        Observer?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{code} {method} {path}"));
    }

    internal void RecordHang(TimeSpan heldFor, string method, string path)
    {
        Interlocked.Increment(ref _hangs);
        Observer?.Invoke(string.Create(CultureInfo.InvariantCulture, $"hang {heldFor.TotalSeconds:0.###}s {method} {path}"));
    }
}
