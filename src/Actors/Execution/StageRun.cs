using System.Text;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Scripts;

namespace Scheduler.Actors.Execution;

/// <summary>
/// One stage run in its container with one exec, Run, driven by the JobActor (no actor of its own: one fewer mailbox per
/// stage of every job). Run launches the stage (idempotent: a stage already launched is not run again; detached: the exec's
/// end never ends the stage) and waits for its exit marker, which it prints (the exit code and the output log's size then).
/// A dropped connection means "reattach": Run is run again after a pause, which only waits, and a drop is never taken as the
/// end. An exec the API refuses with a transient answer (429, 5xx, a timeout) is run again after a backoff from the job's
/// <see cref="RetryBudget"/>; a permanent refusal or a spent budget breaks the stage.
/// <see cref="ExecAsync"/> runs one exec outside the mailbox (its result is piped to the JobActor); <see cref="Judge"/> says
/// what its result means. Each result names its run, so a late answer of a run that is over (timed out, killed, the job
/// finished or its actor restarted) is told apart and dropped.
/// </summary>
internal sealed class StageRun : IDisposable
{
    /// <summary>How one exec of Run ended; piped to the JobActor.</summary>
    internal abstract record Result(StageRun Run);
    private sealed record ExecDone(StageRun Run, int ExitCode, string Stdout) : Result(Run);
    private sealed record ExecOversized(StageRun Run, int Limit) : Result(Run);
    private sealed record ExecDropped(StageRun Run, string Message) : Result(Run);
    private sealed record ExecFailed(StageRun Run, Exception Error) : Result(Run);

    /// <summary>The pause after a drop or a transient refusal is over: run <see cref="Run"/>'s exec again.</summary>
    internal sealed record Retry(StageRun Run);

    private readonly string _namespace;
    private readonly string _pod;
    private readonly IKubernetesGateway _gateway;
    private readonly TimeSpan _reattachDelay;
    private readonly RetryBudget _budget;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Action<Exception>? _cancelFailed;
    private int _attempt;
    private bool _disposed;

    /// <param name="cancelFailed">Told what the exec's cancel callbacks threw when the run is stopped (to log it).</param>
    public StageRun(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay, RetryBudget budget,
        Action<Exception>? cancelFailed = null)
    {
        _cancelFailed = cancelFailed;
        Stage = stage;
        _namespace = ns;
        _pod = pod;
        _gateway = gateway;
        _reattachDelay = reattachDelay;
        _budget = budget;
    }

    public PlannedStage Stage { get; }

