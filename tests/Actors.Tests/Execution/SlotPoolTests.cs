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

/// <summary>The node's slots as a pool that intakes reserve from before they ask GitLab (findings: a node with k runner
/// entries took k × concurrent jobs; admission must be node-wide and pull-based).</summary>
public sealed class SlotPoolTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private readonly FakeCluster _cluster = new();
    private int _suffix;

    public SlotPoolTests(ITestOutputHelper output) : base(VirtualTime, "slots", output)
    {
        _cluster.Probe = CreateTestProbe("gateway-calls");
        _cluster.InitialPhase = "Running";
        _cluster.StageBehaviour["step_script"] = ("", null); // runs until the test finishes it
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static GlobalSettings TwoEntries(int concurrent) => new()
    {
        Concurrent = concurrent,
        Runners = [TestData.Runner(name: "a"), TestData.Runner(name: "b")],
    };

    private IActorRef StartRunner(GlobalSettings settings)
    {
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, null,
            () => "s" + Interlocked.Increment(ref _suffix).ToString("D7", System.Globalization.CultureInfo.InvariantCulture))
        {
            Planner = new FakePlanner(FakePlanner.StandardStages, null),
        };
        return Sys.ActorOf(RunnerSupervisor.Props(settings, _cluster, options), "runner");
    }

    private static async Task<object> ReserveAsync(IActorRef runner, TestProbe intake, string entry, string id)
    {
        runner.Tell(new ReserveSlot(entry, id), intake);
        return await intake.ExpectMsgAsync<object>(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Two_entries_share_one_slot_the_second_reserves_only_after_the_first_job_ends()
    {
        var runner = StartRunner(TwoEntries(concurrent: 1));
        var (intakeA, intakeB, listener) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());

        var reserved = Assert.IsType<SlotReserved>(await ReserveAsync(runner, intakeA, "a", "ra"));
        Assert.Equal(new NoSlotFree("rb"), await ReserveAsync(runner, intakeB, "b", "rb"));

        runner.Tell(new RunJob(TestData.Job() with { Id = 1 }, "a", listener) { ReservationId = reserved.ReservationId });
        await listener.ExpectMsgAsync<JobAdmitted>();
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));
        Assert.Equal(new NoSlotFree("rb2"), await ReserveAsync(runner, intakeB, "b", "rb2"));

        _cluster.FinishStage(_cluster.PodOf(1)!, "step_script", 0);
        await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(15));
        await AwaitAssertAsync(async () => Assert.IsType<SlotReserved>(await ReserveAsync(runner, intakeB, "b", $"rb-{Guid.NewGuid():N}")),
            TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_released_reservation_frees_its_slot_at_once_and_an_unused_one_after_its_time()
    {
        var runner = StartRunner(TwoEntries(concurrent: 1));
        var intake = CreateTestProbe();

        Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "a", "r1"));
        runner.Tell(new ReleaseSlotReservation("r1"));
        Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "b", "r2"));

        // r2 is never used nor released (its intake died): the slot comes back after the reservation's time.
        Assert.IsType<NoSlotFree>(await ReserveAsync(runner, intake, "a", "r3"));
        Clock.Advance(JobCoordinator.DefaultReservationTtl);
        await AwaitAssertAsync(async () => Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "a", $"r-{Guid.NewGuid():N}")),
            TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_job_whose_reservation_expired_still_runs_it_waits_for_a_slot_instead_of_being_lost()
    {
        var runner = StartRunner(TwoEntries(concurrent: 1));
        var (intake, listener) = (CreateTestProbe(), CreateTestProbe());

        runner.Tell(new RunJob(TestData.Job() with { Id = 3 }, "a", listener) { ReservationId = "never-reserved" });

        await listener.ExpectMsgAsync<JobAdmitted>();
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));
        Assert.IsType<NoSlotFree>(await ReserveAsync(runner, intake, "b", "late"));
    }

    [Fact]
    public async Task A_reload_grows_and_shrinks_the_pool_and_a_busy_slot_above_the_size_retires_when_free()
    {
        var runner = StartRunner(TwoEntries(concurrent: 1));
        var intake = CreateTestProbe();
        var listener = CreateTestProbe();
        var limits = new Dictionary<string, int>();

        runner.Tell(new UpdateAdmissionLimits(3, limits));
        var first = Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "a", "g1"));
        Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "b", "g2"));
        Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "a", "g3"));
        Assert.IsType<NoSlotFree>(await ReserveAsync(runner, intake, "a", "g4"));
        runner.Tell(new RunJob(TestData.Job() with { Id = 4 }, "a", listener) { ReservationId = first.ReservationId });
        await listener.ExpectMsgAsync<JobAdmitted>();

        runner.Tell(new UpdateAdmissionLimits(1, limits));
        runner.Tell(new ReleaseSlotReservation("g2"));
        runner.Tell(new ReleaseSlotReservation("g3"));
        Assert.IsType<NoSlotFree>(await ReserveAsync(runner, intake, "b", "s1")); // job 4 fills the one slot

        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.LiveRunsOfAnyPod("step_script")));
        _cluster.FinishStage(_cluster.PodOf(4)!, "step_script", 0);
        await listener.FishForMessageAsync(m => m is JobFinished, TimeSpan.FromSeconds(15));
        await AwaitAssertAsync(async () => Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "b", $"s-{Guid.NewGuid():N}")),
            TimeSpan.FromSeconds(5));
        Assert.IsType<NoSlotFree>(await ReserveAsync(runner, intake, "a", "s-last"));
    }

    [Fact]
    public async Task An_adopted_job_takes_a_slot_at_once_even_when_the_node_is_full()
    {
        var runner = StartRunner(TwoEntries(concurrent: 1));
        var (intake, running, adopted) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var reserved = Assert.IsType<SlotReserved>(await ReserveAsync(runner, intake, "a", "x"));
        runner.Tell(new RunJob(TestData.Job() with { Id = 5 }, "a", running) { ReservationId = reserved.ReservationId });
        await running.ExpectMsgAsync<JobAdmitted>();

        var job = TestData.Job() with { Id = 6 };
        var plan = new FakePlanner(FakePlanner.StandardStages, null).Plan(TestData.Runner(name: "b"), job, 0, () => "adopted1").Plan!;
        await _cluster.CreatePodAsync(plan.Pod.Pod, CancellationToken.None);
        runner.Tell(new AdoptJob(job, "b", new AdoptedPod(plan.Pod.Namespace, plan.Pod.PodName, 0, "host-a", Clock.Now), adopted));

        Assert.Equal(new JobAdmitted(6, "b"), await adopted.ExpectMsgAsync<JobAdmitted>());
        await AwaitAssertAsync(() => Assert.Equal(2, _cluster.LiveRunsOfAnyPod("step_script")));
    }
}
