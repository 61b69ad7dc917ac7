using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Intake;

/// <summary>A job source that answers from a script (then 204) and reports every request to a probe.</summary>
internal sealed class ScriptedJobSource(IActorRef calls) : IJobSource
{
    public ConcurrentQueue<JobRequestOutcome> Answers { get; } = new();

    public Task<JobRequestOutcome> RequestJobAsync(CancellationToken ct)
    {
        calls.Tell("asked");
        return Task.FromResult(Answers.TryDequeue(out var answer) ? answer : new JobRequestOutcome.NoJob());
    }
}

/// <summary>Listeners that live until stopped (the test ends a job by stopping its listener).</summary>
internal sealed class IdleListeners(IActorRef aborts) : IJobListenerFactory
{
    public Props ListenerProps(JobPayload job, string runnerName, IActorRef supervisor) =>
        Props.Create(() => new IdleListener(aborts));

    private sealed class IdleListener : ReceiveActor
    {
        public IdleListener(IActorRef aborts) => Receive<AbortJob>(abort => aborts.Tell(abort));
    }
}

public sealed class JobIntakeTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Unhealthy = TimeSpan.FromSeconds(60);

    private readonly TestProbe _calls;
    private readonly TestProbe _supervisor;
    private readonly TestProbe _aborts;
    private readonly ScriptedJobSource _source;

    public JobIntakeTests(ITestOutputHelper output) : base(VirtualTime, "intake", output)
    {
        _calls = CreateTestProbe("calls");
        _supervisor = CreateTestProbe("supervisor");
        NodeSlots.GrantAll(_supervisor);
        _aborts = CreateTestProbe("aborts");
        _source = new ScriptedJobSource(_calls);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static JobRequestOutcome Job(long id) => new JobRequestOutcome.Received(TestData.Job() with { Id = id });

    private readonly List<IActorRef> _intakes = [];

    private IActorRef StartIntake(int concurrent = 1, int limit = 0, string name = "r1", IJobSource? source = null)
    {
        var intake = Sys.ActorOf(JobIntake.Props(name,
            new IntakeLimits(concurrent, limit, Interval) { UnhealthyRequestsLimit = 1, UnhealthyInterval = Unhealthy }, source ?? _source,
            new IdleListeners(_aborts), _supervisor));
        _intakes.Add(intake);
        return intake;
    }

    // Virtual time moves only once every intake has handled its source's answer (which arrives asynchronously), so the
    // timer it sets from that answer starts at the current virtual time, not after the advance.
    private void Advance(TimeSpan by)
    {
        foreach (var intake in _intakes)
        {
            AwaitAssert(() => Assert.False(Status(intake).RequestInFlight));
        }
        Clock.Advance(by);
    }

    private void ExpectAsked() => _calls.ExpectMsg("asked");

    private void ExpectNotAskedWithin(TimeSpan virtualTime)
    {
        Advance(virtualTime);
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
    }

    private IntakeStatus Status(IActorRef intake) => intake.Ask<IntakeStatus>(GetIntakeStatus.Instance).Result;

    [Fact]
    public void A_204_waits_for_the_next_check_interval()
    {
        StartIntake();
        ExpectAsked();
        ExpectNotAskedWithin(Interval - TimeSpan.FromMilliseconds(10));
        Advance(TimeSpan.FromMilliseconds(10));
        ExpectAsked();
    }

    [Fact]
    public void A_received_job_goes_to_the_supervisor_with_its_own_listener_and_takes_the_only_slot()
    {
        _source.Answers.Enqueue(Job(7));
        var intake = StartIntake(concurrent: 1);
        ExpectAsked();
        var run = _supervisor.ExpectMsg<RunJob>();
        Assert.Equal(7, run.Job.Id);
        Assert.Equal("r1", run.RunnerName);
        Assert.Equal("job-7", run.Listener.Path.Name);

        // No free slot: no request however long the job runs.
        ExpectNotAskedWithin(TimeSpan.FromSeconds(30));
        Assert.Equal([7L], Status(intake).RunningJobs);

        // The job ends (its listener stops): the intake asks again at once.
        Sys.Stop(run.Listener);
        ExpectAsked();
    }

    [Fact]
    public void After_a_received_job_it_asks_again_at_once_while_a_slot_is_free_and_polls_on_check_interval_when_idle()
    {
        _source.Answers.Enqueue(Job(1));
        _source.Answers.Enqueue(Job(2));
        var intake = StartIntake(concurrent: 3);

        // No virtual time passes: each job received is followed by the next request at once.
        ExpectAsked();
        ExpectAsked();
        ExpectAsked(); // answered 204: the source is idle
        Assert.Equal(2, _supervisor.ReceiveN(2).OfType<RunJob>().Count());
        ExpectNotAskedWithin(Interval - TimeSpan.FromMilliseconds(10));
        Advance(TimeSpan.FromMilliseconds(10));
        ExpectAsked();
        Assert.Equal([1L, 2L], Status(intake).RunningJobs);
    }

    [Theory]
    [InlineData(2, 0, 2)]
    [InlineData(3, 1, 1)]
    [InlineData(1, 5, 1)]
    public void Never_more_jobs_than_concurrent_and_limit_allow(int concurrent, int limit, int expectedRunning)
    {
        for (var i = 1; i <= 4; i++)
        {
            _source.Answers.Enqueue(Job(100 + i));
        }

        var intake = StartIntake(concurrent, limit);
        for (var i = 0; i < expectedRunning; i++)
        {
            ExpectAsked();
            _supervisor.ExpectMsg<RunJob>();
            Advance(Interval);
        }

        ExpectNotAskedWithin(TimeSpan.FromSeconds(30));
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(expectedRunning, Status(intake).RunningJobs.Count);
    }

    [Fact]
    public void A_forbidden_token_marks_the_entry_unhealthy_and_slows_it_without_touching_another_entry()
    {
        var otherCalls = CreateTestProbe();
        var other = new ScriptedJobSource(otherCalls);
        _source.Answers.Enqueue(new JobRequestOutcome.Forbidden("403 Forbidden"));
        var refused = StartIntake(name: "refused");
        var healthy = StartIntake(name: "healthy", source: other);
        ExpectAsked();
        otherCalls.ExpectMsg("asked");
        AwaitAssert(() => Assert.False(Status(refused).Healthy));
        Assert.True(Status(healthy).Healthy);

        // The healthy entry keeps its check_interval; the refused one waits the unhealthy interval.
        Advance(Interval);
        otherCalls.ExpectMsg("asked");
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        Advance(Unhealthy - Interval);
        ExpectAsked();
        AwaitAssert(() => Assert.True(Status(refused).Healthy)); // 204 this time: healthy again
    }

    [Fact]
    public void A_retry_waits_the_delay_the_source_asks_for()
    {
        _source.Answers.Enqueue(new JobRequestOutcome.Retry(TimeSpan.FromSeconds(20), "429 Too Many Requests"));
        StartIntake();
        ExpectAsked();
        ExpectNotAskedWithin(TimeSpan.FromSeconds(19));
        Advance(TimeSpan.FromSeconds(1));
        ExpectAsked();
    }

    [Fact]
    public void New_limits_apply_to_new_admissions()
    {
        _source.Answers.Enqueue(Job(1));
        _source.Answers.Enqueue(Job(2));
        var intake = StartIntake(concurrent: 1);
        ExpectAsked();
        _supervisor.ExpectMsg<RunJob>();
        ExpectNotAskedWithin(Interval);

        intake.Tell(new UpdateIntakeLimits(new IntakeLimits(2, 0, Interval)));
        ExpectAsked();
        Assert.Equal(2, _supervisor.ExpectMsg<RunJob>().Job.Id);
        AwaitAssert(() => Assert.Equal(2, Status(intake).RunningJobs.Count));
    }

    [Fact]
    public void Stop_asking_stops_requests_and_abort_reaches_every_running_job()
    {
        _source.Answers.Enqueue(Job(1));
        var intake = StartIntake(concurrent: 2);
        ExpectAsked();
        _supervisor.ExpectMsg<RunJob>();
        ExpectAsked(); // a slot is still free: asked again at once (204)
        intake.Tell(StopAsking.Instance);
        ExpectNotAskedWithin(TimeSpan.FromSeconds(30));
        Assert.False(Status(intake).Asking);

        intake.Tell(new AbortRunningJobs("runner_system_failure"));
        Assert.Equal("runner_system_failure", _aborts.ExpectMsg<AbortJob>().FailureReason);
    }

    [Fact]
    public void A_source_that_throws_is_a_failed_request_not_a_crash()
    {
        var throwing = new ThrowingSource(_calls);
        var intake = StartIntake(source: throwing);
        ExpectAsked();
        Advance(Interval);
        ExpectAsked();
        Assert.True(Status(intake).Asking);
    }

    private sealed class ThrowingSource(IActorRef calls) : IJobSource
    {
        public Task<JobRequestOutcome> RequestJobAsync(CancellationToken ct)
        {
            calls.Tell("asked");
            return Task.FromException<JobRequestOutcome>(new InvalidOperationException("boom"));
        }
    }
}
