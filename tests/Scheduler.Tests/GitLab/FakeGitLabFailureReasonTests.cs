using Scheduler.FakeGitLab;
using Scheduler.GitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>The fake stores failure reasons as GitLab does (unknown → unknown_failure) and keeps what was sent; the payload
/// lists the reasons it accepts.</summary>
public sealed class FakeGitLabFailureReasonTests : FakeGitLabTest
{
    [Theory]
    [InlineData("script_failure", "script_failure")]
    [InlineData("runner_system_failure", "runner_system_failure")]
    [InlineData("job_canceled", "unknown_failure")]
    [InlineData("image_pull_failure", "unknown_failure")]
    [InlineData(null, "unknown_failure")]
    public async Task A_failed_update_stores_a_known_reason_and_turns_any_other_into_unknown_failure(string? sent, string stored)
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);

        var final = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Failed, sent, 2));

        Assert.Equal(UpdateOutcome.Accepted, final.Outcome);
        var fake = GitLab.Job(job.Id)!;
        Assert.Equal(("failed", stored, sent, (int?)2), (fake.Status, fake.FailureReason, fake.SentFailureReason, fake.ExitCode));
    }

    [Fact]
    public async Task The_payload_lists_the_failure_reasons_the_test_chose()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner, new FakeJobBuilder().FailureReasons("unknown_failure", "script_failure"));

        Assert.Equal(["unknown_failure", "script_failure"], job.Features.FailureReasons);
        Assert.Equal("unknown_failure", GitLabFailureReason.ForUpdate("runner_interrupted", job.Features.FailureReasons));
    }
}
