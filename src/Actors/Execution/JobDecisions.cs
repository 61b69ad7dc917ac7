using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

/// <summary>Where a job stands in its stages: what the decisions below read and the JobActor updates.</summary>
public sealed record StageProgress(int NextIndex, bool Failed, int? FailedExitCode, bool Canceled)
{
    public static StageProgress Start { get; } = new(0, false, null, false);
}

/// <summary>The JobActor's decisions as pure functions: which stage runs next, what a stage's exit does to the job, the
/// job's outcome and its messages (GitLab Runner's wording).</summary>
public static class JobDecisions
{
    /// <summary>Whether <paramref name="stage"/> (at <paramref name="index"/>) runs, given how the job stands.</summary>
    public static bool ShouldRun(IReadOnlyList<PlannedStage> stages, PlannedStage stage, int index, StageProgress progress)
    {
        if (progress.Canceled)
        {
            // Canceled gracefully: the script and what prepares it are skipped; after_script and the stages for a failed
            // job still run.
            var stepScript = stages.ToList().FindIndex(s => s.Name == StageNames.StepScript);
            return stage.IgnoreFailure || (index > stepScript && stage.When != StageCondition.OnSuccess);
        }

        return stage.When switch
        {
            StageCondition.Always => true,
            StageCondition.OnSuccess => !progress.Failed,
            StageCondition.OnFailure => progress.Failed,
            _ => false,
        };
    }

    /// <summary>The next stage to run from <see cref="StageProgress.NextIndex"/> on, and the progress once it is taken; null
    /// when no stage is left.</summary>
    public static (PlannedStage Stage, int Index, StageProgress Progress)? NextStage(IReadOnlyList<PlannedStage> stages,
        StageProgress progress)
    {
        for (var index = progress.NextIndex; index < stages.Count; index++)
        {
            if (ShouldRun(stages, stages[index], index, progress))
            {
                return (stages[index], index, progress with { NextIndex = index + 1 });
            }
        }

        return null;
    }

    /// <summary>What a stage's exit code does to the job: the first failure of a stage that counts fails it (after_script's
    /// own result never does; a canceled job stays canceled).</summary>
    public static StageProgress AfterExit(StageProgress progress, PlannedStage? stage, int exitCode)
    {
        if (stage?.IgnoreFailure == true || exitCode == 0 || progress.Failed || progress.Canceled)
        {
            return progress;
        }

        return progress with { Failed = true, FailedExitCode = exitCode };
    }

    /// <summary>The job's outcome once its stages are done.</summary>
    public static JobResult Outcome(StageProgress progress) =>
        progress.Canceled ? Canceled
        : progress.Failed ? Failed(FailureReasons.ScriptFailure, progress.FailedExitCode, $"exit code {progress.FailedExitCode}")
        : new JobResult(JobState.Success, null, null, "Job succeeded");

    public static JobResult Canceled { get; } = new(JobState.Canceled, FailureReasons.JobCanceled, null, "ERROR: Job failed: canceled");

    public static JobResult Failed(string reason, int? exitCode, string message) =>
        new(JobState.Failed, reason, exitCode, "ERROR: Job failed: " + message);

    public static JobResult TimedOut(TimeSpan timeout) =>
        Failed(FailureReasons.JobExecutionTimeout, null, $"execution took longer than {Format(timeout)} seconds");

    /// <summary>A duration as Go prints it (GitLab Runner's message): 1h0m0s, 5m0s, 30s.</summary>
    public static string Format(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes}m{span.Seconds}s"
        : span.TotalMinutes >= 1 ? $"{span.Minutes}m{span.Seconds}s"
        : $"{span.Seconds}s";

    /// <summary>The pause before a restarted JobActor re-derives its state: 0.5 s doubling per restart, at most 10 s, so a
    /// crash loop does not hammer the API server.</summary>
    public static TimeSpan RestartBackoff(int restarts) =>
        restarts <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(10_000, 500 * Math.Pow(2, Math.Min(restarts - 1, 10))));

    /// <summary>The pause before the n-th retry of an owner check that failed transiently: 1 s doubling, at most 30 s.</summary>
    public static TimeSpan OwnerCheckBackoff(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(30_000, 1000 * Math.Pow(2, Math.Clamp(attempt - 1, 0, 10))));
}
