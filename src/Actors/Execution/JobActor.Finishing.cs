using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

// Phase 3: the end, whatever the outcome. Wait for a pod create still in flight (so that no pod is left behind), drain the
// log (when the pod ran), print the pod's Warning events when the job failed (print_pod_warning_events), check the owner in
// a fleet, delete the pod (cleanup_grace_period_seconds) and with namespace_per_job the job's namespace, all within
// cleanup_resources_timeout, then the final trace line and JobFinished; the coordinator's slot frees when this actor stops.
// Cancel and timeout no longer apply; late results are dropped.
public sealed partial class JobActor
{
    private sealed record PodDeleted(string? Error);
    private sealed record NamespaceDeleted(string? Error);
    private sealed record WarningEventsListed(IReadOnlyList<string> Messages, string? Error);
    private sealed record PodReportOverdue;

    /// <summary>At most this many Warning events are printed, each cut to <see cref="EventMessageLimit"/> characters: the
    /// cluster's events are not the job's to flood the trace with.</summary>
    internal const int WarningEventLimit = 200;
    internal const int EventMessageLimit = 1024;

    /// <summary>How often the end tries to delete the pod on transient faults (1, 2, 4, 8 s apart).</summary>
    internal const int DeleteAttempts = 5;

    /// <summary>How long the end waits for a PodActor whose create is in flight; past it the pod is deleted by name anyway.</summary>
    private static readonly TimeSpan PodReportGrace = TimeSpan.FromMinutes(5);

    private JobResult? _result;
    private bool _drainOnFinish;
    private bool _finishTraceSent;
    private bool _traceFinished;
    private DateTimeOffset? _cleanupDeadline;

    private void Finish(JobResult result, bool drain)
    {
        if (_result is not null)
        {
            return;
        }

        _result = result;
        _drainOnFinish = drain && _podReady;
        Timers.CancelAll();
        EndStageRun();
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

    private void Finishing(object message)
    {
        switch (message)
        {
            case TraceText text:
                OnTraceText(text);
                break;
            case PodCreated created:
                OnPodCreated(created);
                StopChild(ref _podActor);
                ContinueFinish();
                break;
            case PodNotStarted or PodReady:
                PodActorDone();
                break;
            case PodReportOverdue:
                _podCreated = true; // unknown: delete by name, which is harmless when there is no pod
                PodActorDone();
                break;
            case LogDrained:
                PrintWarningEvents();
                break;
            case WarningEventsListed listed:
                OnWarningEventsListed(listed);
                break;
            case OwnerChecked check:
                OnDeleteOwnerChecked(check);
                break;
            case RetryOwnerCheck retry:
                CheckOwner(retry.Purpose, retry.Attempt);
                break;
            case PodDeleted deleted:
                if (deleted.Error is not null)
                {
                    Warn($"Error cleaning up pod: {deleted.Error}");
                }

                DeleteNamespace();
                break;
            case NamespaceDeleted deleted:
                if (deleted.Error is not null)
                {
                    Warn($"Error cleaning up namespace: {deleted.Error}");
                }

                FinishTrace();
                break;
            case TraceFinished:
                OnTraceFinished();
                break;
            case HandOverRequested handOver:
                HandOver(handOver.Reason);
                break;
            case PodUpdated update:
                OnPodUpdated(update);
                break;
            case CrashForTest:
                throw new InjectedCrashException();
            default:
                // Cancel, timeout, a stage's late exit, a kill's answer, collected artifacts: the job is ending already.
                break;
        }
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
            _log.Tell(new DrainLog(_endLogSize));
        }
        else
        {
            PrintWarningEvents();
        }
    }

