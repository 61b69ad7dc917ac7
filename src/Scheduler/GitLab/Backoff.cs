namespace Scheduler.GitLab;

/// <summary>How long to wait before retrying a GitLab call: the server's <c>Retry-After</c> when it gave one (capped),
/// otherwise exponential backoff between 100 ms and 60 s, jittered over the upper half of each step (not full jitter: a
/// retry never comes sooner than half the step).</summary>
public static class Backoff
{
    public static readonly TimeSpan Minimum = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Maximum = TimeSpan.FromSeconds(60);

    /// <summary>The wait before retry number <paramref name="attempt"/> (1 for the first retry). <paramref name="jitter"/> is
    /// a sample in [0, 1): the delay is spread over [ceiling/2, ceiling] so that runners do not retry in lockstep.</summary>
    public static TimeSpan Delay(int attempt, TimeSpan? retryAfter, double jitter)
    {
        if (retryAfter is { } serverSaid && serverSaid > TimeSpan.Zero)
        {
            return serverSaid > Maximum ? Maximum : serverSaid;
        }

        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ceilingMs = Math.Min(Maximum.TotalMilliseconds, Minimum.TotalMilliseconds * Math.Pow(2, exponent));
        var sample = Math.Clamp(jitter, 0, 1);
        var ms = ceilingMs / 2 + ceilingMs / 2 * sample;
        return TimeSpan.FromMilliseconds(Math.Max(Minimum.TotalMilliseconds, ms));
    }

    /// <summary>The delay with a random jitter sample.</summary>
    public static TimeSpan Delay(int attempt, TimeSpan? retryAfter) => Delay(attempt, retryAfter, Random.Shared.NextDouble());
}
