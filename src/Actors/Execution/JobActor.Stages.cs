using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

// Phase 2: the stages, one at a time (a StageRun this actor drives: its Run exec, reattached after a drop, retried after a
// transient refusal), in the order JobDecisions gives; in a fleet the pod's owner is read before each. Then, for `scheduler exec`, the artifact archives are copied out. A cancel kills the running stage (gracefully:
// after_script and the on-failure stages still run); the job timeout and a broken stage finish the job.
public sealed partial class JobActor
{
    private sealed record StageTimedOut(string Stage);
    private sealed record ArtifactsCollected(IReadOnlyList<string> Warnings);
    private sealed record KillSent;
    private sealed record CancelMarked;

    private const string StageRetryTimer = "stage-retry";

    private PlannedStage? _currentStage;
    private StageRun? _stageRun;
    private (PlannedStage Stage, int Index)? _ownerCheckStage;
    // The output log's size the last stage reported when it exited; null while a stage runs (its output may go on) or when
    // the marker did not say. The end reads the log up to it instead of making a final read.
    private long? _endLogSize;

    private void RunningStages(object message)
    {
        switch (message)
        {
            case TraceText text:
                OnTraceText(text);
                break;
            case PodUpdated update:
                OnPodUpdated(update);
                break;
            case StageRun.Result result:
                OnStageResult(result);
                break;
            case StageRun.Retry retry:
                if (retry.Run == _stageRun)
                {
                    retry.Run.ExecAsync().PipeTo(Self);
                }

                break;
            case CancelRequested cancel:
                OnCancel(cancel);
                break;
            case JobTimedOut:
                OnJobTimeout();
                break;
            case StageTimedOut timedOut:
                if (_currentStage?.Name == timedOut.Stage)
                {
                    Warn($"{timedOut.Stage} timed out");
                    KillCurrentStage();
                }

                break;
            case OwnerChecked check:
                OnStageOwnerChecked(check);
                break;
            case RetryOwnerCheck retry:
                CheckOwner(retry.Purpose, retry.Attempt);
                break;
            case ArtifactsCollected collected:
                foreach (var warning in collected.Warnings)
                {
                    Warn(warning);
                }

                Finish(JobDecisions.Outcome(_progress), drain: true);
                break;
            case HandOverRequested handOver:
                HandOver(handOver.Reason);
                break;
            case KillSent:
                break;
            case CancelMarked:
                StopForCancel();
                break;
            case CrashForTest:
                throw new InjectedCrashException();
            default:
                Dropped(message, "running stages");
                break;
        }
    }

    private void RunNextStage()
    {
        if (JobDecisions.NextStage(Plan.Stages, _progress) is { } next)
        {
            _progress = next.Progress;
            if (_options.OwnerId is not null)
            {
                _ownerCheckStage = (next.Stage, next.Index);
                CheckOwner(OwnerCheckPurpose.Stage, 1);
                return;
            }

            LaunchStage(next.Stage);
            return;
        }

        _progress = _progress with { NextIndex = Plan.Stages.Count };
        _currentStage = null;
        if (_options.ArtifactsDir is { } dir && Plan.ArtifactArchives.Count > 0 && !_progress.Canceled)
        {
            CollectArtifacts(dir);
            return;
        }

        Finish(JobDecisions.Outcome(_progress), drain: true);
    }

    private void LaunchStage(PlannedStage stage)
    {
        _currentStage = stage;
        _endLogSize = null;
        _logger.Info("job {JobId} of runner {Runner}: stage {Stage} started in pod {Pod}", _job.Id, _runner.Name, stage.Name, PodName);
        _listener.Tell(new JobStageChanged(_job.Id, stage.Name, false, null));
        _stageRun = new StageRun(stage, Plan.Pod.Namespace, Plan.Pod.PodName, _gateway!, _options.ReattachDelay, _budget,
            StageCancelFailed);
        _stageRun.ExecAsync().PipeTo(Self);
        if (stage.Timeout is { } limit)
        {
            Timers.StartSingleTimer(StageTimer, new StageTimedOut(stage.Name), limit);
        }
    }

    private void OnStageOwnerChecked(OwnerChecked check)
    {
        if (check.Purpose != OwnerCheckPurpose.Stage || _ownerCheckStage is not { } pending)
        {
            return;
        }

        if (JudgeOwnerCheck(check) is not { } verdict)
        {
            return; // retried, or handed over
        }

        _ownerCheckStage = null;
        if (verdict is OwnerVerdict.Gone)
        {
            Finish(JobDecisions.Failed(FailureReasons.RunnerSystemFailure, null, $"the pod {Plan.Pod.PodName} is gone"), drain: true);
            return;
        }

        if (_progress.Canceled && !JobDecisions.ShouldRun(Plan.Stages, pending.Stage, pending.Index, _progress))
        {
            RunNextStage(); // canceled while the check was out: this stage no longer runs
            return;
        }

        LaunchStage(pending.Stage);
    }

