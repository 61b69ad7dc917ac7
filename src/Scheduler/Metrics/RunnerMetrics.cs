using Prometheus;

namespace Scheduler.Metrics;

/// <summary>
/// The runner's Prometheus metrics. Names and labels follow GitLab Runner where the meaning is the same, so existing
/// dashboards keep working; <c>scheduler_*</c> metrics are ours. Each instance owns its registry (never the global one), so
/// tests and several runners in one process stay isolated.
/// </summary>
public sealed class RunnerMetrics
{
    public RunnerMetrics()
        : this(Prometheus.Metrics.NewCustomRegistry())
    {
    }

    public RunnerMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        Jobs = factory.CreateGauge("gitlab_runner_jobs", "The number of jobs being processed.",
            new GaugeConfiguration { LabelNames = ["runner", "state"] });
        JobsTotal = factory.CreateCounter("gitlab_runner_jobs_total", "Total number of handled jobs.",
            new CounterConfiguration { LabelNames = ["runner"] });
        FailedJobsTotal = factory.CreateCounter("gitlab_runner_failed_jobs_total", "Total number of failed jobs.",
            new CounterConfiguration { LabelNames = ["runner", "failure_reason"] });
        Concurrent = factory.CreateGauge("gitlab_runner_concurrent", "The current value of concurrent setting.");
        Limit = factory.CreateGauge("gitlab_runner_limit", "The current value of limit setting.",
            new GaugeConfiguration { LabelNames = ["runner"] });
        JobDuration = factory.CreateHistogram("gitlab_runner_job_duration_seconds", "Histogram of job durations.",
            new HistogramConfiguration
            {
                LabelNames = ["runner"],
                Buckets = [30, 60, 300, 600, 1800, 3600, 7200, 10800, 18000, 36000],
            });
        ApiRequestStatuses = factory.CreateCounter("gitlab_runner_api_request_statuses_total",
            "The total number of API requests, partitioned by runner, endpoint, status and method.",
            new CounterConfiguration { LabelNames = ["runner", "endpoint", "status", "method"] });
        Errors = factory.CreateCounter("gitlab_runner_errors_total", "The number of caught errors.",
            new CounterConfiguration { LabelNames = ["level"] });
        Pods = factory.CreateGauge("scheduler_pods", "Job pods this node drives, by pod phase.",
            new GaugeConfiguration { LabelNames = ["phase"] });
        WatchRestarts = factory.CreateCounter("scheduler_watch_restarts_total", "Pod watches that ended and were started again.");
        KubernetesRequestsPerJob = factory.CreateHistogram("scheduler_kubernetes_requests_per_job",
            "Kubernetes API requests made for one job, observed when the job ends.",
            new HistogramConfiguration { Buckets = [5, 10, 20, 50, 100, 200, 500, 1000] });
    }

    public CollectorRegistry Registry { get; }

    public Gauge Jobs { get; }
    public Counter JobsTotal { get; }
    public Counter FailedJobsTotal { get; }
    public Gauge Concurrent { get; }
    public Gauge Limit { get; }
    public Histogram JobDuration { get; }
    public Counter ApiRequestStatuses { get; }
    public Counter Errors { get; }
    public Gauge Pods { get; }
    public Counter WatchRestarts { get; }
    public Histogram KubernetesRequestsPerJob { get; }

    /// <summary>A job was accepted: it counts in <c>gitlab_runner_jobs{state="running"}</c> until it ends.</summary>
    public void JobStarted(string runner)
    {
        Jobs.WithLabels(runner, "running").Inc();
        JobsTotal.WithLabels(runner).Inc();
    }

    /// <summary>A job ended; <paramref name="failureReason"/> is null on success.</summary>
    public void JobFinished(string runner, TimeSpan duration, string? failureReason)
    {
        Jobs.WithLabels(runner, "running").Dec();
        JobDuration.WithLabels(runner).Observe(duration.TotalSeconds);
        if (failureReason is not null)
        {
            FailedJobsTotal.WithLabels(runner, failureReason).Inc();
        }
    }

    /// <summary>One answer (or network error, <paramref name="status"/> 0) from GitLab's API.</summary>
    public void ApiRequest(string runner, string endpoint, int status, string method) =>
        ApiRequestStatuses.WithLabels(runner, endpoint, status == 0 ? "error" : status.ToString(System.Globalization.CultureInfo.InvariantCulture), method).Inc();

    public void Error(string level) => Errors.WithLabels(level).Inc();

    public void SetConcurrent(int concurrent) => Concurrent.Set(concurrent);

    public void SetLimit(string runner, int limit) => Limit.WithLabels(runner).Set(limit);

    public void SetPods(string phase, int count) => Pods.WithLabels(phase).Set(count);

    public void WatchRestarted() => WatchRestarts.Inc();

    public void KubernetesRequestsForJob(int requests) => KubernetesRequestsPerJob.Observe(requests);

    /// <summary>The registry in Prometheus text format.</summary>
    public async Task<string> ExportTextAsync(CancellationToken cancellationToken = default)
    {
        using var stream = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(stream, cancellationToken);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The <c>runner</c> label: GitLab Runner's short token. Known prefixes (<c>glrt-</c>, a <c>t1_</c>..<c>t3_</c>
    /// partition, <c>glrtr-</c>, <c>glcbt-</c>, legacy <c>GR</c>+digits) are stripped, then the first 9 characters kept,
    /// which identifies the runner without revealing its token.</summary>
    public static string ShortToken(string token)
    {
        var rest = token;
        foreach (var prefix in new[] { "glrtr-", "glrt-", "glcbt-" })
        {
            if (rest.StartsWith(prefix, StringComparison.Ordinal))
            {
                rest = rest[prefix.Length..];
                break;
            }
        }

        if (rest.Length > 3 && rest[0] == 't' && rest[1] is '1' or '2' or '3' && rest[2] == '_')
        {
            rest = rest[3..];
        }
        else if (rest.StartsWith("GR", StringComparison.Ordinal) && rest.Length > 9 && rest[2..9].All(char.IsAsciiDigit))
        {
            rest = rest[9..];
        }

        return rest.Length > 9 ? rest[..9] : rest;
    }
}
