using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

/// <summary>Whole jobs on the embedded cluster: the job's <c>image:kubernetes:user</c> is the user its script runs as, and a
/// variable longer than an environment entry may be (a long commit message) does not stop the job.</summary>
[Collection(ClusterCollection.Name)]
public sealed class JobUserEndToEndTests(ClusterFixture cluster)
{
    private readonly JobHarness _harness = new(cluster);

    private static void AssertSuccess(JobRun run) =>
        Assert.True(run.Result.State == JobState.Success, $"expected success, got {run.Result}\n--- trace ---\n{run.Trace}");

    [Fact]
    public async Task The_script_runs_as_the_user_the_job_asks_for()
    {
        var run = await _harness.RunAsync("""
            as-user:
              image:
                name: alpine:latest
                kubernetes: { user: "1234:2345" }
              script: [echo "running as $(id -u):$(id -g)"]
            """, "as-user", JobHarness.Config("allowed_users = [\"1234\"]\nallowed_groups = [\"2345\"]"));

        AssertSuccess(run);
        Assert.Contains("running as 1234:2345\n", run.Trace, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_outside_allowed_users_is_refused_before_a_pod_is_made()
    {
        var run = await _harness.RunAsync("""
            as-other:
              image:
                name: alpine:latest
                kubernetes: { user: 4321 }
              script: [echo never-runs]
            """, "as-other", JobHarness.Config("allowed_users = [\"1234\"]"));

        Assert.Equal(JobState.Failed, run.Result.State);
        Assert.Contains("the image user 4321 is not allowed by allowed_users [1234]", run.Trace, StringComparison.Ordinal);
        Assert.DoesNotContain("\nnever-runs", run.Trace, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_170_KB_variable_reaches_the_script_and_the_job_succeeds()
    {
        var value = new string('m', 170 * 1024);
        var run = await _harness.RunAsync($"""
            variables:
              LONG_MESSAGE: "{value}"
            long-variable:
              script:
                - echo "length ${"{"}#LONG_MESSAGE{"}"}"
                - /bin/echo commands-still-start
            """, "long-variable");

        AssertSuccess(run);
        Assert.Contains($"length {value.Length}\n", run.Trace, StringComparison.Ordinal);
        Assert.Contains("\ncommands-still-start\n", run.Trace, StringComparison.Ordinal);
        Assert.Contains("Variable LONG_MESSAGE (174080 bytes) is longer than the 128 KiB", run.Trace, StringComparison.Ordinal);
    }
}