    // print_pod_warning_events (GitLab Runner's default: on): a failed job's trace ends with what the cluster warned about
    // its pod (a failed pull, a failed mount, an eviction), oldest first.
    private void PrintWarningEvents()
    {
        if (_result!.State == JobState.Success || !_runner.Kubernetes.PrintPodWarningEvents || _planResult.Plan is null
            || !_podCreated || _gateway is null)
        {
            DeletePod();
            return;
        }

        var (gateway, ns, name, jobSecret, ran) = (_gateway, Plan.Pod.Namespace, Plan.Pod.PodName, Plan.Pod.JobSecret.Metadata.Name, _podReady);
        ListAsync().PipeTo(Self);
        return;

        async Task<object> ListAsync()
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
                var events = await gateway.ListWarningEventsAsync(ns, name, WarningEventLimit, timeout.Token);
                return new WarningEventsListed(WarningEventLines(events.Where(e => !PodStatus.IsJobSecretMountWait(e, jobSecret, ran))), null);
            }
            catch (Exception e)
            {
                return new WarningEventsListed([], Faults.KubernetesFaults.Describe(e));
            }
        }
    }

    /// <summary>The events' messages in the order they last happened, each on one line and bounded (pure).</summary>
    internal static IReadOnlyList<string> WarningEventLines(IEnumerable<k8s.Models.Corev1Event> events) =>
        events
            .Where(e => !string.IsNullOrWhiteSpace(e.Message))
            .OrderBy(LastOccurred)
            .Take(WarningEventLimit)
            .Select(e => OneLine(e.Message))
            .ToList();

    // As GitLab Runner orders them: the series' last time, else lastTimestamp, eventTime, firstTimestamp, creation.
    private static DateTime LastOccurred(k8s.Models.Corev1Event e) =>
        e.Series?.LastObservedTime ?? e.LastTimestamp ?? e.EventTime ?? e.FirstTimestamp ?? e.Metadata?.CreationTimestamp ?? DateTime.MinValue;

    private static string OneLine(string text)
    {
        var line = string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return line.Length <= EventMessageLimit ? line : line[..EventMessageLimit] + "…";
    }

    private void OnWarningEventsListed(WarningEventsListed listed)
    {
        if (_finishTraceSent)
        {
            return;
        }

        if (listed.Error is not null)
        {
            _logger.Warning("job {JobId}: could not list the Warning events of pod {Pod}: {Error}", _job.Id, PodName, listed.Error);
        }

        foreach (var message in listed.Messages)
        {
            Warn($"Event retrieved from the cluster: {message}");
        }

        DeletePod();
    }

    // cleanup_resources_timeout bounds the pod delete and the namespace delete together, from the first of them.
    private TimeSpan CleanupTimeLeft()
    {
        _cleanupDeadline ??= DateTimeOffset.UtcNow + _runner.Kubernetes.CleanupResourcesTimeout;
        var left = _cleanupDeadline.Value - DateTimeOffset.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private string CleanupTimedOut() =>
        $"the cleanup did not finish within cleanup_resources_timeout ({Format(_runner.Kubernetes.CleanupResourcesTimeout)})";

    private void DeletePod()
    {
        if (_planResult.Plan is null || !_podCreated)
        {
            DeleteNamespace();
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
                DeleteNamespace();
                return;
            default:
                DeleteOwnedPod();
                return;
        }
    }

    private void DeleteOwnedPod()
    {
        var (gateway, ns, name) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName);
        var (grace, left, timedOut) = (_runner.Kubernetes.CleanupGracePeriodSeconds, CleanupTimeLeft(), CleanupTimedOut());
        DeleteAsync().PipeTo(Self);
        return;

        async Task<object> DeleteAsync() =>
            new PodDeleted(await DeleteWithRetriesAsync(ct => gateway.DeletePodAsync(ns, name, grace, ct), left, timedOut));
    }

    // Several tries on transient faults (1, 2, 4, 8 s apart; a hung request costs a minute at most), all within `left`:
    // a pod left behind costs the cluster until activeDeadlineSeconds ends it. Null, or why the delete failed.
    private static async Task<string?> DeleteWithRetriesAsync(Func<CancellationToken, Task> delete, TimeSpan left, string timedOut)
    {
        using var whole = new CancellationTokenSource(left);
        string? error = null;
        for (var attempt = 1; attempt <= DeleteAttempts; attempt++)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(whole.Token);
                timeout.CancelAfter(TimeSpan.FromMinutes(1));
                await delete(timeout.Token);
                return null;
            }
            catch (Exception e)
            {
                error = whole.IsCancellationRequested ? timedOut : Faults.KubernetesFaults.Describe(e);
                if (whole.IsCancellationRequested
                    || Faults.KubernetesFaults.Classify(e, CancellationToken.None) != Faults.FaultKind.Transient)
                {
                    return error;
                }
            }

            if (attempt < DeleteAttempts)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(8, 1 << (attempt - 1))), whole.Token);
                }
                catch (OperationCanceledException)
                {
                    return timedOut;
                }
            }
        }

        return error;
    }

    // namespace_per_job: the job's namespace goes after the job (with whatever is left in it), as GitLab Runner deletes it.
    private void DeleteNamespace()
    {
        if (!_runner.Kubernetes.NamespacePerJob || _planResult.Plan is null || _gateway is null)
        {
            FinishTrace();
            return;
        }

        var (gateway, ns, left, timedOut) = (_gateway, Plan.Pod.Namespace, CleanupTimeLeft(), CleanupTimedOut());
        DeleteAsync().PipeTo(Self);
        return;

        async Task<object> DeleteAsync() =>
            new NamespaceDeleted(await DeleteWithRetriesAsync(ct => gateway.DeleteNamespaceAsync(ns, ct), left, timedOut));
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
        _logger.Info("job {JobId} of runner {Runner}: pod {Pod} finished: {State} ({FailureReason})", _job.Id, _runner.Name, PodName, result.State,
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
