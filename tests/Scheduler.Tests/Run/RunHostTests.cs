using Scheduler.Actors.Intake;
using Scheduler.FakeGitLab;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

[Collection(RunClusterCollection.Name)]
public sealed class RunHostTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task A_job_from_GitLab_runs_on_the_cluster_and_reports_success_with_its_trace()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo hello-from-run", "echo second-line"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("\nhello-from-run", trace);
        Assert.Contains("\nsecond-line", trace);
        Assert.True(trace.IndexOf("hello-from-run\n", StringComparison.Ordinal) < trace.IndexOf("second-line\n", StringComparison.Ordinal));
        Assert.Contains("Job succeeded", trace);
        Assert.Equal("running", job.Updates[0]); // two-phase commit: running right after the 201
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_failing_script_reports_script_failure_and_its_exit_code()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo about-to-fail", "exit 3"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "failed", "script_failure", 3);
        Assert.Contains("about-to-fail", job.TraceText());
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task An_image_that_cannot_be_pulled_is_a_runner_system_failure_where_GitLab_lists_no_image_pull_failure()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo never").Image(RunClusterFixture.MissingImagePrefix + "nothing:1"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        // GitLab's enum has no image_pull_failure: GitLab Runner's fallback is runner_system_failure, not unknown_failure.
        AssertFinal(job, "failed", "runner_system_failure");
        Assert.Equal("runner_system_failure", job.SentFailureReason);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_trace_of_several_patches_arrives_intact_and_a_lost_answer_is_recovered_from_GitLabs_offset()
    {
        var token = GitLab.AddRunner();
        // 2.5 MB of numbered lines: at least three 1 MiB patches.
        var job = GitLab.EnqueueJob(token, Job("seq 1 300000 | sed 's/^/line-/'", "echo end-of-trace"));
        // The second patch lands but its answer is lost: the next patch gets 416 with GitLab's size.
        GitLab.InjectFault(FakeEndpoint.PatchTrace, 500, count: 1, applyBeforeFailing: true);
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var lines = job.TraceText().Split('\n');
        var numbered = lines.Where(l => l.StartsWith("line-", StringComparison.Ordinal)).ToArray();
        Assert.Equal(300000, numbered.Length);
        Assert.Equal(Enumerable.Range(1, 300000).Select(i => $"line-{i}"), numbered.Select(l => l.TrimEnd('\r')));
        Assert.True(GitLab.RequestsTo(FakeEndpoint.PatchTrace).Count(r => r.Status == 202) >= 3);
        Assert.Contains(GitLab.RequestsTo(FakeEndpoint.PatchTrace), r => r.Status == 416);
    }

    [Fact]
    public async Task A_job_canceled_in_GitLab_stops_and_its_pod_is_deleted()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo started-sleeping", "sleep 60"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitUntilAsync(() => job.TraceText().Contains("started-sleeping"), TimeSpan.FromSeconds(60), "the job to start");
        GitLab.CancelJob(job.Id, graceful: false); // a forced cancel: GitLab answers the next PATCH/PUT with 403
        Assert.Equal("canceled", job.Status);
        await WaitUntilAsync(() => PodCountAsync().Result == 0, TimeSpan.FromSeconds(30), "the pod to be deleted");
    }

    [Fact]
    public async Task A_429_with_Retry_After_is_honoured()
    {
        var token = GitLab.AddRunner();
        GitLab.InjectFault(FakeEndpoint.RequestJob, 429, count: 1, retryAfterSeconds: 3);
        var job = GitLab.EnqueueJob(token, Job("echo after-429"));
        var started = DateTime.UtcNow;
        StartHost(Settings(1, Entry("r1", token)));

        await WaitUntilAsync(() => job.Picked, TimeSpan.FromSeconds(30), "the job to be picked");
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(2.9), "the request after a 429 came before Retry-After");
        var requests = GitLab.RequestsTo(FakeEndpoint.RequestJob);
        Assert.Equal(429, requests[0].Status);
        Assert.Equal(201, requests[1].Status);
        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
    }

    [Fact]
    public async Task A_refused_token_marks_its_entry_unhealthy_while_another_entry_keeps_running_jobs()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo healthy-entry"));
        // unhealthy_requests_limit = 1: the first refusal makes the entry unhealthy (the default waits for 3 in a row).
        var host = StartHost(Settings(2, Entry("revoked", "glrt-unknown-token") with { UnhealthyRequestsLimit = 1 }, Entry("good", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var status = await host.StatusAsync();
        Assert.False(status.Single(s => s.RunnerName == "revoked").Healthy);
        Assert.True(status.Single(s => s.RunnerName == "good").Healthy);
        Assert.True(await host.IsReadyAsync());
    }

    [Fact]
    public async Task Concurrent_2_never_runs_a_third_job_at_once()
    {
        var token = GitLab.AddRunner();
        var jobs = Enumerable.Range(0, 3).Select(_ => GitLab.EnqueueJob(token, Job("sleep 2"))).ToArray();
        var host = StartHost(Settings(2, Entry("r1", token)));

        var most = 0;
        while (!jobs.All(j => j.IsFinished))
        {
            most = Math.Max(most, (await host.StatusAsync()).Sum(s => s.RunningJobs.Count));
            most = Math.Max(most, await PodCountAsync(activeOnly: true));
            await Task.Delay(100);
        }

        Assert.Equal(2, most);
        Assert.All(jobs, j => AssertFinal(j, "success"));
    }

    [Fact]
    public async Task A_reloaded_limit_applies_to_new_admissions()
    {
        var token = GitLab.AddRunner();
        var host = StartHost(Settings(3, Entry("r1", token, limit: 3)));
        host.Reload(Settings(3, Entry("r1", token, limit: 1)));
        var jobs = Enumerable.Range(0, 2).Select(_ => GitLab.EnqueueJob(token, Job("sleep 1"))).ToArray();

        var most = 0;
        while (!jobs.All(j => j.IsFinished))
        {
            most = Math.Max(most, (await host.StatusAsync()).Sum(s => s.RunningJobs.Count));
            await Task.Delay(50);
        }

        Assert.Equal(1, most);
        Assert.All(jobs, j => AssertFinal(j, "success"));
    }

    [Fact]
    public async Task A_graceful_stop_asks_for_no_more_work_and_lets_the_running_job_finish()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("sleep 2", "echo finished-after-stop"));
        var host = StartHost(Settings(2, Entry("r1", token)));
        await WaitUntilAsync(() => job.Picked, TimeSpan.FromSeconds(30), "the job to be picked");

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await host.StopGracefullyAsync(deadline.Token);
        AssertFinal(job, "success");
        Assert.Contains("finished-after-stop", job.TraceText());

        // Every intake has stopped asking and has no request out, so none can pick a job (that a stopped intake's timer
        // never asks again is JobIntakeTests' Stop_asking_stops_requests, in virtual time).
        var later = GitLab.EnqueueJob(token, Job("echo never"));
        Assert.All(await host.StatusAsync(), s => Assert.False(s.Asking || s.RequestInFlight, $"{s.RunnerName} still asks"));
        Assert.False(later.Picked);
    }

    [Fact]
    public async Task A_stop_fails_jobs_still_running_after_shutdown_timeout_as_runner_system_failure()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo long-job", "sleep 120"));
        var host = StartHost(Settings(1, Entry("r1", token)));
        await WaitUntilAsync(() => job.TraceText().Contains("long-job"), TimeSpan.FromSeconds(60), "the job to start");

        await host.StopAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
        AssertFinal(job, "failed", "runner_system_failure");
        await AssertNoPodLeftAsync();
    }
}
