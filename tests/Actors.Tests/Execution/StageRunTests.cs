using System.Net;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>A stage run against faults of its one exec (Run: launch and wait): a run the API refuses with a transient answer
/// (5xx, a client timeout) is run again after a backoff (it is idempotent); a dropped connection is run again after the
/// reattach pause and only waits (the stage runs once); a permanent refusal breaks the stage at once; a spent budget too;
/// the exit marker is parsed within its bounds; a stopped run ends in nothing. The JobActor's side (the retry timer, late
/// answers of a run that is over) is in <see cref="JobExecutionTests"/>.</summary>
public sealed class StageRunTests
{
    private static readonly RetrySettings Fast = new(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));
    private static readonly TimeSpan Reattach = TimeSpan.FromSeconds(1);
    private static readonly PlannedStage Build = new("step_script", PodBuilder.BuildContainer, StageCondition.OnSuccess,
        ["run", "step_script"], ["kill", "step_script"], false, null);

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private string _pod = "";

    private async Task<StageRun> StartAsync(RetryBudget budget)
    {
        var plan = TestData.Plan();
        _pod = plan.PodName;
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        return new StageRun(Build, plan.Namespace, plan.PodName, _cluster, Reattach, budget);
    }

    /// <summary>Runs the exec again after every retry the run asks for, as the JobActor does on its timer; returns the end and
    /// the retries (their pauses and warnings) on the way.</summary>
    private static async Task<(object Outcome, List<(TimeSpan Delay, string? Warning)> Retries)> RunToEndAsync(StageRun run)
    {
        var retries = new List<(TimeSpan, string?)>();
        for (var exec = 0; exec < 20; exec++)
        {
            var step = run.Judge((StageRun.Result)await run.ExecAsync());
            if (step.Outcome is { } outcome)
            {
                return (outcome, retries);
            }

            Assert.NotNull(step.Retry);
            retries.Add((step.Retry.Value, step.Warning));
        }

        throw new InvalidOperationException("the stage run never ended");
    }

    [Fact]
    public async Task A_run_answered_500_is_run_again_and_the_stage_runs_once()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 0);
        _cluster.FailNext("run", 1, HttpStatusCode.InternalServerError);
        var budget = new RetryBudget(Fast, () => 1.0);

        var (outcome, retries) = await RunToEndAsync(await StartAsync(budget));

        var exited = Assert.IsType<StageExited>(outcome);
        Assert.Equal(("step_script", 0), (exited.Stage, exited.ExitCode));
        Assert.Equal(2, _cluster.Count("run"));
        Assert.Equal(1, _cluster.Runs(_pod, "step_script"));
        Assert.Equal(1, budget.Used);
        var (delay, warning) = Assert.Single(retries);
        Assert.Equal(TimeSpan.FromSeconds(1), delay);
        Assert.Contains("500", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_that_times_out_on_the_client_is_run_again()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 7);
        _cluster.TimeOutNext("run");

        var (outcome, retries) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        Assert.Equal(7, Assert.IsType<StageExited>(outcome).ExitCode);
        Assert.Single(retries);
        Assert.Equal(2, _cluster.Count("run"));
    }

    [Fact]
    public async Task A_run_refused_for_good_breaks_the_stage_at_once_with_the_status()
    {
        _cluster.FailNext("run", 1, HttpStatusCode.Forbidden);

        var (outcome, retries) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        Assert.Contains("403", Assert.IsType<StageBroken>(outcome).Message, StringComparison.Ordinal);
        Assert.Empty(retries);
        Assert.Equal(1, _cluster.Count("run"));
    }

    [Fact]
    public async Task A_spent_budget_breaks_the_stage()
    {
        _cluster.FailNext("run", 10, HttpStatusCode.BadGateway);

        var (outcome, retries) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast with { MaxRetriesPerJob = 1 }, () => 1.0)));

        var broken = Assert.IsType<StageBroken>(outcome);
        Assert.Contains("502", broken.Message, StringComparison.Ordinal);
        Assert.Contains("retries", broken.Message, StringComparison.Ordinal);
        Assert.Single(retries);
        Assert.Equal(2, _cluster.Count("run"));
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

        var (outcome, _) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        Assert.Contains($"more than {StageCommands.MaxWaitOutputBytes} bytes", Assert.IsType<StageBroken>(outcome).Message, StringComparison.Ordinal);
        Assert.Equal(chunk.Length, offered);
    }

    [Fact]
    public async Task A_run_dropped_while_waiting_is_run_again_after_the_reattach_pause_only_waits_and_the_stage_runs_once()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", null);
        _cluster.DropNextWait("step_script", times: 2);
        var budget = new RetryBudget(Fast, () => 1.0);
        var run = await StartAsync(budget);

        for (var drop = 0; drop < 2; drop++)
        {
            var step = run.Judge((StageRun.Result)await run.ExecAsync());
            Assert.Equal(new StageStep(null, Reattach, null), step); // a drop is never the end, and takes nothing from the budget
            Assert.Equal(0, budget.Used);
        }

        var waiting = run.ExecAsync();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted); // two drops and a wait in progress: no end of the stage

        _cluster.FinishStage(_pod, "step_script", 5);
        var exited = Assert.IsType<StageExited>(run.Judge((StageRun.Result)await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Outcome);
        Assert.Equal(("step_script", 5), (exited.Stage, exited.ExitCode));
        Assert.Equal(1, _cluster.Runs(_pod, "step_script"));
        Assert.Equal(3, _cluster.Count("run"));
    }

    [Fact]
    public async Task A_stopped_run_cancels_its_exec_in_flight_and_ends_in_nothing()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", null); // the stage never ends by itself
        var run = await StartAsync(new RetryBudget(Fast, () => 1.0));

        var waiting = run.ExecAsync();
        await Task.Delay(100);
        run.Dispose();

        var result = (StageRun.Result)await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Same(run, result.Run);
        Assert.Equal(StageStep.Nothing, run.Judge(result));
    }

    [Fact]
    public async Task Stopping_a_run_whose_exec_cancel_callback_throws_does_not_throw_and_hands_the_error_on()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", null);
        _cluster.RunExecStarted["step_script"] = ct => ct.Register(() => throw new InvalidOperationException("callback broke"));
        var errors = new List<Exception>();
        var plan = TestData.Plan();
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        var run = new StageRun(Build, plan.Namespace, plan.PodName, _cluster, Reattach, new RetryBudget(Fast, () => 1.0), errors.Add);

        var waiting = run.ExecAsync();
        await Task.Delay(100);
        run.Dispose();
        run.Dispose(); // a second stop does nothing

        var error = Assert.Single(errors);
        Assert.Contains("callback broke", error.ToString(), StringComparison.Ordinal);
        var result = (StageRun.Result)await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(StageStep.Nothing, run.Judge(result));
    }

    [Fact]
    public async Task An_exec_of_a_run_already_stopped_comes_back_as_a_result_that_means_nothing()
    {
        var run = await StartAsync(new RetryBudget(Fast, () => 1.0));
        run.Dispose();

        var result = (StageRun.Result)await run.ExecAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Same(run, result.Run);
        Assert.Equal(StageStep.Nothing, run.Judge(result));
        Assert.Equal(0, _cluster.Count("run"));
    }

    [Theory]
    [InlineData("nothing", "StageBroken", false)]
    [InlineData("exited", "StageExited", false)]
    [InlineData("broken", "StageBroken", false)]
    [InlineData("retry", null, true)]
    public void A_step_of_the_current_run_never_leaves_the_stage_without_an_end_or_a_retry(string given, string? outcome, bool retried)
    {
        var step = given switch
        {
            "nothing" => StageStep.Nothing,
            "exited" => StageStep.End(new StageExited("step_script", 3, null)),
            "broken" => StageStep.End(new StageBroken("step_script", "x")),
            _ => StageStep.RetryIn(Reattach, null),
        };

        var current = StageRun.ForCurrentRun(step, "step_script");

        Assert.Equal(outcome, current.Outcome?.GetType().Name);
        Assert.Equal(retried ? Reattach : null, current.Retry);
        if (given == "nothing")
        {
            Assert.Contains("step_script", ((StageBroken)current.Outcome!).Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(step, current); // what already ends the stage or retries it is kept as it is
        }
    }

    [Fact]
    public async Task The_log_size_in_the_marker_reaches_the_job()
    {
        _cluster.StageBehaviour["step_script"] = ("building\n", 0);

        var (outcome, _) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        Assert.Equal("building\n".Length, Assert.IsType<StageExited>(outcome).LogSize);
    }

    [Fact]
    public async Task A_marker_without_a_size_is_an_exit_code_with_no_size()
    {
        _cluster.StageBehaviour["step_script"] = ("", 0);
        _cluster.WaitOutput["step_script"] = (onStdout, _) => onStdout("4\n"u8.ToArray());

        var (outcome, _) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        var exited = Assert.IsType<StageExited>(outcome);
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

        var (outcome, _) = await RunToEndAsync(await StartAsync(new RetryBudget(Fast, () => 1.0)));

        Assert.Contains("not an exit code", Assert.IsType<StageBroken>(outcome).Message, StringComparison.Ordinal);
    }
}
