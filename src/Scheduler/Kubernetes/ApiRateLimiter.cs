using System.Threading.RateLimiting;

namespace Scheduler.Kubernetes;

/// <summary>
/// The client-side limit on Kubernetes API requests (DESIGN invariant 7: the API is a shared resource), a
/// <see cref="TokenBucketRateLimiter"/>: up to <c>burst</c> requests pass at once; beyond that they wait, in arrival order,
/// for tokens refilled at <c>requestsPerSecond</c>. Long-lived streams (a watch, an exec) take one token when they open.
/// Configured by the global <c>kubernetes_api_rate</c> and <c>kubernetes_api_burst</c> keys.
/// </summary>
public sealed class ApiRateLimiter : IDisposable
{
    public const double DefaultRate = 20;
    public const int DefaultBurst = 40;

    // Refilling in steps of 50 ms (or one token at a time below 20/s) keeps the timer coarse at high rates.
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(50);

    private readonly TokenBucketRateLimiter _bucket;

    public ApiRateLimiter(double requestsPerSecond, int burst)
    {
        if (!(requestsPerSecond > 0) || burst < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(requestsPerSecond), "the rate must be positive and the burst at least 1");
        }

        var stepped = requestsPerSecond * Step.TotalSeconds >= 1;
        Period = stepped ? Step : TimeSpan.FromSeconds(1 / requestsPerSecond);
        TokensPerPeriod = stepped ? (int)Math.Round(requestsPerSecond * Step.TotalSeconds) : 1;
        _bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = TokensPerPeriod,
            ReplenishmentPeriod = Period,
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
    }

    /// <summary>How often tokens are added, and how many each time.</summary>
    public TimeSpan Period { get; }

    public int TokensPerPeriod { get; }

    /// <summary>The default for a runner node: 20 requests per second, bursts of 40.</summary>
    public static ApiRateLimiter Default() => new(DefaultRate, DefaultBurst);

    /// <summary>The limit the global settings ask for (the defaults when they leave it out).</summary>
    public static ApiRateLimiter For(Scheduler.Messages.Settings.GlobalSettings settings) =>
        new(settings.KubernetesApiRate, settings.KubernetesApiBurst);

    /// <summary>Waits for a token. A request waits however long the queue is: it never fails here.</summary>
    public async Task WaitAsync(CancellationToken ct)
    {
        using var lease = await _bucket.AcquireAsync(1, ct);
        if (!lease.IsAcquired)
        {
            throw new TimeoutException("the client-side Kubernetes API rate limit refused the request");
        }
    }

    public void Dispose() => _bucket.Dispose();
}
