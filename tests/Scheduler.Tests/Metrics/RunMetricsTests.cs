using System.Globalization;
using System.Text.RegularExpressions;
using Scheduler.Hosting;
using Scheduler.Metrics;
using Scheduler.Scheduler.Tests.Run;

namespace Scheduler.Scheduler.Tests.Metrics;

/// <summary>A job run through the run host on the embedded cluster moves the runner's own metrics (pods by phase,
/// Kubernetes requests per job) and leaves log lines that name its job, runner entry and pod.</summary>
[Collection(RunClusterCollection.Name)]
public sealed partial class RunMetricsTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task A_job_counts_as_a_running_pod_while_it_runs_and_its_Kubernetes_requests_are_observed_when_it_ends()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo job-is-running", "sleep 3", "echo job-is-done"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitUntilAsync(() => job.TraceText().Contains("\njob-is-running", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
            "the script to start");
        var during = await Metrics.ExportTextAsync();
        Assert.Contains("scheduler_pods{phase=\"Running\"} 1", during);
        Assert.Contains("scheduler_pods{phase=\"Pending\"} 0", during);

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var text = "";
        await WaitUntilAsync(() => (text = Metrics.ExportTextAsync().Result).Contains("scheduler_kubernetes_requests_per_job_count 1\n",
            StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the job's requests to be observed");

        var requests = double.Parse(SumOfRequests().Match(text).Groups["sum"].Value, CultureInfo.InvariantCulture);
        // At least: the pod, its Secret, launch and wait of each stage, the log reader, the delete.
        Assert.True(requests >= 8, $"only {requests} Kubernetes requests observed:\n{text}");
        Assert.Contains("gitlab_runner_jobs_total{runner=\"r1\"} 1", text); // the entry's name, as the listener labels it
        await WaitUntilAsync(() => Metrics.ExportTextAsync().Result.Contains("scheduler_pods{phase=\"Running\"} 0", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the finished job's pod to leave the count");
        Assert.Contains("scheduler_watch_restarts_total 0", text);
    }

    [Fact]
    public async Task A_jobs_log_lines_carry_its_JobId_Runner_and_Pod_and_no_secret()
    {
        const string masked = "masked-value-5be21d";
        using var log = new CapturedLog();
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo $SECRET_VALUE").Variable("SECRET_VALUE", masked, masked: true));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        await WaitUntilAsync(() => log.Events.Any(e => e.MessageTemplate.Text.Contains("finished:", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the job's last log line");

        var ofJob = log.Events.Where(e => CapturedLog.Property(e, ActorLogContext.JobId) == job.Id.ToString(CultureInfo.InvariantCulture))
            .ToArray();
        var created = Assert.Single(ofJob, e => e.MessageTemplate.Text == "job {JobId} of runner {Runner}: pod {Pod} created");
        var pod = CapturedLog.Property(created, ActorLogContext.Pod);
        Assert.StartsWith("runner-", pod);
        var lines = ofJob.Where(e => e.Properties.ContainsKey(ActorLogContext.Pod)).ToArray();
        Assert.Contains(lines, e => e.RenderMessage().Contains("stage \"step_script\" started", StringComparison.Ordinal)
                                    || e.RenderMessage().Contains("stage step_script started", StringComparison.Ordinal));
        Assert.Contains(lines, e => e.RenderMessage().Contains("exited with code 0", StringComparison.Ordinal));
        var finished = Assert.Single(lines, e => e.MessageTemplate.Text.Contains("finished:", StringComparison.Ordinal));
        Assert.Contains("Success", finished.RenderMessage());
        Assert.All(lines, e =>
        {
            Assert.Equal(pod, CapturedLog.Property(e, ActorLogContext.Pod));
            Assert.Equal("r1", CapturedLog.Property(e, ActorLogContext.Runner));
            Assert.Equal(Serilog.Events.LogEventLevel.Information, e.Level);
        });

        foreach (var e in log.Events)
        {
            var everything = e.RenderMessage() + " " + string.Join(" ", e.Properties.Select(p => $"{p.Key}={p.Value}"));
            Assert.DoesNotContain(job.Token, everything);
            Assert.DoesNotContain(masked, everything);
        }
    }

    [GeneratedRegex(@"^scheduler_kubernetes_requests_per_job_sum (?<sum>[0-9.eE+]+)$", RegexOptions.Multiline)]
    private static partial Regex SumOfRequests();
}
