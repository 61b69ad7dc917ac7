namespace Scheduler.Actors.Execution;

/// <summary>
/// What the job-running tree reports about its own use of Kubernetes, for the runner's metrics. Called from inside actors:
/// implementations return at once and do not throw.
/// </summary>
public interface IExecutionObserver
{
    /// <summary>A pod watch that ended or failed was started again.</summary>
    void WatchRestarted();

    /// <summary>The job pods the node follows, counted once each by its latest phase. Always holds the standard phases
    /// (<see cref="PodPhases.Standard"/>), zero when no pod is in them.</summary>
    void PodPhasesChanged(IReadOnlyDictionary<string, int> podsByPhase);

    /// <summary>A job's actor stopped: the Kubernetes API requests it made for the job (the node's shared watch not counted).</summary>
    void JobKubernetesRequests(long jobId, int requests);
}

/// <summary>The default observer: reports go nowhere.</summary>
public sealed class NoExecutionObserver : IExecutionObserver
{
    public static readonly NoExecutionObserver Instance = new();

    private NoExecutionObserver()
    {
    }

    public void WatchRestarted()
    {
    }

    public void PodPhasesChanged(IReadOnlyDictionary<string, int> podsByPhase)
    {
    }

    public void JobKubernetesRequests(long jobId, int requests)
    {
    }
}

/// <summary>Kubernetes pod phases.</summary>
public static class PodPhases
{
    /// <summary>The phases Kubernetes defines; a pod whose status names none yet counts as Pending (the API server's default).</summary>
    public static IReadOnlyList<string> Standard { get; } = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

    public const string Default = "Pending";
}
