using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Protocol;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Intake;

/// <summary>A job source whose requests stay out until the test answers them, like GitLab's long poll.</summary>
internal sealed class HeldJobSource(IActorRef calls) : IJobSource
{
    public ConcurrentQueue<TaskCompletionSource<JobRequestOutcome>> Pending { get; } = new();

    public Task<JobRequestOutcome> RequestJobAsync(CancellationToken ct)
    {
        var answer = new TaskCompletionSource<JobRequestOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        Pending.Enqueue(answer);
        calls.Tell("asked");
        return answer.Task;
    }

    public void AnswerNext(JobRequestOutcome outcome)
    {
        Assert.True(Pending.TryDequeue(out var answer), "no request is out");
        answer.SetResult(outcome);
    }
}

/// <summary><c>request_concurrency</c>: an entry keeps up to that many job requests in flight, each holding its own node
/// slot reservation, on virtual time.</summary>
public sealed class JobIntakeConcurrencyTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan UnhealthyInterval = TimeSpan.FromMinutes(10);

    private readonly TestProbe _calls;
    private readonly TestProbe _supervisor;
    private readonly HeldJobSource _source;

    public JobIntakeConcurrencyTests(ITestOutputHelper output) : base(VirtualTime, "intake-concurrency", output)
    {
        _calls = CreateTestProbe("calls");
        _supervisor = CreateTestProbe("supervisor");
        _source = new HeldJobSource(_calls);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static JobRequestOutcome Job(long id) => new JobRequestOutcome.Received(TestData.Job() with { Id = id });

    private IActorRef StartIntake(int requestConcurrency, int concurrent = 10, int unhealthyRequestsLimit = 3) =>
        Sys.ActorOf(JobIntake.Props("r1",
            new IntakeLimits(concurrent, 0, Interval)
            {
                RequestConcurrency = requestConcurrency,
                UnhealthyRequestsLimit = unhealthyRequestsLimit,
                UnhealthyInterval = UnhealthyInterval,
            },
            _source, new IdleListeners(CreateTestProbe()), _supervisor));

    private IntakeStatus Status(IActorRef intake) => intake.Ask<IntakeStatus>(GetIntakeStatus.Instance).Result;

    private ReserveSlot ExpectReserve() => _supervisor.ExpectMsg<ReserveSlot>();

    private void Grant(IActorRef intake, ReserveSlot reserve) => intake.Tell(new SlotReserved(reserve.ReservationId, 0), _supervisor);

    private void ExpectAsked(int times)
    {
        for (var i = 0; i < times; i++)
        {
            _calls.ExpectMsg("asked");
        }
    }

    private void ExpectNotAsked() => _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

    [Fact]
    public void With_three_free_slots_three_requests_are_in_flight_each_with_its_own_reservation()
    {
        var intake = StartIntake(requestConcurrency: 3);
        var reserves = new[] { ExpectReserve(), ExpectReserve(), ExpectReserve() };
        Assert.Equal(3, reserves.Select(r => r.ReservationId).Distinct().Count());
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // no fourth reservation
        ExpectNotAsked(); // no request before its slot is held

        foreach (var reserve in reserves)
        {
            Grant(intake, reserve);
        }

        ExpectAsked(3);
        AwaitAssert(() => Assert.Equal(3, Status(intake).RequestsInFlight));
        ExpectNotAsked();
    }

    [Fact]
    public void With_one_free_slot_only_one_request_is_in_flight()
    {
        var intake = StartIntake(requestConcurrency: 3);
        var reserves = new[] { ExpectReserve(), ExpectReserve(), ExpectReserve() };
        Grant(intake, reserves[0]);
        intake.Tell(new NoSlotFree(reserves[1].ReservationId), _supervisor);
        intake.Tell(new NoSlotFree(reserves[2].ReservationId), _supervisor);

        ExpectAsked(1);
        ExpectNotAsked();
        Assert.Equal(1, Status(intake).RequestsInFlight);

        // The entry asks for the other slots again after check_interval; still none free.
        Clock.Advance(Interval);
        var again = new[] { ExpectReserve(), ExpectReserve() };
        foreach (var reserve in again)
        {
            intake.Tell(new NoSlotFree(reserve.ReservationId), _supervisor);
        }

        ExpectNotAsked();
        Assert.Equal(1, Status(intake).RequestsInFlight);
    }

    [Fact]
    public void The_entry_never_has_more_requests_out_than_room_for_jobs()
    {
        // concurrent = 2 bounds the entry's jobs: two lanes, not three.
        var intake = StartIntake(requestConcurrency: 3, concurrent: 2);
        Grant(intake, ExpectReserve());
        Grant(intake, ExpectReserve());
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        ExpectAsked(2);

        // A job takes one of the two: the other lane's request stays the only one out, and no new lane opens.
        _source.AnswerNext(Job(5));
        _supervisor.ExpectMsg<RunJob>();
        AwaitAssert(() => Assert.Equal(1, Status(intake).RequestsInFlight));
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        ExpectNotAsked();
    }

    [Fact]
    public void A_received_job_opens_a_new_lane_at_once_while_the_others_stay_out()
    {
        var intake = StartIntake(requestConcurrency: 2);
        Grant(intake, ExpectReserve());
        Grant(intake, ExpectReserve());
        ExpectAsked(2);

        _source.AnswerNext(Job(8));
        var run = _supervisor.ExpectMsg<RunJob>();
        Assert.Equal(8, run.Job.Id);
        Assert.NotNull(run.ReservationId);

        // No wait for check_interval: a new reservation, then a new request.
        var next = ExpectReserve();
        Assert.NotEqual(run.ReservationId, next.ReservationId);
        Grant(intake, next);
        ExpectAsked(1);
        AwaitAssert(() => Assert.Equal(2, Status(intake).RequestsInFlight));
    }

    [Fact]
    public void A_lost_answer_about_a_slot_never_leaks_the_reservation()
    {
        var intake = StartIntake(requestConcurrency: 3);
        var reserves = new[] { ExpectReserve(), ExpectReserve(), ExpectReserve() };
        Grant(intake, reserves[0]);
        Grant(intake, reserves[1]);
        ExpectAsked(2);

        // The third answer is lost: after the timeout the intake releases the reservation in case it was made.
        Clock.Advance(JobIntake.SlotAnswerTimeout);
        var released = _supervisor.ExpectMsg<ReleaseSlotReservation>();
        Assert.Equal(reserves[2].ReservationId, released.ReservationId);

        // The answer comes after all: released again, never used for a request.
        Grant(intake, reserves[2]);
        Assert.Equal(reserves[2].ReservationId, _supervisor.ExpectMsg<ReleaseSlotReservation>().ReservationId);
        ExpectNotAsked();
        Assert.Equal(2, Status(intake).RequestsInFlight);

        // The requests' own reservations go back when their answers are "no job".
        _source.AnswerNext(new JobRequestOutcome.NoJob());
        _source.AnswerNext(new JobRequestOutcome.NoJob());
        var back = new[] { _supervisor.ExpectMsg<ReleaseSlotReservation>(), _supervisor.ExpectMsg<ReleaseSlotReservation>() };
        Assert.Equal(new[] { reserves[0].ReservationId, reserves[1].ReservationId }.Order(), back.Select(b => b.ReservationId).Order());
    }

    [Fact]
    public void Stopping_releases_the_reservations_of_lanes_whose_request_is_not_out()
    {
        var intake = StartIntake(requestConcurrency: 2);
        var first = ExpectReserve();
        var second = ExpectReserve();
        Grant(intake, first);
        ExpectAsked(1);

        intake.Tell(StopAsking.Instance);
        // The second reservation comes after the stop: released at once.
        Grant(intake, second);
        Assert.Equal(second.ReservationId, _supervisor.ExpectMsg<ReleaseSlotReservation>().ReservationId);
        ExpectNotAsked();

        // The request that is out ends with its answer, and its reservation goes back.
        _source.AnswerNext(new JobRequestOutcome.NoJob());
        Assert.Equal(first.ReservationId, _supervisor.ExpectMsg<ReleaseSlotReservation>().ReservationId);
        Clock.Advance(Interval * 3);
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Unhealthy_answers_from_concurrent_requests_pause_every_lane_for_the_unhealthy_interval()
    {
        var intake = StartIntake(requestConcurrency: 3);
        for (var i = 0; i < 3; i++)
        {
            Grant(intake, ExpectReserve());
        }

        ExpectAsked(3);
        for (var i = 0; i < 3; i++)
        {
            _source.AnswerNext(new JobRequestOutcome.Forbidden("403 Forbidden"));
        }

        AwaitAssert(() => Assert.False(Status(intake).Healthy));
        for (var i = 0; i < 3; i++)
        {
            _supervisor.ExpectMsg<ReleaseSlotReservation>();
        }

        // Not one lane opens during the pause, even past check_interval.
        Clock.Advance(UnhealthyInterval - TimeSpan.FromSeconds(1));
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        ExpectNotAsked();

        Clock.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 3; i++)
        {
            Grant(intake, ExpectReserve());
        }

        ExpectAsked(3);
    }

    [Fact]
    public void A_backoff_answer_holds_off_new_lanes_even_when_another_lane_receives_a_job()
    {
        var intake = StartIntake(requestConcurrency: 2);
        Grant(intake, ExpectReserve());
        Grant(intake, ExpectReserve());
        ExpectAsked(2);

        _source.AnswerNext(new JobRequestOutcome.Retry(TimeSpan.FromSeconds(30), "429: too many requests"));
        _supervisor.ExpectMsg<ReleaseSlotReservation>();
        _source.AnswerNext(Job(9));
        _supervisor.ExpectMsg<RunJob>();

        // The job came, but the source asked for 30 s: nothing until then.
        Clock.Advance(TimeSpan.FromSeconds(29));
        _supervisor.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Clock.Advance(TimeSpan.FromSeconds(1));
        Grant(intake, ExpectReserve());
        Grant(intake, ExpectReserve());
        ExpectAsked(2);
    }
}
