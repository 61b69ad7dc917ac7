using Scheduler.Actors.Execution;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>The JobActor's decisions as tables: which stage runs next, what an exit does, the outcome, the backoffs.</summary>
public sealed class JobDecisionsTests
{
    private static PlannedStage Stage(string name, StageCondition when, bool ignoreFailure = false) =>
        new(name, "build", when, ["run"], ["kill"], ignoreFailure);

    private static readonly IReadOnlyList<PlannedStage> Stages =
    [
        Stage("get_sources", StageCondition.OnSuccess),
        Stage("step_script", StageCondition.OnSuccess),
        Stage("after_script", StageCondition.Always, ignoreFailure: true),
        Stage("archive_cache", StageCondition.OnSuccess),
        Stage("upload_artifacts_on_failure", StageCondition.OnFailure),
    ];

    [Theory]
    // from, failed, canceled → the stage that runs next (or none)
    [InlineData(0, false, false, "get_sources")]
    [InlineData(1, false, false, "step_script")]
    [InlineData(2, true, false, "after_script")]
    [InlineData(3, true, false, "upload_artifacts_on_failure")]
    [InlineData(3, false, false, "archive_cache")]
    [InlineData(4, false, false, null)]
    [InlineData(0, false, true, "after_script")]         // canceled: the script and what prepares it are skipped
    [InlineData(3, false, true, "upload_artifacts_on_failure")]
    [InlineData(5, true, false, null)]
    public void The_next_stage_follows_the_job_state(int from, bool failed, bool canceled, string? expected)
    {
        var next = JobDecisions.NextStage(Stages, new StageProgress(from, failed, failed ? 1 : null, canceled));

        Assert.Equal(expected, next?.Stage.Name);
        if (next is { } taken)
        {
            Assert.Equal(taken.Index + 1, taken.Progress.NextIndex);
        }
    }

    [Theory]
    // stage, exit, failed before, canceled → failed after, exit code kept
    [InlineData("step_script", 0, false, false, false, null)]
    [InlineData("step_script", 3, false, false, true, 3)]
    [InlineData("after_script", 7, false, false, false, null)]   // after_script never fails the job
    [InlineData("archive_cache", 9, true, false, true, 3)]      // the first failure's code is kept
    [InlineData("step_script", 137, false, true, false, null)]  // a killed stage of a canceled job: canceled, not failed
    public void An_exit_fails_the_job_only_for_a_stage_that_counts(string stage, int exit, bool failedBefore, bool canceled,
        bool failedAfter, int? code)
    {
        var before = new StageProgress(2, failedBefore, failedBefore ? 3 : null, canceled);
        var after = JobDecisions.AfterExit(before, Stages.Single(s => s.Name == stage), exit);

        Assert.Equal((failedAfter, code), (after.Failed, after.FailedExitCode));
    }

    [Theory]
    [InlineData(false, false, null, JobState.Success, null, "Job succeeded")]
    [InlineData(true, false, 3, JobState.Failed, FailureReasons.ScriptFailure, "ERROR: Job failed: exit code 3")]
    [InlineData(true, true, 3, JobState.Canceled, FailureReasons.JobCanceled, "ERROR: Job failed: canceled")]
    [InlineData(false, true, null, JobState.Canceled, FailureReasons.JobCanceled, "ERROR: Job failed: canceled")]
    public void The_outcome_says_what_GitLab_Runner_says(bool failed, bool canceled, int? code, JobState state, string? reason,
        string message)
    {
        var result = JobDecisions.Outcome(new StageProgress(5, failed, code, canceled));

        Assert.Equal((state, reason, message), (result.State, result.FailureReason, result.Message));
    }

    [Fact]
    public void A_timeout_names_the_job_timeout_as_Go_prints_it() =>
        Assert.Equal(new JobResult(JobState.Failed, FailureReasons.JobExecutionTimeout, null,
            "ERROR: Job failed: execution took longer than 1h0m0s seconds"), JobDecisions.TimedOut(TimeSpan.FromHours(1)));

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 500)]
    [InlineData(2, 1000)]
    [InlineData(3, 2000)]
    [InlineData(6, 10_000)]
    [InlineData(50, 10_000)]
    public void A_restarted_job_waits_a_growing_capped_backoff(int restarts, int milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), JobDecisions.RestartBackoff(restarts));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(5, 16)]
    [InlineData(6, 30)]
    [InlineData(100, 30)]
    public void An_owner_check_is_retried_with_a_capped_backoff(int attempt, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), JobDecisions.OwnerCheckBackoff(attempt));
}
