using System.Text;
using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Scripts;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Runs one stage in its container with one exec, Run: it launches the stage (idempotent: a stage already launched is not
/// run again; detached: the exec's end never ends the stage) and waits for its exit marker, which it prints (the exit code
/// and the output log's size then). A dropped connection means "reattach": Run is run again after a pause, which only waits,
/// and a drop is never taken as the end. An exec the API refuses with a transient answer (429, 5xx, a timeout) is run again
/// after a backoff from the job's <see cref="RetryBudget"/>; a permanent refusal or a spent budget breaks the stage. Reports
/// StageExited or StageBroken to its parent.
/// </summary>
public sealed class StageActor : UntypedActor, IWithTimers
{
    private const string ReattachTimer = "reattach";

    private sealed record ExecDone(int ExitCode, string Stdout);
    private sealed record ExecOversized(int Limit);
    private sealed record ExecDropped(string Message);
    private sealed record ExecFailed(Exception Error);
    private sealed record Retry;

    private readonly PlannedStage _stage;
    private readonly string _namespace;
    private readonly string _pod;
    private readonly IKubernetesGateway _gateway;
    private readonly TimeSpan _reattachDelay;
    private readonly RetryBudget _budget;
    private readonly CancellationTokenSource _cancel = new();
    private ILoggingAdapter? _log;
    private int _attempt;

    public ITimerScheduler Timers { get; set; } = null!;

    // Made when first needed (a warning): Akka builds the logger's source from the actor's path, a string per actor.
    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    public StageActor(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay, RetryBudget budget)
    {
        _stage = stage;
        _namespace = ns;
        _pod = pod;
        _gateway = gateway;
        _reattachDelay = reattachDelay;
        _budget = budget;
    }

    // A switch rather than ReceiveActor's handler table, which is built for each of the three stages of every job.
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case ExecDone done:
                OnDone(done);
                break;
            case ExecDropped:
                Timers.StartSingleTimer(ReattachTimer, new Retry(), _reattachDelay);
                break;
            case ExecFailed failed:
                OnFailed(failed);
                break;
            case ExecOversized oversized:
                Finish(new StageBroken(_stage.Name,
                    $"waiting for stage {_stage.Name} failed: its exit marker holds more than {oversized.Limit} bytes, not an exit code"));
                break;
            case Retry:
                Run();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    public static Props Props(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay,
        RetryBudget budget) =>
        DirectProps.Of(() => new StageActor(stage, ns, pod, gateway, reattachDelay, budget)); // three per job: no expression to walk

    protected override void PreStart() => Run();

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    private void OnFailed(ExecFailed failed)
    {
        const string step = "running";
        switch (KubernetesFaults.Classify(failed.Error, _cancel.Token))
        {
            case FaultKind.Stopped:
                return;
            case FaultKind.Transient:
                _attempt++;
                if (_budget.TryTake(_attempt, KubernetesFaults.RetryAfter(failed.Error), out var delay))
                {
                    Log.Warning("stage {Stage}: {Step} it failed ({Error}); retry {Attempt} in {Seconds:0.0} s", _stage.Name, step,
                        KubernetesFaults.Describe(failed.Error), _attempt, delay.TotalSeconds);
                    Timers.StartSingleTimer(ReattachTimer, new Retry(), delay);
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
        if (done.ExitCode != 0 || StageCommands.ParseExitMarker(done.Stdout) is not { } marker)
        {
            Finish(new StageBroken(_stage.Name, done.ExitCode != 0
                ? $"running stage {_stage.Name} failed (exit code {done.ExitCode}, output \"{Printable(done.Stdout.Trim())}\")"
                : $"waiting for stage {_stage.Name} failed: its exit marker holds \"{Printable(done.Stdout.Trim())}\", not an exit code"));
            return;
        }

        Finish(new StageExited(_stage.Name, marker.ExitCode, marker.LogSize));
    }

    private void Run()
    {
        var argv = _stage.Run;
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
                return length > stdout.Length ? new ExecOversized(stdout.Length) : new ExecDone(code, Encoding.UTF8.GetString(stdout, 0, length));
            }
            catch (Exception) when (length > stdout.Length && !ct.IsCancellationRequested)
            {
                return new ExecOversized(stdout.Length);
            }
            catch (ExecConnectionLostException e)
            {
                return new ExecDropped(e.Message);
            }
            catch (Exception e)
            {
                return new ExecFailed(e);
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
