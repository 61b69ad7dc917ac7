using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Execution;

/// <summary>How the actor tree runs jobs. <paramref name="ArtifactsDir"/>: when set, the job's artifact archives are
/// copied there after the post-build stages. <paramref name="PodNameSuffix"/>: the pod name's random part (tests fix it).</summary>
public sealed record ExecutionOptions(
    RunnerIdentity Identity,
    IJobPlanner Planner,
    string? ArtifactsDir = null,
    Func<string>? PodNameSuffix = null)
{
    /// <summary>after_script's own limit (GitLab Runner's RUNNER_AFTER_SCRIPT_TIMEOUT default).</summary>
    public TimeSpan AfterScriptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Pause before re-running a dropped exec (stage wait, log reader).</summary>
    public TimeSpan ReattachDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Pause before restarting a pod watch that ended or failed.</summary>
    public TimeSpan WatchRestartDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a crashed JobActor is restarted (re-deriving its state from Kubernetes) before it is stopped.</summary>
    public int MaxJobRestarts { get; init; } = 3;
}
