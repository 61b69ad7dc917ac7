using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>The StageActor against faults of its one exec (Run: launch and wait), on virtual time: a run the API refuses with
/// a transient answer (5xx, a client timeout) is run again after a backoff (it is idempotent); a dropped connection is run
/// again and only waits (the stage runs once); a permanent refusal breaks the stage at once; a spent budget too; the exit
/// marker is parsed within its bounds.</summary>
public sealed class StageActorTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly RetrySettings Fast = new(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
    private static readonly PlannedStage Build = new("step_script", PodBuilder.BuildContainer, StageCondition.OnSuccess,
        ["run", "step_script"], ["kill", "step_script"], false, null);

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private string _pod = "";

    public StageActorTests(ITestOutputHelper output) : base(VirtualTime, "stage-actor", output)
    {
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private async Task<IActorRef> StartAsync(RetryBudget budget)
    {
        var plan = TestData.Plan();
        _pod = plan.PodName;
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        return ChildActorOf(StageActor.Props(Build, plan.Namespace, plan.PodName, _cluster, TimeSpan.FromSeconds(1), budget));
    }

    private async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan step) =>
        await AwaitConditionAsync(() =>
        {
            if (condition())
            {
                return Task.FromResult(true);
            }

            Clock.Advance(step);
            return Task.FromResult(condition());
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));

    [Fact]
    public async Task A_run_answered_500_is_run_again_and_the_stage_runs_once()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 0);
        _cluster.FailNext("run", 1, HttpStatusCode.InternalServerError);
        var budget = new RetryBudget(Fast, () => 1.0);

        await StartAsync(budget);
        await AdvanceUntilAsync(() => _cluster.Count("run") == 2, TimeSpan.FromSeconds(1));

        var exited = await ExpectMsgAsync<StageExited>(TimeSpan.FromSeconds(10));
        Assert.Equal(("step_script", 0), (exited.Stage, exited.ExitCode));
        Assert.Equal(1, _cluster.Runs(_pod, "step_script"));
        Assert.Equal(1, budget.Used);
    }

    [Fact]
    public async Task A_run_that_times_out_on_the_client_is_run_again()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 7);
        _cluster.TimeOutNext("run");

        await StartAsync(new RetryBudget(Fast, () => 1.0));
        await AdvanceUntilAsync(() => _cluster.Count("run") == 2, TimeSpan.FromSeconds(1));

        var exited = await ExpectMsgAsync<StageExited>(TimeSpan.FromSeconds(10));
        Assert.Equal(7, exited.ExitCode);
    }

    [Fact]
    public async Task A_run_refused_for_good_breaks_the_stage_at_once_with_the_status()
    {
        _cluster.FailNext("run", 1, HttpStatusCode.Forbidden);

        await StartAsync(new RetryBudget(Fast, () => 1.0));

        var broken = await ExpectMsgAsync<StageBroken>(TimeSpan.FromSeconds(10));
        Assert.Contains("403", broken.Message, StringComparison.Ordinal);
        Assert.Equal(1, _cluster.Count("run"));
    }

    [Fact]
    public async Task A_spent_budget_breaks_the_stage()
    {
        _cluster.FailNext("run", 10, HttpStatusCode.BadGateway);

        await StartAsync(new RetryBudget(Fast with { MaxRetriesPerJob = 1 }, () => 1.0));
        await AdvanceUntilAsync(() => _cluster.Count("run") == 2, TimeSpan.FromSeconds(1));

        var broken = await ExpectMsgAsync<StageBroken>(TimeSpan.FromSeconds(10));
        Assert.Contains("502", broken.Message, StringComparison.Ordinal);
        Assert.Contains("retries", broken.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_that_streams_megabytes_is_cut_off_after_a_few_bytes_and_breaks_the_stage()
    {
        _cluster.StageBehaviour["step_script"] = ("", 0);
        long offered = 0;
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'7');
        _cluster.WaitOutput["step_script"] = async (onStdout, ct) =>
        {
            // 50 MB, as a marker file the job filled would be; the runner cancels the exec once it has had enough.
            for (var sent = 0L; sent < 50L * 1024 * 1024 && !ct.IsCancellationRequested; sent += chunk.Length)
            {
                await onStdout(chunk);
                offered += chunk.Length;
            }

            ct.ThrowIfCancellationRequested();
        };

        await StartAsync(new RetryBudget(Fast, () => 1.0));

        var broken = await ExpectMsgAsync<StageBroken>(TimeSpan.FromSeconds(10));
        Assert.Contains($"more than {StageCommands.MaxWaitOutputBytes} bytes", broken.Message, StringComparison.Ordinal);
        Assert.Equal(chunk.Length, offered);
    }

    [Fact]
    public async Task A_run_dropped_while_waiting_is_run_again_only_waits_and_the_stage_runs_once()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", null);
        _cluster.DropNextWait("step_script", times: 2);

        await StartAsync(new RetryBudget(Fast, () => 1.0));
        await AdvanceUntilAsync(() => _cluster.Count("run") == 3, TimeSpan.FromSeconds(1));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // two drops and a wait in progress: no end of the stage

        _cluster.FinishStage(_pod, "step_script", 5);
        var exited = await ExpectMsgAsync<StageExited>(TimeSpan.FromSeconds(10));
        Assert.Equal(("step_script", 5), (exited.Stage, exited.ExitCode));
        Assert.Equal(1, _cluster.Runs(_pod, "step_script"));
        Assert.Equal(3, _cluster.Count("run"));
    }

    [Fact]
    public async Task The_log_size_in_the_marker_reaches_the_job()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 0);

        await StartAsync(new RetryBudget(Fast, () => 1.0));

        var exited = await ExpectMsgAsync<StageExited>(TimeSpan.FromSeconds(10));
        Assert.Equal("building\n".Length, exited.LogSize);
    }

    [Fact]
    public async Task A_marker_without_a_size_is_an_exit_code_with_no_size()
    {
        _cluster.StageBehaviour["step_script"] = ("", 0);
        _cluster.WaitOutput["step_script"] = (onStdout, _) => onStdout("4\n"u8.ToArray());

        await StartAsync(new RetryBudget(Fast, () => 1.0));

        var exited = await ExpectMsgAsync<StageExited>(TimeSpan.FromSeconds(10));
        Assert.Equal((4, (long?)null), (exited.ExitCode, exited.LogSize));
    }

    [Theory]
    [InlineData("-1\n")]
    [InlineData("garbage")]
    [InlineData("4294967296")]
    [InlineData("0 -5")]
    [InlineData("0 12 34")]
    [InlineData("0 9999999999999999999999")]
    public async Task A_marker_that_is_no_exit_code_breaks_the_stage(string marker)
    {
        _cluster.StageBehaviour["step_script"] = ("", 0);
        _cluster.WaitOutput["step_script"] = (onStdout, _) => onStdout(System.Text.Encoding.UTF8.GetBytes(marker));

        await StartAsync(new RetryBudget(Fast, () => 1.0));

        var broken = await ExpectMsgAsync<StageBroken>(TimeSpan.FromSeconds(10));
        Assert.Contains("not an exit code", broken.Message, StringComparison.Ordinal);
    }
}
