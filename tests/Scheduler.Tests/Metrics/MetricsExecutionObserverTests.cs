using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.Metrics;

/// <summary>The execution tree's reports as Prometheus series.</summary>
public sealed class MetricsExecutionObserverTests
{
    private static Dictionary<string, int> Phases(int pending, int running, string? unusual = null, int unusualCount = 0)
    {
        var phases = new Dictionary<string, int> { ["Pending"] = pending, ["Running"] = running, ["Succeeded"] = 0, ["Failed"] = 0, ["Unknown"] = 0 };
        if (unusual is not null)
        {
            phases[unusual] = unusualCount;
        }

        return phases;
    }

    [Fact]
    public async Task Pod_phases_set_the_gauge_and_a_phase_that_disappears_goes_back_to_zero()
    {
        var metrics = new RunnerMetrics();
        var observer = new MetricsExecutionObserver(metrics);

        observer.PodPhasesChanged(Phases(pending: 1, running: 2, unusual: "Evicting", unusualCount: 1));
        var first = await metrics.ExportTextAsync();
        observer.PodPhasesChanged(Phases(pending: 0, running: 3));
        var second = await metrics.ExportTextAsync();

        Assert.Contains("scheduler_pods{phase=\"Pending\"} 1", first);
        Assert.Contains("scheduler_pods{phase=\"Running\"} 2", first);
        Assert.Contains("scheduler_pods{phase=\"Evicting\"} 1", first);
        Assert.Contains("scheduler_pods{phase=\"Pending\"} 0", second);
        Assert.Contains("scheduler_pods{phase=\"Running\"} 3", second);
        Assert.Contains("scheduler_pods{phase=\"Evicting\"} 0", second);
    }

    [Fact]
    public async Task Watch_restarts_count_up_and_each_jobs_requests_are_one_observation()
    {
        var metrics = new RunnerMetrics();
        var observer = new MetricsExecutionObserver(metrics);

        observer.WatchRestarted();
        observer.WatchRestarted();
        observer.JobKubernetesRequests(1, 12);
        observer.JobKubernetesRequests(2, 30);
        var text = await metrics.ExportTextAsync();

        Assert.Contains("scheduler_watch_restarts_total 2", text);
        Assert.Contains("scheduler_kubernetes_requests_per_job_count 2", text);
        Assert.Contains("scheduler_kubernetes_requests_per_job_sum 42", text);
        Assert.Contains("scheduler_kubernetes_requests_per_job_bucket{le=\"20\"} 1", text);
        Assert.Contains("scheduler_kubernetes_requests_per_job_bucket{le=\"50\"} 2", text);
    }
}
