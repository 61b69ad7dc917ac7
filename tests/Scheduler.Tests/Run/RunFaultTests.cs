using Akka.Actor;
using Scheduler.Actors.Execution;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Faults inside the runner while it serves GitLab: node-wide admission across entries, actors that crash.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class RunFaultTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task Two_runner_entries_never_hold_more_jobs_in_GitLab_than_the_node_has_slots()
    {
        var (tokenA, tokenB) = (GitLab.AddRunner(), GitLab.AddRunner());
        var jobs = new[] { tokenA, tokenB, tokenA, tokenB }.Select(t => GitLab.EnqueueJob(t, Job("sleep 1"))).ToArray();
        StartHost(Settings(1, Entry("a", tokenA), Entry("b", tokenB)));

        // GitLab counts a job as running from its 201 on: with concurrent = 1 the node may hold one at a time, not one per entry.
        var most = 0;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!jobs.All(j => j.IsFinished))
        {
            Assert.True(DateTime.UtcNow < deadline, "the jobs did not finish");
            most = Math.Max(most, jobs.Count(j => j.Picked && !j.IsFinished));
            await Task.Delay(20);
        }

        Assert.Equal(1, most);
        Assert.All(jobs, j => AssertFinal(j, "success"));
    }

    [Fact]
    public async Task A_crash_of_the_intake_keeps_its_jobs_listener_and_the_job_reports_its_whole_trace()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo before-crash", "sleep 2", "echo after-crash"));
        var host = StartHost(Settings(1, Entry("r1", token)));
        await WaitUntilAsync(() => job.TraceText().Contains("before-crash"), TimeSpan.FromSeconds(60), "the job to start");

        host.System.ActorSelection("/user/runner/" + RunHost.IntakeName("r1", 1)).Tell(CrashForTest.Instance);
        host.System.ActorSelection("/user/runner/coordinator").Tell(CrashForTest.Instance);

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("\nbefore-crash", trace);
        Assert.Contains("\nafter-crash", trace);
        Assert.Single(await host.StatusAsync(), s => s.Healthy);
        await AssertNoPodLeftAsync();
    }
}