    private void OnStageResult(StageRun.Result result)
    {
        if (result.Run != _stageRun)
        {
            Dropped(result, "running stages"); // a run that is over (timed out and killed, or the job's actor restarted)
            return;
        }

        var step = result.Run.Judge(result);
        if (step == StageStep.Nothing)
        {
            // Only a stopped run ends in nothing, and a stopped run is no longer current: a bug, but not one to hang the job on.
            _logger.Error("job {JobId} of runner {Runner}: the current run of stage {Stage} was stopped; the stage fails", _job.Id, _runner.Name,
                result.Run.Stage.Name);
            step = StageRun.ForCurrentRun(step, result.Run.Stage.Name);
        }

        if (step.Warning is { } warning)
        {
            _logger.Warning("job {JobId} of runner {Runner}: {Warning}", _job.Id, _runner.Name, warning);
        }

        switch (step.Outcome)
        {
            case StageExited exited:
                OnStageExited(exited);
                return;
            case StageBroken broken:
                Finish(JobDecisions.Failed(FailureReasons.RunnerSystemFailure, null, broken.Message), drain: true);
                return;
        }

        if (step.Retry is { } delay)
        {
            Timers.StartSingleTimer(StageRetryTimer, new StageRun.Retry(result.Run), delay);
        }
    }

    // What an exec's cancel callbacks threw when its run was stopped: logged, the job goes on (a bug of the client, not the job's).
    private void StageCancelFailed(Exception error) =>
        _logger.Warning(error, "job {JobId} of runner {Runner}: stopping a stage's exec threw", _job.Id, _runner.Name);

    // The stage's run is over: an exec still in flight is canceled, and whatever it answers is dropped.
    private void EndStageRun()
    {
        _stageRun?.Dispose();
        _stageRun = null;
        Timers.Cancel(StageRetryTimer);
    }

    private void OnStageExited(StageExited exited)
    {
        if (_currentStage?.Name != exited.Stage)
        {
            return;
        }

        _logger.Info("job {JobId} of runner {Runner}: stage {Stage} exited with code {ExitCode} in pod {Pod}", _job.Id, _runner.Name, exited.Stage,
            exited.ExitCode, PodName);
        _listener.Tell(new JobStageChanged(_job.Id, exited.Stage, true, exited.ExitCode));
        _progress = JobDecisions.AfterExit(_progress, _currentStage, exited.ExitCode);
        _endLogSize = exited.LogSize;
        _currentStage = null;
        EndStageRun();
        Timers.Cancel(StageTimer);
        RunNextStage();
    }

    private void OnCancel(CancelRequested cancel)
    {
        Warn(cancel.Graceful ? "Job canceled: stopping the script, after_script still runs" : "Job canceled");
        _progress = _progress with { Canceled = true };
        if (!cancel.Graceful)
        {
            KillCurrentStage();
            Finish(JobDecisions.Canceled, drain: false);
            return;
        }

        if (Plan.MarkCanceled is { } mark && _gateway is not null)
        {
            MarkCanceled(mark);
            return;
        }

        StopForCancel();
    }

    // After the cancel mark is in the pod (or could not be written): the running stage is killed, or the next stage runs.
    private void StopForCancel()
    {
        if (_currentStage is { } stage && !stage.IgnoreFailure && stage.When != StageCondition.OnFailure)
        {
            KillCurrentStage(); // its Wait returns with the killed stage's code; then after_script and on_failure stages run
        }
        else if (_currentStage is null && _ownerCheckStage is null)
        {
            RunNextStage();
        }
    }

    // The mark comes before the kill, so after_script (which runs after the killed stage) reads CI_JOB_STATUS=canceled.
    private void MarkCanceled(IReadOnlyList<string> mark)
    {
        var (gateway, ns, pod, container) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName, Plan.LogContainer);
        MarkAsync().PipeTo(Self);
        return;

        async Task<object> MarkAsync()
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await gateway.ExecAsync(ns, pod, container, mark, null, timeout.Token);
            }
            catch (Exception)
            {
                // Without the mark after_script reports failed instead of canceled; the cancel itself goes on.
            }

            return new CancelMarked();
        }
    }

    private void KillCurrentStage()
    {
        if (_currentStage is not { } stage || _gateway is null)
        {
            return;
        }

        var (gateway, ns, pod) = (_gateway, Plan.Pod.Namespace, Plan.Pod.PodName);
        KillAsync().PipeTo(Self);
        return;

        async Task<object> KillAsync()
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await gateway.ExecAsync(ns, pod, stage.Container, stage.Kill, null, timeout.Token);
            }
            catch (Exception)
            {
                // The pod is deleted in cleanup anyway, which ends the stage for good.
            }

            return new KillSent();
        }
    }

    private void CollectArtifacts(string dir)
    {
        var (gateway, plan) = (_gateway!, Plan);
        var ct = _cancel.Token;
        ArtifactCollector.CollectAsync(gateway, plan, dir, ct)
            .ContinueWith(t => (object)new ArtifactsCollected(t.IsCompletedSuccessfully
                    ? t.Result
                    : [t.Exception?.GetBaseException().Message ?? "artifact collection failed"]),
                TaskScheduler.Default)
            .PipeTo(Self);
    }
}
