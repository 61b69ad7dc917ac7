namespace Scheduler.Actors.Execution.Faults;

/// <summary>How a job retries transient Kubernetes faults: capped exponential backoff with jitter, within a budget of retries
/// for the whole job (so a sick API server fails jobs in bounded time instead of retrying forever).</summary>
public sealed record RetrySettings(int MaxRetriesPerJob, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    public static RetrySettings Default { get; } = new(30, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    /// <summary>How many times one call is tried at most (GitLab Runner's <c>retry_limit</c>); 0: only the job's budget bounds it.</summary>
    public int MaxAttemptsPerCall { get; init; }

    /// <summary><c>retry_limits</c>: an error message fragment and how many times a call failing with it is tried, in file order.
    /// A match makes even an error that is otherwise final worth retrying (GitLab Runner's "exceeded quota" example), and its
    /// limit replaces <see cref="MaxAttemptsPerCall"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> Limits { get; init; } = [];

    /// <summary>The <see cref="Limits"/> entry whose fragment <paramref name="errorText"/> contains (the first one), or null.</summary>
    public int? LimitFor(string errorText)
    {
        foreach (var (fragment, limit) in Limits)
        {
            if (errorText.Contains(fragment, StringComparison.Ordinal))
            {
                return limit;
            }
        }

        return null;
    }

    /// <summary>The settings for a runner entry: <c>retry_limit</c> bounds each call's attempts and <c>retry_backoff_max</c>
    /// (milliseconds) caps the backoff, as in GitLab Runner; the job's budget still bounds the whole job.</summary>
    public RetrySettings For(int? retryLimit, int? retryBackoffMaxMilliseconds) => this with
    {
        MaxAttemptsPerCall = retryLimit is > 0 ? retryLimit.Value : MaxAttemptsPerCall,
        MaxDelay = retryBackoffMaxMilliseconds is > 0 ? TimeSpan.FromMilliseconds(retryBackoffMaxMilliseconds.Value) : MaxDelay,
    };
}

/// <summary>
/// The retries left to one job. Made once per job (outside the actors that use it, so restarts do not refill it) and
/// shared by the job's PodActor and its JobActor's stage runs (which may briefly overlap across a restart): taking a retry is
/// atomic.
/// </summary>
public sealed class RetryBudget(RetrySettings settings, Func<double>? jitter = null)
{
    private readonly Func<double> _jitter = jitter ?? Random.Shared.NextDouble;
    private readonly object _gate = new();
    private int _used;

    public RetrySettings Settings => settings;

    public int Used
    {
        get
        {
            lock (_gate)
            {
                return _used;
            }
        }
    }

    public int Left => Math.Max(0, settings.MaxRetriesPerJob - Used);

    /// <summary>Takes one retry for the <paramref name="attempt"/>-th retry of one call (1 for the first); false when the job's
    /// budget is spent. The delay is the server's Retry-After when given (capped at MaxDelay), otherwise
    /// min(MaxDelay, BaseDelay·2^(attempt-1)) spread over its upper half.</summary>
    /// <param name="maxAttempts">The call's own limit from <c>retry_limits</c>, when its error matched one; else <c>retry_limit</c>.</param>
    public bool TryTake(int attempt, TimeSpan? retryAfter, out TimeSpan delay, int? maxAttempts = null)
    {
        delay = TimeSpan.Zero;
        var limit = maxAttempts ?? settings.MaxAttemptsPerCall;
        if (limit > 0 && attempt >= limit)
        {
            return false; // the call was tried retry_limit times: its own limit, whatever the job has left
        }

        lock (_gate)
        {
            if (_used >= settings.MaxRetriesPerJob)
            {
                return false;
            }

            _used++;
        }

        delay = DelayFor(settings, attempt, retryAfter, _jitter());
        return true;
    }

    /// <summary>The backoff (pure): Retry-After wins, capped; otherwise the exponential ceiling's upper half by <paramref name="jitter"/>.</summary>
    public static TimeSpan DelayFor(RetrySettings settings, int attempt, TimeSpan? retryAfter, double jitter)
    {
        if (retryAfter is { } serverSaid && serverSaid > TimeSpan.Zero)
        {
            return serverSaid > settings.MaxDelay ? settings.MaxDelay : serverSaid;
        }

        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ceiling = Math.Min(settings.MaxDelay.TotalMilliseconds, settings.BaseDelay.TotalMilliseconds * Math.Pow(2, exponent));
        var sample = Math.Clamp(jitter, 0, 1);
        return TimeSpan.FromMilliseconds(ceiling / 2 + ceiling / 2 * sample);
    }
}