    /// <summary>One exec of Run. Never throws: every end is a <see cref="Result"/>.</summary>
    public async Task<object> ExecAsync()
    {
        // The output comes from the pod (the exit marker is in a directory the job can write): at most MaxWaitOutputBytes are
        // kept, and an exec that sends more is closed, so a pod that streams megabytes cannot grow the runner's memory.
        var stdout = new byte[StageCommands.MaxWaitOutputBytes];
        var length = 0;
        try
        {
            // Inside the try: on a run already stopped the token throws, and that too must come back as a result.
            using var tooMuch = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token);
            var code = await _gateway.ExecAsync(_namespace, _pod, Stage.Container, Stage.Run, chunk =>
            {
                if (length + chunk.Length > stdout.Length)
                {
                    length = stdout.Length + 1;
                    tooMuch.Cancel();
                    return Task.CompletedTask;
                }

                chunk.Span.CopyTo(stdout.AsSpan(length));
                length += chunk.Length;
                return Task.CompletedTask;
            }, tooMuch.Token);
            return length > stdout.Length
                ? new ExecOversized(this, stdout.Length)
                : new ExecDone(this, code, Encoding.UTF8.GetString(stdout, 0, length));
        }
        catch (Exception) when (length > stdout.Length && !_cancel.IsCancellationRequested)
        {
            return new ExecOversized(this, stdout.Length);
        }
        catch (ExecConnectionLostException e)
        {
            return new ExecDropped(this, e.Message);
        }
        catch (Exception e)
        {
            return new ExecFailed(this, e);
        }
    }

    /// <summary>What an exec's result means for the stage: its end (<see cref="StageExited"/> or <see cref="StageBroken"/>), a
    /// retry after a pause (with a warning for the trace's log when the API refused), or nothing (the run was stopped).</summary>
    public StageStep Judge(Result result)
    {
        switch (result)
        {
            case ExecDone done:
                return OnDone(done);
            case ExecDropped:
                return StageStep.RetryIn(_reattachDelay, null);
            case ExecOversized oversized:
                return StageStep.End(new StageBroken(Stage.Name,
                    $"waiting for stage {Stage.Name} failed: its exit marker holds more than {oversized.Limit} bytes, not an exit code"));
            case ExecFailed failed:
                return OnFailed(failed);
            default:
                throw new ArgumentException($"not a result of a stage run: {result.GetType().Name}", nameof(result));
        }
    }

    /// <summary>Stops the run: an exec in flight is canceled (its result, if any, is then <see cref="StageStep.Nothing"/>).
    /// Called from the JobActor's handlers and PostStop, so it never throws and a second call does nothing: what the exec's
    /// cancel callbacks throw goes to <c>cancelFailed</c> (given to the constructor) instead of restarting the actor.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _cancel.Cancel();
        }
        catch (AggregateException e)
        {
            _cancelFailed?.Invoke(e);
        }
        finally
        {
            _cancel.Dispose();
        }
    }

    /// <summary>What the JobActor does with a step of its current run: "nothing to do" is only for a run that is over, so for
    /// the current one it would leave the stage waiting for a timeout; it breaks the stage instead (pure).</summary>
    public static StageStep ForCurrentRun(StageStep step, string stage) =>
        step == StageStep.Nothing
            ? StageStep.End(new StageBroken(stage, $"stage {stage}: its run was stopped while the stage was still running"))
            : step;

    private StageStep OnFailed(ExecFailed failed)
    {
        const string step = "running";
        switch (KubernetesFaults.Classify(failed.Error, _cancel.IsCancellationRequested ? new CancellationToken(true) : CancellationToken.None))
        {
            case FaultKind.Stopped:
                return StageStep.Nothing;
            case FaultKind.Transient:
                _attempt++;
                if (_budget.TryTake(_attempt, KubernetesFaults.RetryAfter(failed.Error), out var delay))
                {
                    return StageStep.RetryIn(delay, $"stage {Stage.Name}: {step} it failed ({KubernetesFaults.Describe(failed.Error)}); " +
                                                    $"retry {_attempt} in {delay.TotalSeconds:0.0} s");
                }

                return StageStep.End(new StageBroken(Stage.Name,
                    $"stage {Stage.Name}: {step} it failed: {KubernetesFaults.Describe(failed.Error)} " +
                    $"(the job's {_budget.Settings.MaxRetriesPerJob} retries of Kubernetes calls are spent)"));
            default:
                return StageStep.End(new StageBroken(Stage.Name, $"stage {Stage.Name}: {step} it failed: {KubernetesFaults.Describe(failed.Error)}"));
        }
    }

    private StageStep OnDone(ExecDone done)
    {
        _attempt = 0;
        if (done.ExitCode != 0 || StageCommands.ParseExitMarker(done.Stdout) is not { } marker)
        {
            return StageStep.End(new StageBroken(Stage.Name, done.ExitCode != 0
                ? $"running stage {Stage.Name} failed (exit code {done.ExitCode}, output \"{Printable(done.Stdout.Trim())}\")"
                : $"waiting for stage {Stage.Name} failed: its exit marker holds \"{Printable(done.Stdout.Trim())}\", not an exit code"));
        }

        return StageStep.End(new StageExited(Stage.Name, marker.ExitCode, marker.LogSize));
    }

    // The output is at most MaxWaitOutputBytes from the pod: control characters are shown as '?'.
    private static string Printable(string text) => new([.. text.Select(c => char.IsControl(c) ? '?' : c)]);
}

/// <summary>What a stage run's exec result means: <see cref="Outcome"/> (StageExited or StageBroken) ends the stage;
/// <see cref="Retry"/> runs the exec again after that pause (<see cref="Warning"/> says why, when the API refused it);
/// neither: nothing to do (the run was stopped).</summary>
internal readonly record struct StageStep(object? Outcome, TimeSpan? Retry, string? Warning)
{
    public static StageStep Nothing => default;
    public static StageStep End(object outcome) => new(outcome, null, null);
    public static StageStep RetryIn(TimeSpan delay, string? warning) => new(null, delay, warning);
}
