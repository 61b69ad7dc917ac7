using System.Text;
using Akka.Actor;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Runs one stage in its container: exec Launch (idempotent: a stage already launched is not run again), then exec
/// Wait, which prints the exit code from the stage's exit marker. A dropped connection means "reattach": Launch or
/// Wait is run again after a pause, never taken as the end. Reports StageExited or StageBroken to its parent.
/// </summary>
public sealed class StageActor : ReceiveActor, IWithTimers
{
    private const string ReattachTimer = "reattach";

    private enum Step { Launch, Wait }

    private sealed record ExecDone(Step Step, int ExitCode, string Stdout);
    private sealed record ExecDropped(Step Step, string Message);
    private sealed record ExecFailed(Step Step, string Message);
    private sealed record Retry(Step Step);

    private readonly PlannedStage _stage;
    private readonly string _namespace;
    private readonly string _pod;
    private readonly IKubernetesGateway _gateway;
    private readonly TimeSpan _reattachDelay;
    private readonly CancellationTokenSource _cancel = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public StageActor(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay)
    {
        _stage = stage;
        _namespace = ns;
        _pod = pod;
        _gateway = gateway;
        _reattachDelay = reattachDelay;

        Receive<ExecDone>(OnDone);
        Receive<ExecDropped>(dropped => Timers.StartSingleTimer(ReattachTimer, new Retry(dropped.Step), _reattachDelay));
        Receive<ExecFailed>(failed => Finish(new StageBroken(_stage.Name, $"stage {_stage.Name}: {failed.Message}")));
        Receive<Retry>(retry => Run(retry.Step));
    }

    public static Props Props(PlannedStage stage, string ns, string pod, IKubernetesGateway gateway, TimeSpan reattachDelay) =>
        Akka.Actor.Props.Create(() => new StageActor(stage, ns, pod, gateway, reattachDelay));

    protected override void PreStart() => Run(Step.Launch);

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
    }

    private void OnDone(ExecDone done)
    {
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

        if (done.ExitCode != 0 || !int.TryParse(done.Stdout.Trim(), out var stageExit))
        {
            Finish(new StageBroken(_stage.Name,
                $"waiting for stage {_stage.Name} failed (exit code {done.ExitCode}, output \"{Truncate(done.Stdout.Trim())}\")"));
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

        async Task<object> ExecAsync()
        {
            var stdout = new MemoryStream();
            try
            {
                var code = await gateway.ExecAsync(ns, pod, container, argv, chunk =>
                {
                    stdout.Write(chunk.Span);
                    return Task.CompletedTask;
                }, ct);
                return new ExecDone(step, code, Encoding.UTF8.GetString(stdout.ToArray()));
            }
            catch (ExecConnectionLostException e)
            {
                return new ExecDropped(step, e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new ExecFailed(step, e.Message);
            }
        }
    }

    private void Finish(object outcome)
    {
        Context.Parent.Tell(outcome);
        Context.Stop(Self);
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200];
}
