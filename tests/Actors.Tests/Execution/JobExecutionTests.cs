using System.Net;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>Everything the Listener heard about one job, with the trace put together (offsets checked contiguous).</summary>
internal sealed record JobRecord(IReadOnlyList<object> Messages)
{
    public JobResult Result => Messages.OfType<JobFinished>().Single().Result;

    public string Trace
    {
        get
        {
            var bytes = new List<byte>();
            foreach (var chunk in Messages.OfType<JobTraceChunk>())
            {
                Assert.Equal(bytes.Count, chunk.Offset);
                bytes.AddRange(chunk.Bytes);
            }

            return Encoding.UTF8.GetString(bytes.ToArray());
        }
    }

    public IReadOnlyList<JobStageChanged> Stages => Messages.OfType<JobStageChanged>().ToList();
}

public sealed class JobExecutionTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private readonly FakeCluster _cluster = new();
    private readonly TestProbe _calls;
    private int _suffix;

    public JobExecutionTests(ITestOutputHelper output) : base(VirtualTime, "execution", output)
    {
        _calls = CreateTestProbe("gateway-calls");
        _cluster.Probe = _calls;
        _cluster.InitialPhase = "Running";
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static GlobalSettings Settings(int concurrent = 1, int limit = 0, KubernetesSettings? kubernetes = null) => new()
    {
        Concurrent = concurrent,
        Runners = [TestData.Runner(kubernetes) with { Limit = limit }],
    };

    private IActorRef StartRunner(GlobalSettings? settings = null, IReadOnlyList<FakeStage>? stages = null,
        IReadOnlyList<string>? artifacts = null, string? artifactsDir = null)
    {
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, artifactsDir,
            () => "s" + Interlocked.Increment(ref _suffix).ToString("D7", System.Globalization.CultureInfo.InvariantCulture))
        {
            Planner = new FakePlanner(stages ?? FakePlanner.StandardStages, artifacts),
        };
        return Sys.ActorOf(RunnerSupervisor.Props(settings ?? Settings(), _cluster, options), "runner");
    }

    private static JobPayload Job(long id, IReadOnlyList<JobVariable>? variables = null, int timeout = 3600) =>
        TestData.Job(variables, timeout: timeout) with { Id = id };

    private static async Task<JobRecord> FinishedAsync(TestProbe listener, TimeSpan? max = null, List<object>? heard = null)
    {
        var messages = heard ?? [];
        await HearUntilAsync(listener, messages, m => m is JobFinished, max);
        return new JobRecord(messages);
    }

    /// <summary>Collects what the listener hears into <paramref name="messages"/> until one message matches.</summary>
    // The watch is open (an event the cluster sends reaches the PodActor) and the pod is made, its PodActor waiting for it
    // to run (the pod is followed from its create on, so the watch opening says nothing about that): its waiting line is
    // in the trace.
    private async Task<List<object>> PodWaitingAsync(TestProbe listener)
    {
        await CallAsync("watch");
        var heard = new List<object>();
        await HearUntilAsync(listener, heard, m => m is JobTraceChunk chunk && Encoding.UTF8.GetString(chunk.Bytes).Contains("Waiting for pod"));
        return heard;
    }

    private static async Task HearUntilAsync(TestProbe listener, List<object> messages, Func<object, bool> until, TimeSpan? max = null)
    {
        while (true)
        {
            var message = await listener.ExpectMsgAsync<object>(max ?? TimeSpan.FromSeconds(15));
            messages.Add(message);
            if (until(message))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Returns once the job's JobActor has handled every message sent to it before this call (Identify is answered in
    /// mailbox order): timer messages the last Clock.Advance delivered, and the gateway calls they made at once.
    /// </summary>
    private async Task JobActorCaughtUpAsync(long jobId)
    {
        var probe = CreateTestProbe();
        Sys.ActorSelection($"/user/runner/coordinator/*/job-{jobId}").Tell(new Identify(jobId), probe.Ref);
        var identity = await probe.ExpectMsgAsync<ActorIdentity>(TimeSpan.FromSeconds(15));
        Assert.NotNull(identity.Subject);
    }

    private async Task<GatewayCall> CallAsync(string kind, string? detailContains = null) =>
        (GatewayCall)await _calls.FishForMessageAsync(
            m => m is GatewayCall call && call.Kind == kind && (detailContains is null || call.Detail.Contains(detailContains)),
            TimeSpan.FromSeconds(15));

    /// <summary>Moves virtual time in steps until the condition holds: for timers that an async result starts.</summary>
    private async Task AdvanceUntilAsync(Func<bool> condition, double stepSeconds = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            Clock.Advance(TimeSpan.FromSeconds(stepSeconds));
            await Task.Delay(50);
        }
    }

    private void Behave(string stage, string output, int? exitCode) => _cluster.StageBehaviour[stage] = (output, exitCode);

    // ---- Happy path and stage results ----

    [Fact]
    public async Task A_job_runs_its_stages_in_order_and_succeeds_and_its_pod_is_deleted()
    {
        Behave("get_sources", "fetching\n", 0);
        Behave("step_script", "building\n", 0);
        Behave("after_script", "cleaning\n", 0);
        var runner = StartRunner();
        var listener = CreateTestProbe();

        runner.Tell(new RunJob(Job(1), "k8s runner", listener));
        var job = await FinishedAsync(listener);

        Assert.IsType<JobAdmitted>(job.Messages[0]);
        Assert.Equal(new JobResult(JobState.Success, null, null, "Job succeeded"), job.Result);
        Assert.Equal(["get_sources", "step_script", "after_script"], job.Stages.Where(s => s.Finished).Select(s => s.Stage));
        var trace = job.Trace;
        Assert.StartsWith("Running with scheduler 1.2.3", trace);
        Assert.Contains("Using Kubernetes namespace: default", trace);
        Assert.True(trace.IndexOf("fetching", StringComparison.Ordinal) < trace.IndexOf("building", StringComparison.Ordinal));
        Assert.True(trace.IndexOf("cleaning", StringComparison.Ordinal) < trace.IndexOf("Job succeeded", StringComparison.Ordinal));
        Assert.Equal(0, _cluster.Runs(_cluster.DeletedPods.Single(), "upload_artifacts_on_failure"));
        Assert.Single(_cluster.DeletedPods);
        Assert.Equal(1, _cluster.Count("create-pod"));
        Assert.Single(_cluster.CreatedSecrets);
        Assert.All(_cluster.CreatedSecrets, s => Assert.Equal("Pod", s.Metadata.OwnerReferences.Single().Kind));
    }

    [Fact]
    public async Task A_pod_delete_that_fails_transiently_is_tried_again_until_the_pod_is_gone()
    {
        // Three failures in a row (e.g. a 500, then two hung requests) used to leave the pod behind; the end tries more.
        Behave("step_script", "building\n", 0);
        _cluster.FailNext("delete-pod", 3, System.Net.HttpStatusCode.ServiceUnavailable);
        var runner = StartRunner();
        var listener = CreateTestProbe();

        runner.Tell(new RunJob(Job(31), "k8s runner", listener));
        var job = await FinishedAsync(listener, TimeSpan.FromSeconds(30)); // the retries wait 1, 2 and 4 s

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(4, _cluster.Count("delete-pod"));
        Assert.Single(_cluster.DeletedPods);
        Assert.DoesNotContain("Error cleaning up pod", job.Trace);
    }

    [Fact]
    public async Task A_script_exiting_3_fails_the_job_with_exit_code_3_and_after_script_still_runs()
    {
        Behave("step_script", "oops\n", 3);
        Behave("after_script", "cleanup\n", 1);
        var runner = StartRunner();
        var listener = CreateTestProbe();

        runner.Tell(new RunJob(Job(2), "k8s runner", listener));
        var job = await FinishedAsync(listener);

        Assert.Equal(new JobResult(JobState.Failed, FailureReasons.ScriptFailure, 3, "ERROR: Job failed: exit code 3"), job.Result);
        Assert.Contains(new JobStageChanged(2, "step_script", true, 3), job.Stages);
        Assert.Contains(new JobStageChanged(2, "after_script", true, 1), job.Stages);
        Assert.Contains(new JobStageChanged(2, "upload_artifacts_on_failure", true, 0), job.Stages);
        var trace = job.Trace;
        Assert.True(trace.IndexOf("oops", StringComparison.Ordinal) < trace.IndexOf("cleanup", StringComparison.Ordinal));
        Assert.Contains("ERROR: Job failed: exit code 3", trace);
        Assert.Single(_cluster.DeletedPods);
    }

    [Fact]
    public async Task A_refused_pod_fails_the_job_as_a_configuration_error_without_creating_anything()
    {
        var runner = StartRunner(Settings(kubernetes: new KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" }));
        var listener = CreateTestProbe();
        var job = Job(3, [TestData.Public(Overwrites.NamespaceVariable, "production")]);

        runner.Tell(new RunJob(job, "k8s runner", listener));
        var record = await FinishedAsync(listener);

        Assert.Equal(JobState.Failed, record.Result.State);
        Assert.Equal(FailureReasons.RunnerConfigurationError, record.Result.FailureReason);
        Assert.Contains("production", record.Trace);
        Assert.Equal(0, _cluster.Count("create-pod"));
    }

    [Fact]
    public async Task A_job_image_outside_allowed_images_fails_the_job_with_the_reason_without_creating_anything()
    {
        var runner = StartRunner(Settings(kubernetes: new KubernetesSettings { AllowedImages = ["ruby:*"] }));
        var listener = CreateTestProbe();
        var job = Job(3) with { Image = new JobImage { Name = "evil/miner:latest" } };

        runner.Tell(new RunJob(job, "k8s runner", listener));
        var record = await FinishedAsync(listener);

        Assert.Equal(FailureReasons.RunnerConfigurationError, record.Result.FailureReason);
        Assert.Contains("the image \"evil/miner:latest\" is not present on the list of allowed images", record.Trace);
        Assert.Equal(0, _cluster.Count("create-pod") + _cluster.Count("create-secret"));
    }

    [Fact]
    public async Task A_job_for_an_unknown_runner_fails_at_once()
    {
        var runner = StartRunner();
        var listener = CreateTestProbe();

        runner.Tell(new RunJob(Job(4), "nobody", listener));
        var finished = await listener.ExpectMsgAsync<JobFinished>();

        Assert.Equal(FailureReasons.RunnerConfigurationError, finished.Result.FailureReason);
        Assert.Contains("nobody", finished.Result.Message);
    }

    // ---- Waiting for the pod ----

    [Fact]
    public async Task The_pod_is_found_running_by_a_poll_when_no_watch_event_comes()
    {
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(5), "k8s runner", listener));
        var heard = await PodWaitingAsync(listener);
        var pod = _cluster.PodOf(5)!;

        _cluster.SetPodStatus(pod, "Running", notify: false);
        Clock.Advance(TimeSpan.FromSeconds(3));
        var job = await FinishedAsync(listener, heard: heard);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains($"Waiting for pod default/{pod} to be running, status is Pending", job.Trace);
        Assert.True(_cluster.Count("read-pod") >= 1);
    }

    [Fact]
    public async Task The_pod_is_found_running_by_a_watch_event_without_polling()
    {
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(6), "k8s runner", listener));
        var heard = await PodWaitingAsync(listener);

        _cluster.SetPodStatus(_cluster.PodOf(6)!, "Running");
        var job = await FinishedAsync(listener, heard: heard);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(0, _cluster.Count("read-pod"));
    }

    [Fact]
    public async Task A_pod_that_never_runs_fails_the_job_at_poll_timeout_with_the_reason_it_waits()
    {
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner(Settings(kubernetes: new KubernetesSettings { PollInterval = 3, PollTimeout = 30 }));
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(7), "k8s runner", listener));
        var heard = await PodWaitingAsync(listener);
        _cluster.SetPodStatus(_cluster.PodOf(7)!, "Pending", notify: false, condition: new V1PodCondition
        {
            Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/1 nodes are available: 1 Insufficient cpu.",
        });

        Clock.Advance(TimeSpan.FromSeconds(3));
        await CallAsync("read-pod");
        // The read's answer has reached the PodActor once its waiting line (with the reason) is in the trace.
        await HearUntilAsync(listener, heard, m => m is JobTraceChunk chunk && Encoding.UTF8.GetString(chunk.Bytes).Contains("Unschedulable"));
        Clock.Advance(TimeSpan.FromSeconds(27));
        var job = await FinishedAsync(listener, heard: heard);

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.Equal(FailureReasons.RunnerSystemFailure, job.Result.FailureReason);
        Assert.Contains("timed out waiting for pod to start", job.Result.Message);
        Assert.Contains("\tUnschedulable: \"0/1 nodes are available: 1 Insufficient cpu.\"", job.Trace);
        Assert.Single(_cluster.DeletedPods);
    }

    [Theory]
    [InlineData("ErrImagePull", FailureReasons.ImagePullFailure)]
    [InlineData("ImagePullBackOff", FailureReasons.ImagePullFailure)]
    [InlineData("InvalidImageName", FailureReasons.ImagePullFailure)]
    [InlineData("CreateContainerConfigError", FailureReasons.RunnerConfigurationError)]
    public async Task A_terminal_container_error_fails_the_job_fast(string waitingReason, string failureReason)
    {
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(8), "k8s runner", listener));
        var heard = await PodWaitingAsync(listener);

        _cluster.SetPodStatus(_cluster.PodOf(8)!, "Pending", waitingReason, "pull access denied for nothing:latest");
        var job = await FinishedAsync(listener, heard: heard);

        Assert.Equal(JobState.Failed, job.Result.State);
        Assert.Equal(failureReason, job.Result.FailureReason);
        Assert.Contains("pull access denied", job.Result.Message);
        Assert.Single(_cluster.DeletedPods);
        Assert.Equal(0, _cluster.Count("run"));
    }

    // ---- Cancellation and timeouts ----

    [Fact]
    public async Task A_forceful_cancel_aborts_at_once_and_deletes_the_pod()
    {
        Behave("step_script", "working\n", null);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(9), "k8s runner", listener));
        await CallAsync("run", "step_script");

        runner.Tell(new CancelJob(9, Graceful: false));
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.Single(_cluster.DeletedPods);
        Assert.Equal(0, _cluster.Runs(_cluster.DeletedPods.Single(), "after_script"));
        Assert.Equal(0, _cluster.Count("mark-canceled"));
        Assert.EndsWith("ERROR: Job failed: canceled\u001b[0;m\n", job.Trace);
    }

    [Fact]
    public async Task A_graceful_cancel_stops_the_script_and_still_runs_after_script()
    {
        Behave("step_script", "working\n", null);
        Behave("after_script", "after\n", 0);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(10), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(10)!;

        runner.Tell(new CancelJob(10, Graceful: true));
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.Equal(1, _cluster.Count("kill"));
        Assert.Contains(new JobStageChanged(10, "step_script", true, 143), job.Stages);
        Assert.Equal(1, _cluster.Runs(pod, "after_script"));
        Assert.Equal(1, _cluster.Runs(pod, "upload_artifacts_on_failure"));
        Assert.Contains("after\n", job.Trace);
        Assert.Equal([pod], _cluster.DeletedPods);
        // The pod learns of the cancel before the script is killed, so after_script reads CI_JOB_STATUS=canceled.
        var kinds = _cluster.History.Select(call => call.Kind).ToList();
        Assert.Equal(1, _cluster.Count("mark-canceled"));
        Assert.True(kinds.IndexOf("mark-canceled") < kinds.IndexOf("kill"), string.Join(", ", kinds));
    }

    [Fact]
    public async Task A_graceful_cancel_goes_on_when_the_cancel_mark_cannot_be_written()
    {
        Behave("step_script", "working\n", null);
        Behave("after_script", "after\n", 0);
        _cluster.FailNext("mark-canceled", 1, HttpStatusCode.Forbidden);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(11), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(11)!;

        runner.Tell(new CancelJob(11, Graceful: true));
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.Equal(1, _cluster.Count("kill"));
        Assert.Equal(1, _cluster.Runs(pod, "after_script"));
    }

    [Fact]
    public async Task The_job_timeout_kills_the_script_and_fails_the_job()
    {
        Behave("step_script", "forever\n", null);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        _cluster.Clock = () => Clock.Now;
        var admittedAt = Clock.Now; // virtual time does not move until the test advances it
        runner.Tell(new RunJob(Job(11, timeout: 60), "k8s runner", listener));
        await CallAsync("run", "step_script");

        Clock.Advance(TimeSpan.FromSeconds(59));
        await JobActorCaughtUpAsync(11);
        Assert.Equal(0, _cluster.Count("kill"));
        Assert.Empty(_cluster.DeletedPods);
        Clock.Advance(TimeSpan.FromSeconds(1));
        var job = await FinishedAsync(listener);

        Assert.Equal(new JobResult(JobState.Failed, FailureReasons.JobExecutionTimeout, null,
            "ERROR: Job failed: execution took longer than 1m0s seconds"), job.Result);
        var kill = Assert.Single(_cluster.Timeline, entry => entry.Call.Kind == "kill");
        Assert.Equal(TimeSpan.FromSeconds(60), kill.At - admittedAt);
        Assert.Contains("forever", job.Trace);
        Assert.Single(_cluster.DeletedPods);
    }

    // ---- Faults: dropped connections and a crashing JobActor ----

    [Fact]
    public async Task A_dropped_run_exec_is_run_again_only_waits_and_is_never_taken_as_the_end_of_the_stage()
    {
        Behave("step_script", "done\n", 0);
        _cluster.DropNextWait("step_script", times: 2);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(12), "k8s runner", listener));

        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(12)!;
        await AdvanceUntilAsync(() => _cluster.DeletedPods.Count > 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(1, job.Stages.Count(s => s is { Stage: "step_script", Finished: true }));
        Assert.Equal(5, _cluster.Count("run")); // step_script three times (two dropped), get_sources and after_script once
        Assert.Equal(1, _cluster.Runs(pod, "step_script")); // the runs after a drop only waited
    }

    [Fact]
    public async Task A_run_exec_refused_503_once_is_run_again_after_the_pause_with_a_warning_and_the_job_succeeds()
    {
        Behave("get_sources", "fetched\n", 0);
        Behave("step_script", "done\n", 0);
        _cluster.FailNext("run", 1, HttpStatusCode.ServiceUnavailable); // the job's first run exec: get_sources
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Akka.Event.Warning));
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(20), "k8s runner", listener));

        await CallAsync("run", "get_sources");
        var warning = (Akka.Event.Warning)await warnings.FishForMessageAsync(
            m => m is Akka.Event.Warning w && w.Message.ToString()!.Contains("503", StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        await JobActorCaughtUpAsync(20);
        Assert.Equal(1, _cluster.Count("run")); // nothing runs again before the pause is over
        var pod = _cluster.PodOf(20)!;
        await AdvanceUntilAsync(() => _cluster.DeletedPods.Count > 0);
        var job = await FinishedAsync(listener);

        Assert.Contains("retry 1", warning.Message.ToString(), StringComparison.Ordinal);
        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(1, _cluster.Runs(pod, "get_sources"));
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
        Assert.Equal(4, _cluster.Count("run")); // get_sources twice (refused once), step_script and after_script once
    }

    [Fact]
    public async Task A_graceful_cancel_during_the_reattach_pause_ends_canceled_and_still_runs_after_script()
    {
        Behave("step_script", "working\n", null);
        Behave("after_script", "after\n", 0);
        _cluster.DropNextWait("step_script");
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(21), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(21)!;
        await Task.Delay(200);
        await JobActorCaughtUpAsync(21); // the drop is in: the stage waits out its reattach pause (virtual time stands still)

        runner.Tell(new CancelJob(21, Graceful: true));
        await CallAsync("kill", "step_script");
        await AdvanceUntilAsync(() => _cluster.DeletedPods.Count > 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.Contains(new JobStageChanged(21, "step_script", true, 143), job.Stages);
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
        Assert.Equal(1, _cluster.Runs(pod, "after_script"));
        Assert.Contains("after\n", job.Trace);
        Assert.Equal([pod], _cluster.DeletedPods);
    }

    [Fact]
    public async Task A_run_exec_that_answers_after_a_forceful_cancel_is_dropped()
    {
        Behave("step_script", "building\n", null);
        var late = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _cluster.LateRunAnswer["step_script"] = late.Task;
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(22), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(22)!;

        runner.Tell(new CancelJob(22, Graceful: false));
        await CallAsync("kill", "step_script");
        late.SetResult("9 0\n"); // the canceled run's exec answers after all, with an exit code
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.DoesNotContain(job.Stages, s => s is { Stage: "step_script", Finished: true });
        Assert.Equal(0, _cluster.Runs(pod, "after_script"));
        Assert.Equal([pod], _cluster.DeletedPods);
    }

    [Fact]
    public async Task A_forceful_cancel_finishes_the_job_even_when_stopping_the_run_exec_throws()
    {
        Behave("step_script", "working\n", null);
        _cluster.RunExecStarted["step_script"] = ct => ct.Register(() => throw new InvalidOperationException("callback broke"));
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(23), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(23)!;

        runner.Tell(new CancelJob(23, Graceful: false));
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Canceled, job.Result.State);
        Assert.Equal([pod], _cluster.DeletedPods);
        Assert.Equal(1, _cluster.Count("create-pod")); // the actor did not restart
    }

    [Fact]
    public async Task A_job_reads_its_whole_log_with_one_exec_and_runs_one_exec_per_stage()
    {
        Behave("get_sources", "fetched\n", 0);
        Behave("step_script", "built\n", 0);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(50), "k8s runner", listener));

        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains("fetched\n", job.Trace, StringComparison.Ordinal);
        Assert.Contains("built\n", job.Trace, StringComparison.Ordinal);
        Assert.Equal(1, _cluster.Count("read-log")); // read on to the size after_script reported: no final read
        Assert.Equal(3, _cluster.Count("run"));      // get_sources, step_script, after_script
    }

    [Fact]
    public async Task The_log_reader_reattaches_at_its_offset_after_a_drop_without_gap_or_duplicate()
    {
        Behave("get_sources", "0123456789abcdef\n", 0);
        Behave("step_script", "second part\n", null);
        _cluster.DropLogReaderAfter(5);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(13), "k8s runner", listener));
        await CallAsync("run", "step_script");

        await AdvanceUntilAsync(() => _cluster.Count("read-log") >= 2);
        var second = _cluster.History.Where(c => c.Kind == "read-log").ElementAt(1);
        _cluster.FinishStage(_cluster.PodOf(13)!, "step_script", 0);
        var job = await FinishedAsync(listener);

        Assert.EndsWith(" 5 follow", second.Detail);
        var trace = job.Trace;
        Assert.Contains("0123456789abcdef\nsecond part\n", trace);
        Assert.Equal(1, CountOf(trace, "0123456789abcdef"));
        Assert.Equal(1, CountOf(trace, "second part"));
    }

    [Fact]
    public async Task A_crashed_job_actor_adopts_its_pod_and_finishes_without_running_finished_stages_again()
    {
        Behave("get_sources", "fetched once\n", 0);
        Behave("step_script", "building once\n", null);
        Behave("after_script", "after\n", 0);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(14), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(14)!;
        Assert.Contains("building once", _cluster.LogText(pod));

        Sys.ActorSelection("/user/runner/coordinator/slot-0/job-14").Tell(Kill.Instance);
        await AdvanceUntilAsync(() => _cluster.Count("create-pod") == 2, stepSeconds: 0.5); // after its restart backoff
        await CallAsync("create-pod");                  // the restarted actor finds its pod by name
        await CallAsync("run", "step_script");         // and waits for the stage that was running
        _cluster.FinishStage(pod, "step_script", 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(2, _cluster.Count("create-pod"));
        Assert.Equal([pod], _cluster.DeletedPods);
        Assert.Equal(1, _cluster.Runs(pod, "get_sources"));
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
        Assert.Equal(1, _cluster.Runs(pod, "after_script"));
        var trace = job.Trace;
        Assert.Equal(1, CountOf(trace, "fetched once"));
        Assert.Equal(1, CountOf(trace, "building once"));
        Assert.Equal(1, CountOf(trace, "Running with scheduler"));
        Assert.Single(job.Messages.OfType<JobAdmitted>());
        Assert.Contains("after\n", trace);
    }

    [Fact]
    public async Task A_run_exec_that_answers_after_the_job_actor_restarted_is_not_taken_as_the_end_of_the_stage()
    {
        Behave("step_script", "building\n", null);
        var late = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _cluster.LateRunAnswer["step_script"] = late.Task;
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(16), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(16)!;

        Sys.ActorSelection("/user/runner/coordinator/slot-0/job-16").Tell(Kill.Instance);
        await AdvanceUntilAsync(() => _cluster.Count("create-pod") == 2, stepSeconds: 0.5); // after its restart backoff
        await CallAsync("run", "step_script"); // the restarted actor waits for the stage again
        late.SetResult("9 0\n");               // the first instance's exec answers now, with another exit code
        await Task.Delay(300);
        await JobActorCaughtUpAsync(16);
        _cluster.FinishStage(pod, "step_script", 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal([0], job.Stages.Where(s => s is { Stage: "step_script", Finished: true }).Select(s => s.ExitCode));
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
    }

    [Fact]
    public async Task A_job_actor_that_keeps_crashing_is_stopped_and_its_job_fails_as_a_system_failure_freeing_its_slot()
    {
        Behave("step_script", "", null);
        var runner = StartRunner();
        var (listener, next) = (CreateTestProbe(), CreateTestProbe());
        runner.Tell(new RunJob(Job(18), "k8s runner", listener));
        runner.Tell(new RunJob(Job(19), "k8s runner", next));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(18)!;

        for (var crash = 1; crash <= 4; crash++)
        {
            Sys.ActorSelection("/user/runner/coordinator/slot-0/job-18").Tell(Kill.Instance);
            if (crash < 4)
            {
                var creates = crash + 1;
                await AdvanceUntilAsync(() => _cluster.Count("create-pod") == creates, stepSeconds: 0.5); // after the backoff
                await CallAsync("create-pod"); // restarted: it adopts its pod again
            }
        }

        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(15));
        Assert.Equal((JobState.Failed, FailureReasons.RunnerSystemFailure), (finished.Result.State, finished.Result.FailureReason));
        Assert.Equal(new JobAdmitted(19, "k8s runner"), await next.ExpectMsgAsync<JobAdmitted>());
        await AwaitAssertAsync(() => Assert.Contains(pod, _cluster.DeletedPods)); // not left running
    }

    [Fact]
    public async Task A_job_actor_stopped_for_good_deletes_its_pod_even_when_stopping_the_run_exec_throws()
    {
        Behave("step_script", "", null);
        _cluster.RunExecStarted["step_script"] = ct => ct.Register(() => throw new InvalidOperationException("callback broke"));
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(24), "k8s runner", listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(24)!;

        for (var crash = 1; crash <= 4; crash++)
        {
            Sys.ActorSelection("/user/runner/coordinator/slot-0/job-24").Tell(Kill.Instance);
            if (crash < 4)
            {
                var creates = crash + 1;
                await AdvanceUntilAsync(() => _cluster.Count("create-pod") == creates, stepSeconds: 0.5); // after the backoff
                await CallAsync("run", "step_script"); // restarted: it waits for its stage again, a run exec in flight
            }
        }

        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(15));
        Assert.Equal(FailureReasons.RunnerSystemFailure, finished.Result.FailureReason);
        await AwaitAssertAsync(() => Assert.Contains(pod, _cluster.DeletedPods)); // PostStop's clean-up ran, the run stopped last
    }

    // ---- Masking and limits ----

    [Fact]
    public async Task Masked_variables_and_the_job_token_never_reach_the_trace_even_split_across_reads()
    {
        Behave("step_script", $"value=s3cr3t-value-123 token={TestData.JobToken}\n", 0);
        _cluster.DropLogReaderAfter(10); // splits the secret between two reads
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(15, [TestData.Masked("SECRET_VAR", "s3cr3t-value-123")]), "k8s runner", listener));
        await CallAsync("read-log", "follow");
        await AdvanceUntilAsync(() => _cluster.DeletedPods.Count > 0);
        var job = await FinishedAsync(listener);

        var trace = job.Trace;
        Assert.DoesNotContain("s3cr3t-value-123", trace);
        Assert.DoesNotContain(TestData.JobToken, trace);
        Assert.Contains("value=[MASKED] token=[MASKED]", trace);
    }

    [Fact]
    public async Task Output_beyond_the_runner_output_limit_is_cut_with_one_notice()
    {
        Behave("step_script", new string('x', 3000) + "\n", 0);
        var runner = StartRunner(new GlobalSettings { Concurrent = 1, Runners = [TestData.Runner() with { OutputLimit = 1 }] });
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(16), "k8s runner", listener));

        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Equal(1, CountOf(job.Trace, "Job's log exceeded limit of 1024 bytes."));
        Assert.DoesNotContain("Job succeeded", job.Trace);
    }

    [Fact]
    public async Task Artifact_archives_are_copied_into_the_artifacts_dir_after_the_post_build_stages()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-artifacts-" + Guid.NewGuid().ToString("N"));
        _cluster.Files["/var/run/scheduler/run/artifacts/0.zip"] = [1, 2, 3, 4];
        var runner = StartRunner(artifacts: ["/var/run/scheduler/run/artifacts/0.zip", "/var/run/scheduler/run/artifacts/1.zip"],
            artifactsDir: dir);
        var listener = CreateTestProbe();
        try
        {
            runner.Tell(new RunJob(Job(17), "k8s runner", listener));
            var job = await FinishedAsync(listener);

            Assert.Equal(JobState.Success, job.Result.State);
            Assert.Equal([1, 2, 3, 4], File.ReadAllBytes(Path.Combine(dir, "0.zip")));
            Assert.False(File.Exists(Path.Combine(dir, "1.zip")));
            Assert.Contains("no artifact archive /var/run/scheduler/run/artifacts/1.zip", job.Trace);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    // ---- Admission ----

    [Fact]
    public async Task Concurrent_2_never_runs_a_third_job_at_once_the_third_waits_then_runs()
    {
        Behave("step_script", "", null);
        var runner = StartRunner(Settings(concurrent: 2));
        var listeners = Enumerable.Range(0, 3).Select(_ => CreateTestProbe()).ToList();

        for (var i = 0; i < 3; i++)
        {
            runner.Tell(new RunJob(Job(20 + i), "k8s runner", listeners[i]));
        }

        await listeners[0].ExpectMsgAsync<JobAdmitted>();
        await listeners[1].ExpectMsgAsync<JobAdmitted>();
        await CallAsync("run", "step_script");
        await CallAsync("run", "step_script");
        // The coordinator answers after it has handled the three jobs: an admission of the third would be there already.
        var capacity = await runner.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal((2, 1), (capacity.RunningPerRunner["k8s runner"], capacity.Waiting));
        Assert.False(listeners[2].HasMessages);
        Assert.Equal(2, _cluster.Count("create-pod"));

        _cluster.FinishStage(_cluster.PodOf(20)!, "step_script", 0);
        Assert.Equal(JobState.Success, (await FinishedAsync(listeners[0])).Result.State);
        Assert.Equal(new JobAdmitted(22, "k8s runner"), await listeners[2].ExpectMsgAsync<JobAdmitted>());
        await CallAsync("run", "step_script");
        Assert.Equal(2, _cluster.LiveRunsOfAnyPod("step_script"));

        _cluster.FinishStage(_cluster.PodOf(21)!, "step_script", 0);
        _cluster.FinishStage(_cluster.PodOf(22)!, "step_script", 0);
        Assert.Equal(JobState.Success, (await FinishedAsync(listeners[1])).Result.State);
        Assert.Equal(JobState.Success, (await FinishedAsync(listeners[2])).Result.State);
    }

    [Fact]
    public async Task A_runner_limit_holds_its_jobs_back_while_other_runners_still_run()
    {
        Behave("step_script", "", null);
        var settings = new GlobalSettings
        {
            Concurrent = 5,
            Runners = [TestData.Runner(name: "limited") with { Limit = 1 }, TestData.Runner(name: "free")],
        };
        var runner = StartRunner(settings);
        var (first, second, other) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());

        runner.Tell(new RunJob(Job(30), "limited", first));
        runner.Tell(new RunJob(Job(31), "limited", second));
        runner.Tell(new RunJob(Job(32), "free", other));

        await first.ExpectMsgAsync<JobAdmitted>();
        await other.ExpectMsgAsync<JobAdmitted>();
        var capacity = await runner.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal((1, 1, 1), (capacity.RunningPerRunner["limited"], capacity.RunningPerRunner["free"], capacity.Waiting));
        Assert.False(second.HasMessages);
        await AwaitAssertAsync(() => Assert.NotNull(_cluster.PodOf(30)));
        await CallAsync("run", "step_script");

        _cluster.FinishStage(_cluster.PodOf(30)!, "step_script", 0);
        await FinishedAsync(first);
        Assert.Equal(new JobAdmitted(31, "limited"), await second.ExpectMsgAsync<JobAdmitted>());
    }

    [Fact]
    public async Task A_waiting_job_can_be_canceled_before_it_gets_a_slot()
    {
        Behave("step_script", "", null);
        var runner = StartRunner();
        var (first, second) = (CreateTestProbe(), CreateTestProbe());
        runner.Tell(new RunJob(Job(40), "k8s runner", first));
        runner.Tell(new RunJob(Job(41), "k8s runner", second));
        await first.ExpectMsgAsync<JobAdmitted>();

        runner.Tell(new CancelJob(41, Graceful: true));

        var finished = await second.ExpectMsgAsync<JobFinished>();
        Assert.Equal(JobState.Canceled, finished.Result.State);
        Assert.Null(_cluster.PodOf(41));
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
