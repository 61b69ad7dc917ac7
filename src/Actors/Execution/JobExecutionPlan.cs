using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>When a stage runs, given the job's result so far.</summary>
public enum StageCondition { Always, OnSuccess, OnFailure }

/// <summary>One stage as the actors run it: where, when, and the exec argv of the stage protocol (<paramref name="Run"/>:
/// launch and wait in one exec, printing the exit marker; <paramref name="Kill"/>).</summary>
/// <param name="IgnoreFailure">Its exit code never fails the job (after_script).</param>
/// <param name="Timeout">A limit of its own (after_script), or null when only the job timeout applies.</param>
public sealed record PlannedStage(
    string Name,
    string Container,
    StageCondition When,
    IReadOnlyList<string> Run,
    IReadOnlyList<string> Kill,
    bool IgnoreFailure = false,
    TimeSpan? Timeout = null);

/// <summary>Everything the actor tree needs to run one job: its pod, its stages in order, and the commands that read
/// the output log and the artifact archives.</summary>
/// <param name="MarkCanceled">Exec argv (in <paramref name="LogContainer"/>) run on a graceful cancel before the running
/// stage is killed, so the stages after it know the job was canceled; null: none.</param>
public sealed record JobExecutionPlan(
    JobPodPlan Pod,
    IReadOnlyList<PlannedStage> Stages,
    IReadOnlyList<string> ArtifactArchives,
    string LogContainer,
    Func<long, bool, IReadOnlyList<string>> ReadLog,
    Func<string, IReadOnlyList<string>> ReadFile,
    IReadOnlyList<string>? MarkCanceled = null)
{
    /// <summary>The plan once its pod runs: the pod and its Secrets keep only their metadata (names, namespace, labels). The
    /// spec and the Secrets' data (the payload, the scripts) went to Kubernetes and are not needed again: a restarted
    /// JobActor plans the job afresh. A sleeping job holds less.</summary>
    public JobExecutionPlan WithoutPodContent() => this with
    {
        Pod = Pod with
        {
            Pod = new V1Pod { ApiVersion = Pod.Pod.ApiVersion, Kind = Pod.Pod.Kind, Metadata = Pod.Pod.Metadata },
            JobSecret = MetadataOnly(Pod.JobSecret),
            RegistrySecret = Pod.RegistrySecret is null ? null : MetadataOnly(Pod.RegistrySecret),
        },
    };

    private static V1Secret MetadataOnly(V1Secret secret) =>
        new() { ApiVersion = secret.ApiVersion, Kind = secret.Kind, Metadata = secret.Metadata, Type = secret.Type };
}

/// <summary>The plan, or why the job cannot run (a configuration the runner cannot honour).</summary>
public sealed record JobPlanResult(JobExecutionPlan? Plan, string? Refusal);

/// <summary>Turns a job into a plan. Pure: the same inputs (with the same name suffix) give the same pod name, which
/// is how a restarted JobActor finds its pod again.</summary>
public interface IJobPlanner
{
    JobPlanResult Plan(RunnerEntry runner, JobPayload job, int concurrentId, Func<string> podNameSuffix);
}

/// <summary>Stage names the actors treat specially.</summary>
public static class StageNames
{
    /// <summary>The user's script: a graceful cancel stops it and skips what comes before it.</summary>
    public const string StepScript = "step_script";
}
