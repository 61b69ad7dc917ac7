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
