using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>The end of a job as config.toml shapes it: <c>cleanup_grace_period_seconds</c> on the deletes,
/// <c>cleanup_resources_timeout</c> bounding the whole cleanup, <c>print_pod_warning_events</c> on a failed job, and
/// <c>namespace_per_job</c> creating and deleting <c>ci-job-&lt;id&gt;</c>.</summary>
public sealed class JobCleanupSettingsTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private readonly TestProbe _calls;
    private int _suffix;

    public JobCleanupSettingsTests(ITestOutputHelper output) : base(VirtualTime, "cleanup", output)
    {
        _calls = CreateTestProbe("gateway-calls");
        _cluster.Probe = _calls;
    }

    private IActorRef StartRunner(KubernetesSettings kubernetes)
    {
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, null,
            () => "s" + Interlocked.Increment(ref _suffix).ToString("D7", System.Globalization.CultureInfo.InvariantCulture))
        {
            Planner = new FakePlanner(FakePlanner.StandardStages),
        };
        var settings = new GlobalSettings { Concurrent = 1, Runners = [TestData.Runner(kubernetes)] };
        return Sys.ActorOf(RunnerSupervisor.Props(settings, _cluster, options), "runner");
    }

    private static async Task<JobRecord> FinishedAsync(TestProbe listener, TimeSpan? max = null)
    {
        var messages = new List<object>();
        while (true)
        {
            var message = await listener.ExpectMsgAsync<object>(max ?? TimeSpan.FromSeconds(15));
            messages.Add(message);
            if (message is JobFinished)
            {
                return new JobRecord(messages);
            }
        }
    }

    private async Task<GatewayCall> CallAsync(string kind, string detail = "") =>
        (GatewayCall)await _calls.FishForMessageAsync(m => m is GatewayCall call && call.Kind == kind && call.Detail.Contains(detail),
            TimeSpan.FromSeconds(15));

    private void Behave(string stage, string output, int? exitCode) => _cluster.StageBehaviour[stage] = (output, exitCode);

    private static KubernetesSettings Kubernetes(KubernetesSettings? with = null) => (with ?? new KubernetesSettings()) with
    {
        PollInterval = 3, PollTimeout = 600,
    };

    private async Task<JobRecord> RunAsync(KubernetesSettings kubernetes, long id = 7, IReadOnlyList<JobVariable>? variables = null)
    {
        var runner = StartRunner(Kubernetes(kubernetes));
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job(variables) with { Id = id }, "k8s runner", listener));
        return await FinishedAsync(listener);
    }

    private static Corev1Event Event(string pod, string type, string message, int minute) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"{pod}.{minute}", NamespaceProperty = "default" },
        InvolvedObject = new V1ObjectReference { Kind = "Pod", Name = pod, NamespaceProperty = "default" },
        Type = type,
        Reason = type == "Warning" ? "Failed" : "Pulled",
        Message = message,
        LastTimestamp = new DateTime(2026, 12, 4, 23, minute, 0, DateTimeKind.Utc),
    };

    // ---- cleanup_grace_period_seconds ----

    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    [InlineData(7L)]
    public async Task The_pod_delete_after_a_job_asks_for_the_cleanup_grace_period(long? grace)
    {
        Behave("step_script", "building\n", 0);

        var job = await RunAsync(new KubernetesSettings { CleanupGracePeriodSeconds = grace });

        Assert.Equal(JobState.Success, job.Result.State);
        var delete = Assert.Single(_cluster.DeleteGracePeriods, d => d.Kind == "delete-pod");
        Assert.Equal(grace, delete.GracePeriodSeconds);
    }

    // ---- cleanup_resources_timeout ----

    [Fact]
    public async Task A_pod_delete_that_hangs_ends_at_cleanup_resources_timeout_and_the_job_still_finishes()
    {
        // A hung API server: every delete waits forever. Without the bound the end waited a minute per try, five tries.
        Behave("step_script", "building\n", 0);
        for (var i = 0; i < JobActor.DeleteAttempts; i++)
        {
            _cluster.HoldNext("delete-pod");
        }

        var started = DateTime.UtcNow;
        var job = await RunAsync(new KubernetesSettings { CleanupResourcesTimeout = TimeSpan.FromSeconds(2) });

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(12), $"the job took {DateTime.UtcNow - started}");
        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains("Error cleaning up pod: the cleanup did not finish within cleanup_resources_timeout (2s)", job.Trace);
        Assert.Equal(1, _cluster.Count("delete-pod"));
    }

    [Fact]
    public async Task Delete_retries_stop_at_cleanup_resources_timeout()
    {
        // 503s would be tried 5 times over 15 s; a 2 s bound stops after the second try's pause.
        Behave("step_script", "building\n", 0);
        _cluster.FailNext("delete-pod", JobActor.DeleteAttempts, System.Net.HttpStatusCode.ServiceUnavailable);

        var job = await RunAsync(new KubernetesSettings { CleanupResourcesTimeout = TimeSpan.FromSeconds(2) });

        Assert.Contains("cleanup_resources_timeout (2s)", job.Trace);
        Assert.InRange(_cluster.Count("delete-pod"), 2, 3);
    }

    // ---- print_pod_warning_events ----

    [Fact]
    public async Task A_failed_job_prints_its_pod_s_warning_events_oldest_first_and_masked()
    {
        Behave("step_script", "building\n", null); // runs until the test ends it
        var runner = StartRunner(Kubernetes());
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job([TestData.Masked("REGISTRY_PASSWORD", "hunter2-secret")]) with { Id = 8 }, "k8s runner", listener));
        var pod = (await CallAsync("create-pod")).Detail;
        await CallAsync("run", "step_script"); // launched: the stage exists
        _cluster.Events.Enqueue(Event(pod, "Warning", "Back-off pulling image \"svc:1\"", 12));
        _cluster.Events.Enqueue(Event(pod, "Warning", "Failed to pull image \"svc:1\": auth hunter2-secret\nrefused", 10));
        _cluster.Events.Enqueue(Event(pod, "Normal", "Pulled image \"alpine:3.20\"", 11));
        _cluster.Events.Enqueue(Event("another-pod", "Warning", "not this job's", 11));
        _cluster.FinishStage(pod, "step_script", 1);

        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Failed, job.Result.State);
        var trace = job.Trace;
        var first = trace.IndexOf("WARNING: Event retrieved from the cluster: Failed to pull image \"svc:1\": auth [MASKED] refused", StringComparison.Ordinal);
        var second = trace.IndexOf("WARNING: Event retrieved from the cluster: Back-off pulling image \"svc:1\"", StringComparison.Ordinal);
        Assert.True(first >= 0 && second > first, trace);
        Assert.DoesNotContain("hunter2-secret", trace);
        Assert.DoesNotContain("Pulled image", trace);
        Assert.DoesNotContain("not this job's", trace);
        Assert.True(second < trace.LastIndexOf("Job failed", StringComparison.Ordinal), trace); // before the final line
    }

    [Fact]
    public async Task A_failed_job_does_not_print_the_wait_for_its_job_secret_made_just_after_the_pod()
    {
        Behave("step_script", "building\n", null); // runs until the test ends it
        var runner = StartRunner(Kubernetes());
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job() with { Id = 9 }, "k8s runner", listener));
        var pod = (await CallAsync("create-pod")).Detail;
        var secret = (await CallAsync("create-secret")).Detail;
        await CallAsync("run", "step_script");
        var waited = Event(pod, "Warning", $"MountVolume.SetUp failed for volume \"scripts\" : secret \"{secret}\" not found", 10);
        var missing = Event(pod, "Warning", "MountVolume.SetUp failed for volume \"creds\" : secret \"operator-made\" not found", 11);
        waited.Reason = missing.Reason = "FailedMount";
        _cluster.Events.Enqueue(waited);
        _cluster.Events.Enqueue(missing);
        _cluster.FinishStage(pod, "step_script", 1);

        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.DoesNotContain($"secret \"{secret}\" not found", job.Trace);
        Assert.Contains("WARNING: Event retrieved from the cluster: MountVolume.SetUp failed for volume \"creds\"", job.Trace);
    }

    [Fact]
    public async Task A_pod_that_never_ran_keeps_the_wait_for_its_job_secret_in_the_trace()
    {
        // The pod never reached Running: its FailedMount for the job Secret may be why, so the trace keeps it.
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner(new KubernetesSettings { PollInterval = 3, PollTimeout = 30 });
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job() with { Id = 10 }, "k8s runner", listener));
        var pod = (await CallAsync("create-pod")).Detail;
        var secret = (await CallAsync("create-secret")).Detail;
        var waited = Event(pod, "Warning", $"MountVolume.SetUp failed for volume \"scripts\" : secret \"{secret}\" not found", 10);
        waited.Reason = "FailedMount";
        _cluster.Events.Enqueue(waited);
        await Task.Delay(200); // the PodActor is waiting for Running
        ((TestScheduler)Sys.Scheduler).Advance(TimeSpan.FromSeconds(31));

        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.Contains($"WARNING: Event retrieved from the cluster: MountVolume.SetUp failed for volume \"scripts\" : secret \"{secret}\" not found",
            job.Trace);
    }

    [Theory]
    [InlineData(true, 0)]   // succeeded: nothing to explain
    [InlineData(false, 1)]  // print_pod_warning_events = false
    public async Task Events_are_not_listed_for_a_job_that_succeeded_or_when_turned_off(bool print, int exitCode)
    {
        Behave("step_script", "building\n", exitCode);

        var job = await RunAsync(new KubernetesSettings { PrintPodWarningEvents = print });

        Assert.Equal(0, _cluster.Count("list-events"));
        Assert.DoesNotContain("Event retrieved from the cluster", job.Trace);
    }

    [Fact]
    public async Task A_failing_event_list_does_not_keep_the_job_from_ending()
    {
        Behave("step_script", "building\n", 1);
        _cluster.FailNext("list-events", 1, System.Net.HttpStatusCode.Forbidden);

        var job = await RunAsync(new KubernetesSettings());

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.Equal(1, _cluster.Count("list-events"));
        Assert.Single(_cluster.DeletedPods);
    }

    [Fact]
    public void Event_lines_are_one_line_each_bounded_and_in_the_order_they_last_happened()
    {
        var events = new List<Corev1Event>
        {
            Event("p", "Warning", "late", 30),
            Event("p", "Warning", new string('x', 5000), 20),
            Event("p", "Warning", "early\r\nsecond line", 10),
            Event("p", "Warning", "  ", 5),
        };

        var lines = JobActor.WarningEventLines(events);

        Assert.Equal(3, lines.Count);
        Assert.Equal("early second line", lines[0]);
        Assert.Equal(JobActor.EventMessageLimit + 1, lines[1].Length);
        Assert.Equal("late", lines[2]);
        Assert.Equal(JobActor.WarningEventLimit,
            JobActor.WarningEventLines(Enumerable.Range(0, 500).Select(i => Event("p", "Warning", $"e{i}", i % 60))).Count);
    }

    // ---- namespace_per_job ----

    [Fact]
    public async Task With_namespace_per_job_the_job_runs_in_ci_job_id_which_is_created_first_and_deleted_last()
    {
        Behave("step_script", "building\n", 0);

        var job = await RunAsync(new KubernetesSettings { NamespacePerJob = true, Namespace = "ignored" }, id: 4242);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains("Using Kubernetes namespace: ci-job-4242", job.Trace);
        // The shared pod watch starts and stops on its own actor, so its calls may land anywhere; the job's own calls are ordered.
        var history = _cluster.History.Where(c => c.Kind != "watch").ToList();
        var calls = history.Select(c => c.Kind).ToList();
        Assert.Equal("create-namespace", calls[0]);
        Assert.Equal("ci-job-4242", history.First().Detail);
        Assert.Equal("delete-namespace", calls[^1]);
        Assert.True(calls.LastIndexOf("delete-pod") < calls.LastIndexOf("delete-namespace"));
        Assert.Equal(["ci-job-4242"], _cluster.DeletedNamespaces);
    }

    [Fact]
    public async Task The_job_namespace_is_deleted_even_when_the_pod_never_started()
    {
        _cluster.FailNext("create-pod", 1, System.Net.HttpStatusCode.Forbidden);

        var job = await RunAsync(new KubernetesSettings { NamespacePerJob = true }, id: 99);

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.Equal(["ci-job-99"], _cluster.DeletedNamespaces);
        Assert.False(_cluster.Namespaces.ContainsKey("ci-job-99"));
    }

    [Fact]
    public async Task Without_namespace_per_job_no_namespace_is_created_or_deleted()
    {
        Behave("step_script", "building\n", 0);

        await RunAsync(new KubernetesSettings());

        Assert.Equal(0, _cluster.Count("create-namespace"));
        Assert.Equal(0, _cluster.Count("delete-namespace"));
    }
}
