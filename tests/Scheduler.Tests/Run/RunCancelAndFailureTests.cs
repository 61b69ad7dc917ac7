using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>What GitLab sees when a job is canceled or fails: graceful cancel through <c>canceling</c>, and failure reasons
/// limited to the ones the GitLab instance lists.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class RunCancelAndFailureTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task A_job_canceled_in_GitLab_is_canceling_then_after_script_runs_and_it_ends_canceled()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo started-sleeping", "sleep 60", "echo never-reached")
            .AfterScript("echo after-script-ran-$CI_JOB_STATUS"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitUntilAsync(() => job.TraceText().Contains("started-sleeping"), TimeSpan.FromSeconds(60), "the job to start");
        Assert.True(GitLab.Runner(token)!.Features.GetValueOrDefault("cancel_gracefully"), "cancel_gracefully is advertised");
        GitLab.CancelJob(job.Id); // as the UI: canceling, because the runner advertised cancel_gracefully
        Assert.Equal("canceling", job.Status);

        await WaitFinishedAsync(job, seconds: 45);
        // GitLab moves a canceling job to canceled on the final update; job_canceled is in no GitLab enum.
        AssertFinal(job, "canceled", "unknown_failure");
        Assert.Equal("unknown_failure", job.SentFailureReason);
        var trace = job.TraceText();
        Assert.Contains("after-script-ran", trace);
        Assert.DoesNotContain("never-reached", trace.Replace("$ echo never-reached", "", StringComparison.Ordinal));
        Assert.Equal("failed", job.Updates[^1]);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_timeout_is_reported_as_job_execution_timeout_even_where_GitLab_lists_no_reasons()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo started", "sleep 60").Timeout(3).FailureReasons());
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "failed", "job_execution_timeout");
        Assert.Equal("job_execution_timeout", job.SentFailureReason);
    }

    [Fact]
    public async Task A_configuration_the_runner_refuses_is_sent_as_script_failure_to_a_GitLab_without_runner_configuration_error()
    {
        var token = GitLab.AddRunner();
        // No image in the job and none in config.toml: the pod builder refuses the job (runner_configuration_error).
        var job = GitLab.EnqueueJob(token, Job("echo never").Image(null)
            .FailureReasons("unknown_failure", "script_failure", "runner_system_failure", "job_execution_timeout"));
        var entry = Entry("r1", token);
        StartHost(Settings(1, entry with { Kubernetes = entry.Kubernetes with { Image = null } }));

        await WaitFinishedAsync(job);
        AssertFinal(job, "failed", "script_failure");
        Assert.Equal("script_failure", job.SentFailureReason);
        Assert.Contains("no image specified", job.TraceText());
    }
}
