using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

// Phase 3: the end, whatever the outcome. Wait for a pod create still in flight (so that no pod is left behind), drain the
// log (when the pod ran), check the owner in a fleet, delete the pod, then the final trace line and JobFinished; the
// coordinator's slot frees when this actor stops. Cancel and timeout no longer apply; late results are dropped.
public sealed partial class JobActor
{
    private sealed record PodDeleted(string? Error);
    private sealed record PodReportOverdue;

    /// <summary>How often the end tries to delete the pod on transient faults (1, 2, 4, 8 s apart).</summary>
    internal const int DeleteAttempts = 5;

    /// <summary>How long the end waits for a PodActor whose create is in flight; past it the pod is deleted by name anyway.</summary>
    private static readonly TimeSpan PodReportGrace = TimeSpan.FromMinutes(5);

    private JobResult? _result;
    private bool _drainOnFinish;
    private bool _finishTraceSent;
    private bool _traceFinished;

    private void Finish(JobResult result, bool drain)
    {
        if (_result is not null)
        {
            return;
        }

        _result = result;
        _drainOnFinish = drain && _podReady;
        Timers.CancelAll();
        StopChild(ref _currentStageActor);
        _ownerCheckStage = null;
        Become(Finishing);
        if (_podActor is not null && !_podCreated)
        {
            // A create in flight: the PodActor stops retrying, deletes what it made and reports (PodCreated or
            // PodNotStarted), so that nothing is left behind; the grace timer only guards against a PodActor that never does.
            _podActor.Tell(new StopStartingPod($"the job ended before its pod started: {result.Message}"));
            Timers.StartSingleTimer("pod-report", new PodReportOverdue(), PodReportGrace);
            return;
        }

        StopChild(ref _podActor);
        ContinueFinish();
    }

    private void Finishing()
    {
        Receive<TraceText>(OnTraceText);
        Receive<PodCreated>(created =>
        {
            OnPodCreated(created);
            StopChild(ref _podActor);
            ContinueFinish();
        });
        Receive<PodNotStarted>(_ => PodActorDone());
        Receive<PodReady>(_ => PodActorDone());
        Receive<PodReportOverdue>(_ =>
        {
            _podCreated = true; // unknown: delete by name, which is harmless when there is no pod
            PodActorDone();
        });
        Receive<LogDrained>(_ => DeletePod());
        Receive<OwnerChecked>(OnDeleteOwnerChecked);
        Receive<RetryOwnerCheck>(retry => CheckOwner(retry.Purpose, retry.Attempt));
        Receive<PodDeleted>(deleted =>
        {
            if (deleted.Error is not null)
            {
                Warn($"Error cleaning up pod: {deleted.Error}");
            }

            FinishTrace();
        });
        Receive<TraceFinished>(_ => OnTraceFinished());
        Receive<HandOverRequested>(handOver => HandOver(handOver.Reason));
        Receive<PodUpdated>(OnPodUpdated);
        Receive<CrashForTest>(_ => throw new InjectedCrashException());
        // Cancel, timeout, a stage's late exit, a kill's answer, collected artifacts: the job is ending already.
        ReceiveAny(_ => { });
    }

    private void PodActorDone()
    {
        if (_podActor is null)
        {
            return;
        }

        StopChild(ref _podActor);
        ContinueFinish();
    }

    private void ContinueFinish()
    {
        if (_drainOnFinish)
        {
            _log.Tell(new DrainLog());
        }
        else
        {
            DeletePod();
        }
    }

    private void DeletePod()
    {
        if (_planResult.Plan is null || !_podCreated)
        {
            FinishTrace();
            return;
        }

        if (_options.OwnerId is not null)
        {
            CheckOwner(OwnerCheckPurpose.Delete, 1);
            return;
        }

        DeleteOwnedPod();
    }

    private void OnDeleteOwnerChecked(OwnerChecked check)
    {
        if (check.Purpose != OwnerCheckPurpose.Delete || _finishTraceSent)
        {
            return;
        }

        switch (JudgeOwnerCheck(check))
        {
            case null:
                return; // retried, or handed over
            case OwnerVerdict.Gone:
                FinishTrace();
                return;
            default:
                DeleteOwnedPod();
                return;
        }
    }

    private void DeleteOwnedPod()
    {
        var (gateway, ns, name) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName);
        DeleteAsync().PipeTo(Self);
        return;

        async Task<object> DeleteAsync()
        {
            // Several tries (a hung request costs the gateway's 30 s each): a pod left behind costs the cluster until
            // activeDeadlineSeconds ends it.
            string? error = null;
            for (var attempt = 1; attempt <= DeleteAttempts; attempt++)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
                    await gateway.DeletePodAsync(ns, name, timeout.Token);
                    return new PodDeleted(null);
                }
                catch (Exception e)
                {
                    error = Faults.KubernetesFaults.Describe(e);
                    if (Faults.KubernetesFaults.Classify(e, CancellationToken.None) != Faults.FaultKind.Transient)
                    {
                        break;
                    }

                    if (attempt < DeleteAttempts)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(Math.Min(8, 1 << (attempt - 1))));
                    }
                }
            }

            return new PodDeleted(error);
        }
    }

    private void FinishTrace()
    {
        if (_finishTraceSent)
        {
            return;
        }

        _finishTraceSent = true;
        var result = _result!;
        // State and reason only: the result's message may quote the job's own input.
        _logger.Info("job {0} of runner {1}: pod {2} finished: {3} ({4})", _job.Id, _runner.Name, PodName, result.State,
            result.FailureReason ?? "no failure");
        var colour = result.State == JobState.Success ? "\u001b[32;1m" : "\u001b[31;1m";
        _log.Tell(new FinishTrace($"{colour}{result.Message}\u001b[0;m\n", new JobFinished(_job.Id, result)));
    }

    private void OnTraceFinished()
    {
        _traceFinished = true;
        Context.Parent.Tell(new JobDone(_job.Id));
        Context.Stop(Self);
    }
}
