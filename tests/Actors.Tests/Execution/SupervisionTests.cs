using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>Actors killed on purpose while a job runs: the job still finishes, once, with its whole trace in order.</summary>
public sealed class SupervisionTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private readonly FakeCluster _cluster = new();

    public SupervisionTests(ITestOutputHelper output) : base(VirtualTime, "supervision", output)
    {
        _cluster.Probe = CreateTestProbe("gateway-calls");
        _cluster.InitialPhase = "Running";
        _cluster.StageBehaviour["get_sources"] = ("fetching\n", 0);
        _cluster.StageBehaviour["step_script"] = ("building\n", null); // runs until the test finishes it
        _cluster.StageBehaviour["after_script"] = ("cleaning\n", 0);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private IActorRef StartRunner()
    {
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, null, () => "s0000001")
        {
            Planner = new FakePlanner(FakePlanner.StandardStages, null),
        };
        return Sys.ActorOf(RunnerSupervisor.Props(new GlobalSettings { Concurrent = 2, Runners = [TestData.Runner()] }, _cluster,
            options), "runner");
    }

    private async Task<JobRecord> FinishedAsync(TestProbe listener)
    {
        var messages = new List<object>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            // Moves virtual time a little each round: a restarted JobActor resumes after its backoff.
            var message = await listener.ReceiveOneAsync(TimeSpan.FromMilliseconds(100));
            if (message is null)
            {
                Assert.True(DateTime.UtcNow < deadline, "the job did not finish");
                Clock.Advance(TimeSpan.FromMilliseconds(500));
                continue;
            }

            messages.Add(message);
            if (message is JobFinished)
            {
                return new JobRecord(messages);
            }
        }
    }

    [Theory]
    [InlineData("/user/runner/coordinator")]
    [InlineData("/user/runner/coordinator/slot-0")]
    [InlineData("/user/runner/coordinator/slot-0/log-70")]
    [InlineData("/user/runner/coordinator/slot-0/job-70")]
    public async Task A_crash_of_an_actor_on_the_jobs_path_loses_neither_the_job_nor_a_byte_of_its_trace(string path)
    {
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job() with { Id = 70 }, "k8s runner", listener));
        var pod = await AwaitPodAsync(70);
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));
        await AwaitAssertAsync(() => Assert.Contains("building", _cluster.LogText(pod)));

        var crashed = await Sys.ActorSelection(path).ResolveOne(TimeSpan.FromSeconds(5));
        crashed.Tell(CrashForTest.Instance);
        await Task.Delay(200); // let the restart happen before the stage ends (the order the test is about)
        _cluster.FinishStage(pod, "step_script", 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        var trace = job.Trace; // checks the chunks are contiguous: no gap, no duplicate offset
        Assert.Equal(1, Count(trace, "fetching\n"));
        Assert.Equal(1, Count(trace, "building\n"));
        Assert.Equal(1, Count(trace, "cleaning\n"));
        Assert.Equal(1, Count(trace, "Job succeeded"));
        Assert.Single(job.Messages.OfType<JobFinished>());
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
        Assert.Equal([pod], _cluster.DeletedPods);
    }

    [Fact]
    public async Task After_a_coordinator_crash_the_slots_are_still_counted_and_a_finished_job_frees_its_slot()
    {
        var runner = StartRunner();
        var (first, second, third) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        runner.Tell(new RunJob(TestData.Job() with { Id = 71 }, "k8s runner", first));
        runner.Tell(new RunJob(TestData.Job() with { Id = 72 }, "k8s runner", second));
        await AwaitAssertAsync(() => Assert.Equal(2, _cluster.LiveRunsOfAnyPod("step_script")));

        Sys.ActorSelection("/user/runner/coordinator").Tell(CrashForTest.Instance);
        runner.Tell(new RunJob(TestData.Job() with { Id = 73 }, "k8s runner", third));
        await third.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)); // concurrent = 2: it waits
        var capacity = await runner.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal((2, 1), (capacity.Running, capacity.Waiting));

        _cluster.FinishStage(_cluster.PodOf(71)!, "step_script", 0);
        Assert.Equal(JobState.Success, (await FinishedAsync(first)).Result.State);
        Assert.Equal(new JobAdmitted(73, "k8s runner"), await third.ExpectMsgAsync<JobAdmitted>());
    }

    [Fact]
    public async Task A_cancel_while_the_pod_create_is_retried_ends_the_job_at_once_and_leaves_no_Secret_behind()
    {
        // The API server answers 500 to every pod create: the PodActor backs off and retries within the job's budget. The
        // job has registry credentials, so its registry Secret exists (made before the pod) and has no owner yet.
        _cluster.FailNext("create-pod", 100, System.Net.HttpStatusCode.InternalServerError);
        var runner = StartRunner();
        var listener = CreateTestProbe();
        var job = TestData.Job(credentials:
            [new global::Scheduler.Messages.Jobs.JobCredential { Type = "registry", Url = "registry.example.com", Username = "u", Password = "p" }]);
        runner.Tell(new RunJob(job with { Id = 74 }, "k8s runner", listener));
        await AwaitAssertAsync(() => Assert.True(_cluster.Count("create-pod") >= 1));
        var registrySecret = Assert.Single(_cluster.SecretNames()); // the job Secret comes after the pod, this one before

        runner.Tell(new CancelJob(74, Graceful: false));
        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(10));

        Assert.Equal(JobState.Canceled, finished.Result.State);
        await AwaitAssertAsync(() => Assert.Empty(_cluster.SecretNames()));
        Assert.Contains(registrySecret, _cluster.DeletedSecrets);
        Assert.Empty(_cluster.PodNames());
        Assert.Equal(1, _cluster.Count("create-secret")); // the registry Secret only
    }

    [Fact]
    public async Task A_job_timeout_while_the_pod_create_hangs_ends_the_job_once_the_call_answers_and_cleans_up()
    {
        var hold = _cluster.HoldNext("create-pod");
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job(timeout: 60) with { Id = 75 }, "k8s runner", listener));
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.Count("create-pod")));

        Clock.Advance(TimeSpan.FromSeconds(61));
        await Task.Delay(300); // the timeout reaches the JobActor and its stop the PodActor before the create answers
        hold.SetResult(); // the create lands after the timeout: the pod it made must not outlive the job

        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(10));
        Assert.Equal((JobState.Failed, FailureReasons.JobExecutionTimeout), (finished.Result.State, finished.Result.FailureReason));
        await AwaitAssertAsync(() => Assert.Empty(_cluster.PodNames()));
        await AwaitAssertAsync(() => Assert.Empty(_cluster.SecretNames()));
        Assert.Equal(0, _cluster.Count("create-secret")); // stopped before it went on to the job Secret
    }

    [Fact]
    public async Task A_log_that_cannot_be_read_to_its_end_says_so_in_the_trace_instead_of_ending_short()
    {
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job() with { Id = 76 }, "k8s runner", listener));
        var pod = await AwaitPodAsync(76);
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));

        // From now on every new read of the log is refused, and the follow reader drops at the stage's last output: neither
        // it (up to the size the stage reports) nor the final read that follows it can read the output's end.
        _cluster.FailNext("read-log", 100, System.Net.HttpStatusCode.ServiceUnavailable);
        _cluster.DropLogReaderAfter(0);
        _cluster.Append(pod, "the end of the output\n");
        _cluster.FinishStage(pod, "step_script", 0);
        var job = await FinishedAsync(listener);

        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains("WARNING: the rest of the job's output could not be read after 10 attempts", job.Trace);
        Assert.True(_cluster.Count("read-log") >= 1 + 10);
    }

    [Fact]
    public async Task A_log_stream_that_keeps_crashing_ends_the_job_as_a_system_failure_instead_of_hanging_it()
    {
        var runner = StartRunner();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(TestData.Job() with { Id = 77 }, "k8s runner", listener));
        var pod = await AwaitPodAsync(77);
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));

        var log = await Sys.ActorSelection("/user/runner/coordinator/slot-0/log-77").ResolveOne(TimeSpan.FromSeconds(5));
        for (var crash = 0; crash < 4; crash++)
        {
            log.Tell(CrashForTest.Instance); // more than the slot allows in a minute: it stops the log stream
        }

        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(15));
        Assert.Equal((JobState.Failed, FailureReasons.RunnerSystemFailure), (finished.Result.State, finished.Result.FailureReason));
        await AwaitAssertAsync(() => Assert.Contains(pod, _cluster.DeletedPods)); // not left running
        var capacity = await runner.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal(0, capacity.Running); // the slot is free
    }

    private async Task<string> AwaitPodAsync(long jobId)
    {
        string? pod = null;
        await AwaitAssertAsync(() => Assert.NotNull(pod = _cluster.PodOf(jobId)));
        return pod!;
    }

    private static int Count(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
