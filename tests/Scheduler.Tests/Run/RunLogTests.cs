using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>The runner's own log while it serves a job: structured per job, and free of the job's secrets.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class RunLogTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task Job_log_lines_carry_JobId_and_Runner_and_never_the_job_token_or_a_masked_value()
    {
        const string masked = "masked-value-7f3a9c";
        using var log = new CapturedLog();
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo $SECRET_VALUE", "echo done").Variable("SECRET_VALUE", masked, masked: true));
        // A lost patch answer: the listener logs the failure and GitLab's offset.
        GitLab.InjectFault(FakeEndpoint.PatchTrace, 500, count: 1, applyBeforeFailing: true);
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        await WaitUntilAsync(() => log.Events.Any(e => e.RenderMessage().Contains("final state accepted", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the listener's last log line");

        var events = log.Events;
        var ofJob = events.Where(e => CapturedLog.Property(e, "JobId") == job.Id.ToString()).ToArray();
        Assert.Contains(ofJob, e => e.RenderMessage().Contains("received job", StringComparison.Ordinal));
        Assert.Contains(ofJob, e => e.RenderMessage().Contains("final state accepted", StringComparison.Ordinal));
        Assert.All(ofJob.Where(e => CapturedLog.Property(e, "ActorPath")?.Contains("/intake-", StringComparison.Ordinal) == true),
            e => Assert.Equal("r1", CapturedLog.Property(e, "Runner")));
        Assert.Contains(ofJob, e => e.Level == Serilog.Events.LogEventLevel.Warning && e.RenderMessage().Contains("trace patch failed", StringComparison.Ordinal));

        foreach (var e in events)
        {
            var everything = e.RenderMessage() + " " + string.Join(" ", e.Properties.Select(p => $"{p.Key}={p.Value}")) + " " + e.Exception;
            Assert.DoesNotContain(job.Token, everything);
            Assert.DoesNotContain(masked, everything);
            Assert.DoesNotContain(token, everything);
        }
    }
}
