using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Intake;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Intake;

/// <summary>GitLab Runner's health check on virtual time: <c>unhealthy_requests_limit</c> unhealthy answers in a row (a 403,
/// or no answer at all) stop the entry for <c>unhealthy_interval</c>; any other answer resets the count.</summary>
public sealed class JobIntakeHealthTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan UnhealthyInterval = TimeSpan.FromMinutes(10);

    private readonly TestProbe _calls;
    private readonly TestProbe _supervisor;
    private readonly ScriptedJobSource _source;
    private IActorRef _intake = ActorRefs.Nobody;

    public JobIntakeHealthTests(ITestOutputHelper output) : base(VirtualTime, "intake-health", output)
    {
        _calls = CreateTestProbe("calls");
        _supervisor = CreateTestProbe("supervisor");
        NodeSlots.GrantAll(_supervisor);
        _source = new ScriptedJobSource(_calls);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static JobRequestOutcome Forbidden => new JobRequestOutcome.Forbidden("403 Forbidden");
    private static JobRequestOutcome NoAnswer => new JobRequestOutcome.Retry(Interval, "0: connection refused") { Unhealthy = true };

    private void Start(int unhealthyRequestsLimit)
    {
        _intake = Sys.ActorOf(JobIntake.Props("r1",
            new IntakeLimits(1, 0, Interval) { UnhealthyRequestsLimit = unhealthyRequestsLimit, UnhealthyInterval = UnhealthyInterval },
            _source, new IdleListeners(CreateTestProbe()), _supervisor));
    }

    private IntakeStatus Status() => _intake.Ask<IntakeStatus>(GetIntakeStatus.Instance).Result;

    // Moves virtual time once the intake has handled its answer, so that its next timer starts from now.
    private void Advance(TimeSpan by)
    {
        AwaitAssert(() => Assert.False(Status().RequestInFlight));
        Clock.Advance(by);
    }

    private void ExpectAsked() => _calls.ExpectMsg("asked");

    private void ExpectNotAskedWithin(TimeSpan virtualTime)
    {
        Advance(virtualTime);
        _calls.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
    }

    [Fact]
    public void Three_unhealthy_answers_in_a_row_stop_the_entry_for_the_unhealthy_interval()
    {
        _source.Answers.Enqueue(Forbidden);
        _source.Answers.Enqueue(NoAnswer);
        _source.Answers.Enqueue(Forbidden);
        Start(unhealthyRequestsLimit: 3);

        ExpectAsked();
        Assert.True(Status().Healthy); // one is not enough
        Advance(Interval);
        ExpectAsked();
        Assert.True(Status().Healthy);
        Advance(Interval);
        ExpectAsked();
        AwaitAssert(() => Assert.False(Status().Healthy));

        ExpectNotAskedWithin(UnhealthyInterval - TimeSpan.FromSeconds(1));
        Advance(TimeSpan.FromSeconds(1));
        ExpectAsked(); // 204 this time
        AwaitAssert(() => Assert.True(Status().Healthy));
        Advance(Interval);
        ExpectAsked(); // back on check_interval
    }

    [Fact]
    public void A_healthy_answer_between_unhealthy_ones_starts_the_count_again()
    {
        _source.Answers.Enqueue(Forbidden);
        _source.Answers.Enqueue(Forbidden);
        _source.Answers.Enqueue(new JobRequestOutcome.NoJob());
        _source.Answers.Enqueue(Forbidden);
        _source.Answers.Enqueue(Forbidden);
        Start(unhealthyRequestsLimit: 3);

        for (var i = 0; i < 5; i++)
        {
            ExpectAsked();
            Advance(Interval);
        }

        ExpectAsked(); // the sixth, on check_interval: never three in a row
        Assert.True(Status().Healthy);
    }

    [Fact]
    public void A_server_error_is_not_unhealthy_it_only_backs_off()
    {
        // A 502 has an answer: GitLab Runner backs off but does not count it towards the limit.
        for (var i = 0; i < 3; i++)
        {
            _source.Answers.Enqueue(new JobRequestOutcome.Retry(Interval, "502: bad gateway"));
        }

        Start(unhealthyRequestsLimit: 1);

        for (var i = 0; i < 3; i++)
        {
            ExpectAsked();
            Advance(Interval);
        }

        ExpectAsked();
        Assert.True(Status().Healthy);
    }
}
