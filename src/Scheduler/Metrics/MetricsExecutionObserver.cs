using Scheduler.Actors.Execution;

namespace Scheduler.Metrics;

/// <summary>The job-running tree's reports as the runner's <c>scheduler_*</c> metrics: <c>scheduler_watch_restarts_total</c>,
/// <c>scheduler_pods{phase}</c> and <c>scheduler_kubernetes_requests_per_job</c>.</summary>
public sealed class MetricsExecutionObserver(RunnerMetrics metrics) : IExecutionObserver
{
    private readonly object _gate = new();
    private HashSet<string> _phasesSet = [];

    public void WatchRestarted() => metrics.WatchRestarted();

    public void PodPhasesChanged(IReadOnlyDictionary<string, int> podsByPhase)
    {
        lock (_gate)
        {
            // A phase that no longer appears (an unusual one whose last pod left) goes back to zero.
            foreach (var phase in _phasesSet.Where(p => !podsByPhase.ContainsKey(p)))
            {
                metrics.SetPods(phase, 0);
            }

            foreach (var (phase, count) in podsByPhase)
            {
                metrics.SetPods(phase, count);
            }

            _phasesSet = [.. podsByPhase.Keys];
        }
    }

    public void JobKubernetesRequests(long jobId, int requests) => metrics.KubernetesRequestsForJob(requests);
}
