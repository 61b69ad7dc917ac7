using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Execution;

/// <summary>How the actor tree runs jobs. <paramref name="Helper"/>: how pods run <c>scheduler helper</c>.
/// <paramref name="ArtifactsDir"/>: when set, the job's artifact archives are copied there after the post-build stages.
/// <paramref name="PodNameSuffix"/>: the pod name's random part (tests fix it).</summary>
public sealed record ExecutionOptions(
    RunnerIdentity Identity,
    HelperInvocation Helper,
    string? ArtifactsDir = null,
    Func<string>? PodNameSuffix = null)
{
    /// <summary>Turns jobs into plans: by default the stage scripts of <see cref="JobScripts"/> and the pod of
    /// <see cref="Pods.PodBuilder"/>; tests give their own.</summary>
    public IJobPlanner Planner { get; init; } = new ScriptedJobPlanner(Identity, Helper);

    /// <summary>Pause before re-running a dropped exec (stage wait, log reader).</summary>
    public TimeSpan ReattachDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Pause before restarting a pod watch that ended or failed.</summary>
    public TimeSpan WatchRestartDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a pod watch stays open after the last pod followed through it is left.</summary>
    public TimeSpan WatchIdleLinger { get; init; } = PodWatcher.DefaultIdleLinger;

    /// <summary>In a fleet: this node's owner id (its cluster UniqueAddress). Pods get it as their <c>scheduler/owner</c>
    /// annotation and a job is driven only while its pod names this id. Null on a single node: no fencing, no adoption.</summary>
    public string? OwnerId { get; init; }

    /// <summary>The host name that new pods record as <c>scheduler/started-via</c> and the trace names ("Running on … via …").</summary>
    public string StartedVia { get; init; } = Environment.MachineName;

    /// <summary>How often a crashed JobActor is restarted (re-deriving its state from Kubernetes) before it is stopped.</summary>
    public int MaxJobRestarts { get; init; } = 3;

    /// <summary>Hears of watch restarts, the phases of the pods the node follows and each job's Kubernetes requests
    /// (the runner's metrics); by default nobody.</summary>
    public IExecutionObserver Observer { get; init; } = NoExecutionObserver.Instance;

    /// <summary>How a job retries transient Kubernetes faults (429, 5xx, timeouts, resets): backoff and the job's budget.</summary>
    public Faults.RetrySettings Retries { get; init; } = Faults.RetrySettings.Default;
}
