using System.Text;
using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Scripts;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Runs one stage in its container: exec Launch (idempotent: a stage already launched is not run again), then exec
/// Wait, which prints the exit code from the stage's exit marker. A dropped connection means "reattach": Launch or
/// Wait is run again after a pause, never taken as the end. An exec the API refuses with a transient answer (429, 5xx, a
/// timeout) is run again after a backoff from the job's <see cref="RetryBudget"/> (both are idempotent); a permanent refusal
/// or a spent budget breaks the stage. Reports StageExited or StageBroken to its parent.
/// </summary>
public sealed class StageActor : ReceiveActor, IWithTimers
{
    private const string ReattachTimer = "reattach";

    private enum Step { Launch, Wait }

    private sealed record ExecDone(Step Step, int ExitCode, string Stdout);
    private sealed record ExecOversized(Step Step, int Limit);
    private sealed record ExecDropped(Step Step, string Message);
    private sealed record ExecFailed(Step Step, Exception Error);
    private sealed record Retry(Step Step);

    private readonly PlannedStage _stage;
    private readonly string _namespace;
    private readonly string _pod;
    private readonly IKubernetesGateway _gateway;
    private readonly TimeSpan _reattachDelay;
    private readonly RetryBudget _budget;
    private readonly CancellationTokenSource _cancel = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _attempt;

    public ITimerScheduler Timers { get; set; } = null!;

    public StageActor(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay, RetryBudget budget)
    {
        _stage = stage;
        _namespace = ns;
        _pod = pod;
        _gateway = gateway;
        _reattachDelay = reattachDelay;
        _budget = budget;

        Receive<ExecDone>(OnDone);
        Receive<ExecDropped>(dropped => Timers.StartSingleTimer(ReattachTimer, new Retry(dropped.Step), _reattachDelay));
        Receive<ExecFailed>(OnFailed);
        Receive<ExecOversized>(oversized => Finish(new StageBroken(_stage.Name,
            $"waiting for stage {_stage.Name} failed: its exit marker holds more than {oversized.Limit} bytes, not an exit code")));
        Receive<Retry>(retry => Run(retry.Step));
    }

    public static Props Props(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay,
        RetryBudget budget) =>
        Akka.Actor.Props.Create(() => new StageActor(stage, ns, pod, gateway, reattachDelay, budget));

    protected override void PreStart() => Run(Step.Launch);

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    private void OnFailed(ExecFailed failed)
    {
        var step = failed.Step == Step.Launch ? "launching" : "waiting for";
        switch (KubernetesFaults.Classify(failed.Error, _cancel.Token))
        {
            case FaultKind.Stopped:
                return;
            case FaultKind.Transient:
                _attempt++;
                if (_budget.TryTake(_attempt, KubernetesFaults.RetryAfter(failed.Error), out var delay))
                {
                    _log.Warning("stage {Stage}: {Step} it failed ({Error}); retry {Attempt} in {Seconds:0.0} s", _stage.Name, step,
                        KubernetesFaults.Describe(failed.Error), _attempt, delay.TotalSeconds);
                    Timers.StartSingleTimer(ReattachTimer, new Retry(failed.Step), delay);
                    return;
                }

                Finish(new StageBroken(_stage.Name, $"stage {_stage.Name}: {step} it failed: {KubernetesFaults.Describe(failed.Error)} " +
                                                    $"(the job's {_budget.Settings.MaxRetriesPerJob} retries of Kubernetes calls are spent)"));
                return;
            default:
                Finish(new StageBroken(_stage.Name, $"stage {_stage.Name}: {step} it failed: {KubernetesFaults.Describe(failed.Error)}"));
                return;
        }
    }

    private void OnDone(ExecDone done)
    {
        _attempt = 0;
        if (done.Step == Step.Launch)
        {
            if (done.ExitCode != 0)
            {
                Finish(new StageBroken(_stage.Name, $"launching stage {_stage.Name} failed with exit code {done.ExitCode}"));
                return;
            }

            Run(Step.Wait);
            return;
        }

        if (done.ExitCode != 0 || StageCommands.ParseExitCode(done.Stdout) is not { } stageExit)
        {
            Finish(new StageBroken(_stage.Name, done.ExitCode != 0
                ? $"waiting for stage {_stage.Name} failed (exit code {done.ExitCode}, output \"{Printable(done.Stdout.Trim())}\")"
                : $"waiting for stage {_stage.Name} failed: its exit marker holds \"{Printable(done.Stdout.Trim())}\", not an exit code"));
            return;
        }

        Finish(new StageExited(_stage.Name, stageExit));
    }

    private void Run(Step step)
    {
        var argv = step == Step.Launch ? _stage.Launch : _stage.Wait;
        var (gateway, ns, pod, container) = (_gateway, _namespace, _pod, _stage.Container);
        var ct = _cancel.Token;
        ExecAsync().PipeTo(Self);
        return;

        // The output comes from the pod (the exit marker is in a directory the job can write): at most MaxWaitOutputBytes are
        // kept, and an exec that sends more is closed, so a pod that streams megabytes cannot grow the runner's memory.
        async Task<object> ExecAsync()
        {
            var stdout = new byte[StageCommands.MaxWaitOutputBytes];
            var length = 0;
            using var tooMuch = CancellationTokenSource.CreateLinkedTokenSource(ct);
            try
            {
                var code = await gateway.ExecAsync(ns, pod, container, argv, chunk =>
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
                return length > stdout.Length ? new ExecOversized(step, stdout.Length) : new ExecDone(step, code, Encoding.UTF8.GetString(stdout, 0, length));
            }
            catch (Exception) when (length > stdout.Length && !ct.IsCancellationRequested)
            {
                return new ExecOversized(step, stdout.Length);
            }
            catch (ExecConnectionLostException e)
            {
                return new ExecDropped(step, e.Message);
            }
            catch (Exception e)
            {
                return new ExecFailed(step, e);
            }
        }
    }

    private void Finish(object outcome)
    {
        Context.Parent.Tell(outcome);
        Context.Stop(Self);
    }

    // The output is at most MaxWaitOutputBytes from the pod: control characters are shown as '?'.
    private static string Printable(string text) => new([.. text.Select(c => char.IsControl(c) ? '?' : c)]);
}
