using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Protocol;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Intake;

/// <summary>The intake in a fleet: adopted jobs, and a runner's limit held across nodes through the fleet-limits actor
/// (a probe here).</summary>
public sealed class JobIntakeFleetTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);

    private readonly TestProbe _calls;
    private readonly TestProbe _supervisor;
    private readonly TestProbe _fleetLimits;
    private readonly ScriptedJobSource _source;

    public JobIntakeFleetTests(ITestOutputHelper output) : base(VirtualTime, "intake-fleet", output)
    {
        _calls = CreateTestProbe("calls");
        _supervisor = CreateTestProbe("supervisor");
        NodeSlots.GrantAll(_supervisor);
        _fleetLimits = CreateTestProbe("fleet-limits");
        _source = new ScriptedJobSource(_calls);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static JobRequestOutcome Job(long id) => new JobRequestOutcome.Received(TestData.Job() with { Id = id });

    private IActorRef StartIntake(int concurrent = 2, int limit = 2, bool fleet = true) =>
        Sys.ActorOf(JobIntake.Props("r1", new IntakeLimits(concurrent, limit, Interval), _source,
            new IdleListeners(CreateTestProbe()), _supervisor, fleet ? _fleetLimits : null));

    private IntakeStatus Status(IActorRef intake) => intake.Ask<IntakeStatus>(GetIntakeStatus.Instance).Result;

    private void AdvanceAfterAnswer(IActorRef intake, TimeSpan by)
    {
        AwaitAssert(() => Assert.False(Status(intake).RequestInFlight));
        Clock.Advance(by);
    }

    private static AdoptedPod Pod(string name) => new("default", name, 1, "host-a", DateTimeOffset.UnixEpoch);

    [Fact]
    public void An_adopted_job_gets_its_listener_counts_as_running_takes_a_fleet_slot_and_frees_it_when_its_listener_stops()
    {
        var intake = StartIntake();
        var first = _fleetLimits.ExpectMsg<RequestSlot>();  // the intake's own request for work
        var job = TestData.Job() with { Id = 41 };

        intake.Tell(new AdoptIntoIntake(job, Pod("pod-41")));

        var adopt = _supervisor.ExpectMsg<AdoptJob>();
        Assert.Equal(41, adopt.Job.Id);
        Assert.Equal("r1", adopt.RunnerName);
        Assert.Equal(Pod("pod-41"), adopt.Pod);
        Assert.Equal("job-41", adopt.Listener.Path.Name);
        var slot = _fleetLimits.ExpectMsg<AdoptSlot>();
        Assert.Equal("r1", slot.Runner);
        Assert.NotEqual(first.LeaseId, slot.LeaseId);
        Assert.Equal([41L], Status(intake).RunningJobs);

        intake.Tell(new AdoptIntoIntake(job, Pod("pod-41")));   // the same job twice: once
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        Sys.Stop(adopt.Listener);
        Assert.Equal(new ReleaseSlot("r1", slot.LeaseId), _fleetLimits.ExpectMsg<ReleaseSlot>());
        AwaitAssert(() => Assert.Empty(Status(intake).RunningJobs));
    }

    [Fact]
    public void Without_a_fleet_an_adopted_job_takes_no_slot()
    {
        var intake = StartIntake(fleet: false);
        _calls.ExpectMsg("asked");

        intake.Tell(new AdoptIntoIntake(TestData.Job() with { Id = 42 }, Pod("pod-42")));

        Sys.Stop(_supervisor.ExpectMsg<AdoptJob>().Listener);
        _fleetLimits.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void The_source_is_asked_only_after_a_granted_slot_and_a_204_releases_it()
    {
        var intake = StartIntake(limit: 3);
        var request = _fleetLimits.ExpectMsg<RequestSlot>();
        Assert.Equal(("r1", 3), (request.Runner, request.Limit));
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        intake.Tell(new SlotGranted(request.LeaseId), _fleetLimits);

        _calls.ExpectMsg("asked");
        Assert.Equal(new ReleaseSlot("r1", request.LeaseId), _fleetLimits.ExpectMsg<ReleaseSlot>());
        AdvanceAfterAnswer(intake, Interval);
        Assert.NotEqual(request.LeaseId, _fleetLimits.ExpectMsg<RequestSlot>().LeaseId);
    }

    [Fact]
    public void A_received_job_keeps_its_slot_until_its_listener_stops()
    {
        _source.Answers.Enqueue(Job(43));
        var intake = StartIntake();
        var request = _fleetLimits.ExpectMsg<RequestSlot>();
        intake.Tell(new SlotGranted(request.LeaseId), _fleetLimits);
        _calls.ExpectMsg("asked");
        var run = _supervisor.ExpectMsg<RunJob>();

        // The next request for work asks for a new slot; the job's slot is not released.
        AdvanceAfterAnswer(intake, Interval);
        var next = _fleetLimits.ExpectMsg<RequestSlot>();
        Assert.NotEqual(request.LeaseId, next.LeaseId);

        Sys.Stop(run.Listener);
        Assert.Equal(new ReleaseSlot("r1", request.LeaseId), _fleetLimits.ExpectMsg<ReleaseSlot>());
    }

    [Fact]
    public void A_refused_slot_asks_again_after_check_interval_without_asking_the_source()
    {
        var intake = StartIntake();
        var request = _fleetLimits.ExpectMsg<RequestSlot>();

        intake.Tell(new SlotRefused(request.LeaseId), _fleetLimits);
        AwaitAssert(() => Assert.True(Status(intake).Asking));
        Clock.Advance(Interval - TimeSpan.FromMilliseconds(10));
        _fleetLimits.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        Clock.Advance(TimeSpan.FromMilliseconds(10));

        Assert.NotEqual(request.LeaseId, _fleetLimits.ExpectMsg<RequestSlot>().LeaseId);
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void No_answer_within_5_seconds_counts_as_refused_and_a_late_grant_is_given_back()
    {
        var intake = StartIntake();
        var request = _fleetLimits.ExpectMsg<RequestSlot>();

        Clock.Advance(JobIntake.SlotAnswerTimeout - TimeSpan.FromMilliseconds(10));
        _fleetLimits.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        Clock.Advance(TimeSpan.FromMilliseconds(10));
        AwaitAssert(() => Assert.True(Status(intake).Asking));
        Clock.Advance(Interval);
        var again = _fleetLimits.ExpectMsg<RequestSlot>();
        Assert.NotEqual(request.LeaseId, again.LeaseId);

        intake.Tell(new SlotGranted(request.LeaseId), _fleetLimits);

        Assert.Equal(new ReleaseSlot("r1", request.LeaseId), _fleetLimits.ExpectMsg<ReleaseSlot>());
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public void A_runner_without_a_limit_asks_the_source_directly_even_in_a_fleet()
    {
        StartIntake(limit: 0);

        _calls.ExpectMsg("asked");
        _fleetLimits.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
