using Akka.Actor;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Runs one job: Prepare (plan, pod, wait for Running) → the stages in order → artifacts → Cleanup (delete the pod,
/// whatever the outcome) → the final trace line and JobFinished. Owns the job-timeout timer and the outcome.
/// A crash restarts it and it re-derives its state from Kubernetes: the same plan gives the same pod name, creating
/// it again finds the existing pod, Launch does not run a stage twice and Wait returns at once for a stage that
/// already finished; the job's LogStreamActor is a sibling that the restart does not touch, so the trace goes on at
/// its offset.
/// Adopted (an <see cref="AdoptedPod"/> given): the pod is only read, never created; the trace is produced again from
/// its start, as the node that started the job produced it (header, "Running on … via &lt;started-via&gt;", then the log
/// from byte 0); the job timeout counts from the pod's creation.
/// In a fleet (<see cref="ExecutionOptions.OwnerId"/> set) the job is driven only while its pod names this node: the
/// owner is read before each stage and before the delete, and a watch event naming another owner, a failed check or
/// <see cref="HandOverRequested"/> stops driving at once (no delete, no outcome; the listener gets JobHandedOver).
/// Every Kubernetes request of the job goes through a <see cref="CountingKubernetesGateway"/>; when the actor stops for good
/// the count goes to <see cref="ExecutionOptions.Observer"/>. Its log lines name the job, the runner and the pod.
/// </summary>
public sealed class JobActor : ReceiveActor, IWithTimers
{
    private const string JobTimeoutTimer = "job-timeout";
    private const string StageTimer = "stage-timeout";
    private const string PodChildName = "pod";

    private sealed record JobTimedOut;
    private sealed record StageTimedOut(string Stage);
    private sealed record PodDeleted(string? Error);
    private sealed record ArtifactsCollected(IReadOnlyList<string> Warnings);
    private sealed record KillSent;
    private enum OwnerCheckPurpose { Stage, Delete }
    private sealed record OwnerChecked(OwnerCheckPurpose Purpose, V1Pod? Pod, string? Error);

    private readonly JobPayload _job;
    private readonly RunnerEntry _runner;
    private readonly IActorRef _listener;
    private readonly ExecutionOptions _options;
    private readonly IActorRef _podWatcher;
    private readonly DateTimeOffset _admittedAt;
    private readonly JobPlanResult _planResult;
    private readonly IKubernetesGateway? _gateway;
    private readonly CancellationTokenSource _cancel = new();
    private readonly AdoptedPod? _adopted;
    private readonly KubernetesRequestCount _requests;
    private readonly Faults.RetryBudget _budget;
    private readonly ILoggingAdapter _logger = Context.GetLogger();

    private readonly IActorRef _log;
    private IActorRef? _podActor;
    private bool _podCreated;
    private bool _podReady;
    private int _nextStageIndex;
    private PlannedStage? _currentStage;
    private IActorRef? _currentStageActor;
    private bool _failed;
    private int? _failedExitCode;
    private bool _canceled;
    private JobResult? _result;
    private bool _finalizing;
    private bool _drainOnFinalize;
    private bool _restarted;
    private bool _restarting;
    private bool _traceFinished;
    private (PlannedStage Stage, int Index)? _ownerCheckStage;
    private bool _handingOver;
    private bool _finishTraceSent;
    private string? _knownResourceVersion;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="requests">The job's request count, which outlives this actor's restarts.</param>
    public JobActor(JobPayload job, RunnerEntry runner, int concurrentId, string podNameSuffix, IActorRef listener, IActorRef log,
        IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher, DateTimeOffset admittedAt,
        AdoptedPod? adopted, KubernetesRequestCount requests, Faults.RetryBudget budget)
    {
        _job = job;
        _requests = requests;
        _budget = budget;
        _adopted = adopted;
        _log = log;
        _runner = runner;
        _listener = listener;
        _options = options;
        _podWatcher = podWatcher;
        _admittedAt = admittedAt;
        _planResult = PlanSafely(options.Planner, runner, job, concurrentId, podNameSuffix);
        if (_planResult.Plan is { } adoptedPlan && adopted is not null
            && (adoptedPlan.Pod.PodName != adopted.Name || adoptedPlan.Pod.Namespace != adopted.Namespace))
        {
            _planResult = new JobPlanResult(null, $"the adopted pod {adopted.Namespace}/{adopted.Name} is not where this runner " +
                                                  $"entry puts the job ({adoptedPlan.Pod.Namespace}/{adoptedPlan.Pod.PodName})");
        }

        if (_planResult.Plan is { } plan)
        {
            PodOwnership.Stamp(plan.Pod.Pod, options.OwnerId, options.StartedVia);
            try
            {
                _gateway = new CountingKubernetesGateway(gateways.For(runner, plan.Pod.Overwrites.BearerToken), requests);
            }
            catch (Exception e)
            {
                _planResult = new JobPlanResult(null, $"no connection to Kubernetes: {e.Message}");
            }
        }

        // In a fleet the pod's waiting lines stay out of the trace: an adopting node cannot produce them again, and its
        // trace must match what GitLab already holds byte for byte.
        Receive<TraceText>(text =>
        {
            if (_options.OwnerId is null)
            {
                _log.Tell(text);
            }
        });
        Receive<PodUpdated>(OnPodUpdated);
        Receive<OwnerChecked>(OnOwnerChecked);
        Receive<HandOverRequested>(handOver => HandOver(handOver.Reason));
        Receive<PodCreated>(OnPodCreated);
        Receive<PodReady>(OnPodReady);
        Receive<PodNotStarted>(OnPodNotStarted);
        Receive<StageExited>(OnStageExited);
        Receive<StageBroken>(broken => Finalize(Failed(FailureReasons.RunnerSystemFailure, null, broken.Message), drain: true));
        Receive<CancelRequested>(OnCancel);
        Receive<JobTimedOut>(_ => OnJobTimeout());
        Receive<StageTimedOut>(timedOut =>
        {
            if (_currentStage?.Name == timedOut.Stage)
            {
                _log.Tell(new TraceText($"\u001b[0;33mWARNING: {timedOut.Stage} timed out\u001b[0;m\n"));
                KillCurrentStage();
            }
        });
        Receive<ArtifactsCollected>(collected =>
        {
            foreach (var warning in collected.Warnings)
            {
                _log.Tell(new TraceText($"\u001b[0;33mWARNING: {warning}\u001b[0;m\n"));
            }

            Finalize(OutcomeOfStages(), drain: true);
        });
        Receive<LogDrained>(_ => DeletePod());
        Receive<PodDeleted>(deleted =>
        {
            if (deleted.Error is not null)
            {
                _log.Tell(new TraceText($"\u001b[0;33mWARNING: Error cleaning up pod: {deleted.Error}\u001b[0;m\n"));
            }

            FinishTrace();
        });
        Receive<TraceFinished>(_ => OnTraceFinished());
        Receive<KillSent>(_ => { });
    }

    /// <param name="log">The job's LogStreamActor, which outlives this actor's restarts.</param>
    /// <param name="admittedAt">When the job timeout starts: admission, or the adopted pod's creation.</param>
    /// <param name="adopted">The existing pod of an adopted job; null for a new job.</param>
    public static Props Props(JobPayload job, RunnerEntry runner, int concurrentId, string podNameSuffix, IActorRef listener, IActorRef log,
        IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher, DateTimeOffset admittedAt,
        AdoptedPod? adopted = null)
    {
        // Made once here, not in the constructor: the count goes on across restarts of the actor.
        var requests = new KubernetesRequestCount();
        var budget = new Faults.RetryBudget(options.Retries);
        return Akka.Actor.Props.Create(() =>
            new JobActor(job, runner, concurrentId, podNameSuffix, listener, log, gateways, options, podWatcher, admittedAt, adopted,
                requests, budget));
    }

    // A plan that throws (a bug, or input nobody foresaw) fails the job instead of crashing the actor in a restart loop.
    private static JobPlanResult PlanSafely(IJobPlanner planner, RunnerEntry runner, JobPayload job, int concurrentId, string suffix)
    {
        try
        {
            return planner.Plan(runner, job, concurrentId, () => suffix);
        }
        catch (Exception e)
        {
            return new JobPlanResult(null, $"the job cannot be planned: {e.Message}");
        }
    }

    /// <summary>The cluster a runner's pods live in, for the node's shared watches.</summary>
    public static string ClusterKey(RunnerEntry runner) => runner.Kubernetes.Host ?? "(default)";

    protected override void PreStart()
    {
        var remaining = _admittedAt + TimeSpan.FromSeconds(_job.RunnerInfo.EffectiveTimeoutSeconds) - Context.System.Scheduler.Now;
        Timers.StartSingleTimer(JobTimeoutTimer, new JobTimedOut(), remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);

        if (!_restarted)
        {
            _log.Tell(new TraceText(
                $"Running with scheduler {_options.Identity.Version} ({_options.Identity.Revision})\n  on {_runner.Name}\n" +
                "Preparing the \"kubernetes\" executor\n"));
        }

        if (_planResult.Plan is not { } plan)
        {
            Finalize(Failed(FailureReasons.RunnerConfigurationError, null, _planResult.Refusal ?? "the job cannot run"), drain: false);
            return;
        }

        if (!_restarted)
        {
            var image = plan.Pod.Pod.Spec.Containers.FirstOrDefault(c => c.Name == PodBuilder.BuildContainer)?.Image;
            _log.Tell(new TraceText($"Using Kubernetes namespace: {plan.Pod.Namespace}\n" +
                                    (image is null ? "" : $"Using Kubernetes executor with image {image} ...\n")));
        }

        // The shared watch follows the pod while this actor drives it: the node's pod-phase counts come from it, and in a
        // fleet a claim by another node stops this actor at once. Subscribed before the PodActor, so the namespace's watch
        // runs on without a restart when the PodActor unsubscribes. On a single node this actor only joins the watch: it
        // starts, as before, when the PodActor waits for the pod.
        _podWatcher.Tell(new WatchPod(ClusterKey(_runner), plan.Pod.Namespace, plan.Pod.PodName, _gateway!,
            StartsWatch: _options.OwnerId is not null), Self);

        _podActor = Context.ActorOf(PodActor.Props(plan.Pod, _gateway!, _runner.Kubernetes, _podWatcher, ClusterKey(_runner),
            _budget, adopt: _adopted is not null), PodChildName);
    }

    protected override void PostRestart(Exception reason)
    {
        _restarted = true;
        base.PostRestart(reason);
    }

    protected override void PreRestart(Exception reason, object message)
    {
        _restarting = true; // the pod stays: the next instance adopts it
        base.PreRestart(reason, message);
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        if (_planResult.Plan is { } watched)
        {
            _podWatcher.Tell(new UnwatchPod(ClusterKey(_runner), watched.Pod.Namespace, watched.Pod.PodName), Self);
        }

        // In a fleet, a node that goes down (left, or downed by the split brain resolver) leaves its pods to the nodes
        // that adopt them.
        if (!_restarting && !_traceFinished && !_handingOver && !FleetNodeShuttingDown()
            && _planResult.Plan is { } plan && _gateway is { } gateway)
        {
            // Stopped for good before the job finished (crashed too often, or the system is shutting down): do not
            // leave the pod running. Fire and forget: nobody is left to hear the answer.
            _ = DeleteQuietlyAsync(gateway, plan.Pod.Namespace, plan.Pod.PodName);
        }

        if (!_restarting)
        {
            _options.Observer.JobKubernetesRequests(_job.Id, _requests.Requests);
        }
    }

    private bool FleetNodeShuttingDown() =>
        _options.OwnerId is not null && CoordinatedShutdown.Get(Context.System).ShutdownReason is not null;

    private static async Task DeleteQuietlyAsync(IKubernetesGateway gateway, string ns, string name)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await gateway.DeletePodAsync(ns, name, timeout.Token);
        }
        catch (Exception)
        {
            // best effort
        }
    }

    private JobExecutionPlan Plan => _planResult.Plan!;

    /// <summary>The job's pod name for log lines; "(none)" when the job has no plan.</summary>
    private string PodName => _planResult.Plan?.Pod.PodName ?? "(none)";

    private void OnTraceFinished()
    {
        _traceFinished = true;
        Context.Parent.Tell(new JobDone(_job.Id));
        Context.Stop(Self);
    }

    private void OnPodCreated(PodCreated created)
    {
        _podCreated = true;
        _knownResourceVersion = created.Pod.Metadata?.ResourceVersion;
        _logger.Info(_adopted is null ? "job {0} of runner {1}: pod {2} created" : "job {0} of runner {1}: pod {2} adopted",
            _job.Id, _runner.Name, PodName);

        if (_finalizing)
        {
            StopChild(ref _podActor);
            ContinueFinalize();
        }
    }

    private void OnPodReady(PodReady ready)
    {
        _podActor = null;
        if (_finalizing)
        {
            return;
        }

        _podReady = true;
        _log.Tell(new TraceText($"Running on {Plan.Pod.PodName} via {_adopted?.StartedVia ?? _options.StartedVia}...\n"));
        _log.Tell(new StartReading(_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName, Plan.LogContainer, Plan.ReadLog));
        RunNextStage();
    }

    private void OnPodNotStarted(PodNotStarted notStarted)
    {
        _podActor = null;
        if (_finalizing)
        {
            ContinueFinalize();
            return;
        }

        Finalize(Failed(notStarted.FailureReason, null, notStarted.Message), drain: false);
    }

    private void RunNextStage()
    {
        while (_nextStageIndex < Plan.Stages.Count)
        {
            var index = _nextStageIndex++;
            var stage = Plan.Stages[index];
            if (!ShouldRun(stage, index))
            {
                continue;
            }

            if (_options.OwnerId is not null)
            {
                _ownerCheckStage = (stage, index);
                CheckOwner(OwnerCheckPurpose.Stage);
                return;
            }

            LaunchStage(stage);
            return;
        }

        _currentStage = null;
        if (_options.ArtifactsDir is { } dir && Plan.ArtifactArchives.Count > 0 && !_canceled)
        {
            CollectArtifacts(dir);
            return;
        }

        Finalize(OutcomeOfStages(), drain: true);
    }

    private void LaunchStage(PlannedStage stage)
    {
        _currentStage = stage;
        _logger.Info("job {0} of runner {1}: stage {2} started in pod {3}", _job.Id, _runner.Name, stage.Name, PodName);
        _listener.Tell(new JobStageChanged(_job.Id, stage.Name, false, null));
        _currentStageActor = Context.ActorOf(
            StageActor.Props(stage, Plan.Pod.Namespace, Plan.Pod.PodName, _gateway!, _options.ReattachDelay, _budget),
            "stage-" + stage.Name);
        if (stage.Timeout is { } limit)
        {
            Timers.StartSingleTimer(StageTimer, new StageTimedOut(stage.Name), limit);
        }
    }

    // One GET of the pod: the fencing check before a stage and before the delete.
    private void CheckOwner(OwnerCheckPurpose purpose)
    {
        var (gateway, ns, name, ct) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName, _cancel.Token);
        ReadAsync().PipeTo(Self);
        return;

        async Task<object> ReadAsync()
        {
            try
            {
                return new OwnerChecked(purpose, await gateway.ReadPodAsync(ns, name, ct), null);
            }
            catch (Exception e)
            {
                return new OwnerChecked(purpose, null, e.Message);
            }
        }
    }

    private void OnOwnerChecked(OwnerChecked check)
    {
        if (_handingOver || _finishTraceSent)
        {
            return;
        }

        var ownerId = _options.OwnerId!;
        var name = Plan.Pod.PodName;
        if (check.Error is not null)
        {
            HandOver($"the owner of pod {name} could not be checked: {check.Error}");
            return;
        }

        var verdict = PodOwnership.Judge(check.Pod, ownerId);
        if (verdict is OwnerVerdict.OtherOwner other)
        {
            HandOver(OtherOwnerReason(other));
            return;
        }

        if (check.Purpose == OwnerCheckPurpose.Delete)
        {
            if (verdict is OwnerVerdict.Gone)
            {
                FinishTrace();
            }
            else
            {
                DeleteOwnedPod();
            }

            return;
        }

        if (_ownerCheckStage is not { } pending)
        {
            return;
        }

        _ownerCheckStage = null;
        if (_finalizing)
        {
            return;
        }

        if (verdict is OwnerVerdict.Gone)
        {
            Finalize(Failed(FailureReasons.RunnerSystemFailure, null, $"the pod {name} is gone"), drain: true);
            return;
        }

        _knownResourceVersion = check.Pod!.Metadata?.ResourceVersion ?? _knownResourceVersion;
        if (_canceled && !ShouldRun(pending.Stage, pending.Index))
        {
            RunNextStage(); // canceled while the check was out: this stage no longer runs
            return;
        }

        LaunchStage(pending.Stage);
    }

    private void OnPodUpdated(PodUpdated update)
    {
        if (_options.OwnerId is not { } ownerId || update.Type == k8s.WatchEventType.Deleted
            || PodOwnership.IsNotNewer(update.Pod.Metadata?.ResourceVersion, _knownResourceVersion))
        {
            return;
        }

        if (PodOwnership.Judge(update.Pod, ownerId) is OwnerVerdict.OtherOwner other)
        {
            HandOver(OtherOwnerReason(other));
        }
    }

    private string OtherOwnerReason(OwnerVerdict.OtherOwner other) =>
        other.Owner is null
            ? $"the pod {Plan.Pod.PodName} names no owner"
            : $"the pod {Plan.Pod.PodName} is driven by {other.Owner} now";

    /// <summary>Stops driving the job where it is: the stage and the pod's readers stop, the pod stays, the listener gets
    /// what the trace has, then JobHandedOver.</summary>
    private void HandOver(string reason)
    {
        if (_handingOver || _finishTraceSent)
        {
            return;
        }

        _handingOver = true;
        _logger.Info("job {0} of runner {1}: pod {2} handed over: {3}", _job.Id, _runner.Name, PodName, reason);
        Timers.CancelAll();
        _cancel.Cancel();
        StopChild(ref _currentStageActor);
        StopChild(ref _podActor);
        _log.Tell(new HandOverTrace(new JobHandedOver(_job.Id, reason)));
        // From here on nothing drives the job: results of calls still in flight (a stage's exit, a delete) are dropped.
        Become(() =>
        {
            Receive<TraceFinished>(_ => OnTraceFinished());
            ReceiveAny(_ => { });
        });
    }

    private bool ShouldRun(PlannedStage stage, int index)
    {
        if (_canceled)
        {
            // Canceled gracefully: the script and what prepares it are skipped; after_script and the stages for a
            // failed job still run.
            var stepScript = Plan.Stages.ToList().FindIndex(s => s.Name == StageNames.StepScript);
            return stage.IgnoreFailure || (index > stepScript && stage.When != StageCondition.OnSuccess);
        }

        return stage.When switch
        {
            StageCondition.Always => true,
            StageCondition.OnSuccess => !_failed && !_canceled,
            StageCondition.OnFailure => _failed || _canceled,
            _ => false,
        };
    }

    private void OnStageExited(StageExited exited)
    {
        if (_currentStage?.Name != exited.Stage)
        {
            return;
        }

        _logger.Info("job {0} of runner {1}: stage {2} exited with code {3} in pod {4}", _job.Id, _runner.Name, exited.Stage,
            exited.ExitCode, PodName);
        _listener.Tell(new JobStageChanged(_job.Id, exited.Stage, true, exited.ExitCode));
        _currentStage = null;
        _currentStageActor = null;
        Timers.Cancel(StageTimer);
        if (Plan.Stages.FirstOrDefault(s => s.Name == exited.Stage)?.IgnoreFailure == true)
        {
            // after_script's own result never fails the job
        }
        else if (exited.ExitCode != 0 && !_failed && !_canceled)
        {
            _failed = true;
            _failedExitCode = exited.ExitCode;
        }

        if (!_finalizing)
        {
            RunNextStage();
        }
    }

    private JobResult OutcomeOfStages()
    {
        if (_canceled)
        {
            return new JobResult(JobState.Canceled, FailureReasons.JobCanceled, null, "ERROR: Job failed: canceled");
        }

        return _failed
            ? Failed(FailureReasons.ScriptFailure, _failedExitCode, $"exit code {_failedExitCode}")
            : new JobResult(JobState.Success, null, null, "Job succeeded");
    }

    private static JobResult Failed(string reason, int? exitCode, string message) =>
        new(JobState.Failed, reason, exitCode, "ERROR: Job failed: " + message);

    private void OnCancel(CancelRequested cancel)
    {
        if (_finalizing)
        {
            return;
        }

        _log.Tell(new TraceText(cancel.Graceful
            ? "\u001b[0;33mWARNING: Job canceled: stopping the script, after_script still runs\u001b[0;m\n"
            : "\u001b[0;33mWARNING: Job canceled\u001b[0;m\n"));
        var canceledResult = new JobResult(JobState.Canceled, FailureReasons.JobCanceled, null, "ERROR: Job failed: canceled");
        if (!cancel.Graceful || !_podReady)
        {
            _canceled = true;
            KillCurrentStage();
            Finalize(canceledResult, drain: false);
            return;
        }

        _canceled = true;
        if (_currentStage is { } stage && !stage.IgnoreFailure && stage.When != StageCondition.OnFailure)
        {
            KillCurrentStage(); // its Wait returns with the killed stage's code; then after_script and on_failure stages run
        }
        else if (_currentStage is null && _ownerCheckStage is null)
        {
            RunNextStage();
        }
    }

    private void OnJobTimeout()
    {
        if (_finalizing)
        {
            return;
        }

        var timeout = TimeSpan.FromSeconds(_job.RunnerInfo.EffectiveTimeoutSeconds);
        KillCurrentStage();
        Finalize(Failed(FailureReasons.JobExecutionTimeout, null, $"execution took longer than {Format(timeout)} seconds"),
            drain: _podReady);
    }

    /// <summary>A duration as Go prints it (GitLab Runner's message): 1h0m0s, 5m0s, 30s.</summary>
    public static string Format(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes}m{span.Seconds}s"
        : span.TotalMinutes >= 1 ? $"{span.Minutes}m{span.Seconds}s"
        : $"{span.Seconds}s";

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
                await gateway.ExecAsync(ns, pod, stage.Container, stage.Kill, null, CancellationToken.None);
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
            .ContinueWith(t => (object)new ArtifactsCollected(t.IsCompletedSuccessfully ? t.Result : [t.Exception?.GetBaseException().Message ?? "artifact collection failed"]),
                TaskScheduler.Default)
            .PipeTo(Self);
    }

    private void Finalize(JobResult result, bool drain)
    {
        if (_finalizing)
        {
            return;
        }

        _finalizing = true;
        _result = result;
        _drainOnFinalize = drain && _podReady;
        Timers.CancelAll();
        StopChild(ref _currentStageActor);
        if (_podActor is not null && !_podCreated)
        {
            return; // a create in flight: wait for PodCreated or PodNotStarted so that the pod is not left behind
        }

        StopChild(ref _podActor);
        ContinueFinalize();
    }

    private void ContinueFinalize()
    {
        if (_drainOnFinalize)
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
            CheckOwner(OwnerCheckPurpose.Delete);
            return;
        }

        DeleteOwnedPod();
    }

    private void DeleteOwnedPod()
    {
        var (gateway, ns, name) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName);
        DeleteAsync().PipeTo(Self);
        return;

        async Task<object> DeleteAsync()
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
                await gateway.DeletePodAsync(ns, name, timeout.Token);
                return new PodDeleted(null);
            }
            catch (Exception e)
            {
                return new PodDeleted(e.Message);
            }
        }
    }

    private void FinishTrace()
    {
        _finishTraceSent = true;
        var result = _result!;
        // State and reason only: the result's message may quote the job's own input.
        _logger.Info("job {0} of runner {1}: pod {2} finished: {3} ({4})", _job.Id, _runner.Name, PodName, result.State,
            result.FailureReason ?? "no failure");
        var colour = result.State == JobState.Success ? "\u001b[32;1m" : "\u001b[31;1m";
        _log.Tell(new FinishTrace($"{colour}{result.Message}\u001b[0;m\n", new JobFinished(_job.Id, result)));
    }

    private void StopChild(ref IActorRef? child)
    {
        if (child is not null)
        {
            Context.Stop(child);
            child = null;
        }
    }
}
