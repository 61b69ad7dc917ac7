using Akka.Actor;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Runs one job as a state machine, one behaviour per phase (this file: construction, lifecycle and what every phase shares):
/// <list type="number">
/// <item><b>Preparing</b> (JobActor.Preparing.cs): the PodActor creates the pod and its Secrets (or reads an adopted pod) and
/// waits for Running;</item>
/// <item><b>Running stages</b> (JobActor.Stages.cs): the stages in order, each a <see cref="StageRun"/>, the owner checked before each
/// in a fleet, then the artifacts copied out for <c>scheduler exec</c>;</item>
/// <item><b>Finishing</b> (JobActor.Finishing.cs): drain the log, check the owner, delete the pod, the final trace line and
/// JobFinished;</item>
/// <item><b>Handing over</b>: stop driving the job where it is (no delete, no outcome), the listener gets JobHandedOver;</item>
/// <item><b>Resuming</b>: after a crash, wait a backoff (<see cref="JobDecisions.RestartBackoff"/>), then re-derive the state
/// from Kubernetes: the same plan gives the same pod name, creating it again finds the existing pod, Launch does not run a
/// stage twice and Wait returns at once for a stage that already finished. The LogStreamActor is a sibling the restart
/// does not touch, so the trace goes on at its offset.</item>
/// </list>
/// Decisions (next stage, outcome, failure reason) are the pure <see cref="JobDecisions"/>. Adopted (an
/// <see cref="AdoptedPod"/> given): the pod is only read, the trace is produced again from its start, the job timeout counts
/// from the pod's creation. In a fleet (<see cref="ExecutionOptions.OwnerId"/> set) the job is driven only while its pod
/// names this node (read before each stage and the delete, followed on the shared watch); a read that fails transiently is
/// retried, and only a pod that is gone or names another owner stops the job here.
/// </summary>
public sealed partial class JobActor : UntypedActor, IWithTimers, IWithUnboundedStash
{
    private const string JobTimeoutTimer = "job-timeout";
    private const string StageTimer = "stage-timeout";
    private const string ResumeTimer = "resume";
    private const string PodChildName = "pod";

    private sealed record JobTimedOut;
    private sealed record Resume;

    /// <summary>What outlives the actor's restarts: the job's request count, its retry budget and how often it restarted.</summary>
    public sealed class JobRunState
    {
        public KubernetesRequestCount Requests { get; } = new();
        public RetryBudget? Budget { get; init; }
        public int Restarts { get; set; }
    }

    private readonly JobPayload _job;
    private readonly RunnerEntry _runner;
    private readonly IActorRef _listener;
    private readonly ExecutionOptions _options;
    private readonly IActorRef _podWatcher;
    private readonly DateTimeOffset _admittedAt;
    private JobPlanResult _planResult;
    private readonly IKubernetesGateway? _gateway;
    private readonly CancellationTokenSource _cancel = new();
    private readonly AdoptedPod? _adopted;
    private readonly JobRunState _run;
    private readonly RetryBudget _budget;
    private readonly ILoggingAdapter _logger = Context.GetLogger();
    private readonly IActorRef _log;

    private StageProgress _progress = StageProgress.Start;
    private bool _podReady;
    private bool _restarting;
    private bool _stoppedDriving;
    private string? _knownResourceVersion;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    /// <param name="run">What outlives this actor's restarts.</param>
    public JobActor(JobPayload job, RunnerEntry runner, int concurrentId, string podNameSuffix, IActorRef listener, IActorRef log,
        IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher, DateTimeOffset admittedAt,
        AdoptedPod? adopted, JobRunState run)
    {
        _job = job;
        _run = run;
        _budget = run.Budget ?? new RetryBudget(options.Retries);
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
                _gateway = new CountingKubernetesGateway(gateways.For(runner, plan.Pod.Overwrites.BearerToken), run.Requests);
            }
            catch (Exception e)
            {
                _planResult = new JobPlanResult(null, $"no connection to Kubernetes: {e.Message}");
            }
        }

    }

    // The states are methods switching on the message (Become(Finishing), …) rather than ReceiveActor handler tables, which
    // Akka builds again at every state change of every job.
    protected override void OnReceive(object message) => Preparing(message);

    /// <param name="log">The job's LogStreamActor, which outlives this actor's restarts.</param>
    /// <param name="admittedAt">When the job timeout starts: admission, or the adopted pod's creation.</param>
    /// <param name="adopted">The existing pod of an adopted job; null for a new job.</param>
    public static Props Props(JobPayload job, RunnerEntry runner, int concurrentId, string podNameSuffix, IActorRef listener, IActorRef log,
        IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher, DateTimeOffset admittedAt,
        AdoptedPod? adopted = null)
    {
        // Made once here, not in the constructor: the count, the budget and the restarts go on across restarts of the actor.
        var run = new JobRunState
        {
            Budget = new RetryBudget(options.Retries.For(runner.Kubernetes.RetryLimit, runner.Kubernetes.RetryBackoffMax) with
            {
                Limits = runner.Kubernetes.RetryLimits,
            }),
        };
        return DirectProps.Of(() =>
            new JobActor(job, runner, concurrentId, podNameSuffix, listener, log, gateways, options, podWatcher, admittedAt, adopted,
                run));
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

    /// <summary>A duration as Go prints it (GitLab Runner's message): 1h0m0s, 5m0s, 30s.</summary>
    public static string Format(TimeSpan span) => JobDecisions.Format(span);

    private JobExecutionPlan Plan => _planResult.Plan!;

    /// <summary>The job's pod name for log lines; "(none)" when the job has no plan.</summary>
    private string PodName => _planResult.Plan?.Pod.PodName ?? "(none)";

    protected override void PreStart()
    {
        var remaining = _admittedAt + TimeSpan.FromSeconds(_job.RunnerInfo.EffectiveTimeoutSeconds) - Context.System.Scheduler.Now;
        Timers.StartSingleTimer(JobTimeoutTimer, new JobTimedOut(), remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);

        if (_run.Restarts > 0)
        {
            // Restarted after a crash: wait a little before asking Kubernetes where the job is, so that a crash loop
            // cannot hammer the API server; what arrives meanwhile waits in the stash.
            _logger.Warning("job {JobId} of runner {Runner}: the job's actor restarted ({Restarts}); resuming in {Delay}", _job.Id, _runner.Name,
                _run.Restarts, JobDecisions.RestartBackoff(_run.Restarts));
            Become(Resuming);
            Timers.StartSingleTimer(ResumeTimer, new Resume(), JobDecisions.RestartBackoff(_run.Restarts));
            return;
        }

        _log.Tell(new TraceText(
            $"Running with scheduler {_options.Identity.Version} ({_options.Identity.Revision})\n  on {_runner.Name}\n" +
            "Preparing the \"kubernetes\" executor\n"));
        StartPreparing(announce: true);
    }

    private void Resuming(object message)
    {
        switch (message)
        {
            case Resume:
                Become(Preparing);
                Stash.UnstashAll();
                StartPreparing(announce: false);
                break;
            case JobTimedOut:
                // The job's time is up while resuming: finish it from here (the pod is found by name and deleted).
                Timers.Cancel(ResumeTimer);
                Become(Preparing);
                Stash.UnstashAll();
                OnJobTimeout();
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    protected override void PreRestart(Exception reason, object message)
    {
        _restarting = true; // the pod stays: the next instance finds it
        _run.Restarts++;
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
        if (!_restarting && !_traceFinished && !_stoppedDriving && !FleetNodeShuttingDown()
            && _planResult.Plan is { } plan && _gateway is { } gateway)
        {
            // Stopped for good before the job finished (crashed too often, or the system is shutting down): do not
            // leave the pod running. Fire and forget: nobody is left to hear the answer.
            _ = DeleteQuietlyAsync(gateway, plan.Pod.Namespace, plan.Pod.PodName, _runner.Kubernetes.CleanupGracePeriodSeconds);
        }

        if (!_restarting)
        {
            _options.Observer.JobKubernetesRequests(_job.Id, _run.Requests.Requests);
        }

        // Last: the exec's cancel callbacks run here (Dispose never throws, but nothing above depends on them either).
        // No timer call here: the timers go with the actor.
        _stageRun?.Dispose();
        _stageRun = null;
    }

    private bool FleetNodeShuttingDown() =>
        _options.OwnerId is not null && CoordinatedShutdown.Get(Context.System).ShutdownReason is not null;

    private static async Task DeleteQuietlyAsync(IKubernetesGateway gateway, string ns, string name, long? gracePeriodSeconds)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await gateway.DeletePodAsync(ns, name, gracePeriodSeconds, timeout.Token);
        }
        catch (Exception)
        {
            // best effort
        }
    }

    // ---- shared by the phases ----

    // In a fleet the pod's waiting lines stay out of the trace: an adopting node cannot produce them again, and its trace must
    // match what GitLab already holds byte for byte.
    private void OnTraceText(TraceText text)
    {
        if (_options.OwnerId is null)
        {
            _log.Tell(text);
        }
    }

    private void Warn(string text) => _log.Tell(new TraceText($"\u001b[0;33mWARNING: {text}\u001b[0;m\n"));

    /// <summary>A watch event for the pod: in a fleet, another owner stops this node driving the job.</summary>
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
        if (_stoppedDriving || _finishTraceSent)
        {
            return;
        }

        _stoppedDriving = true;
        _logger.Info("job {JobId} of runner {Runner}: pod {Pod} handed over: {Reason}", _job.Id, _runner.Name, PodName, reason);
        Timers.CancelAll();
        _cancel.Cancel();
        EndStageRun();
        foreach (var child in Context.GetChildren())
        {
            Context.Stop(child);
        }

        _log.Tell(new HandOverTrace(new JobHandedOver(_job.Id, reason)));
        Become(HandingOver);
    }

    // From here on nothing drives the job: results of calls still in flight (a stage's exit, a delete) are dropped.
    private void HandingOver(object message)
    {
        if (message is TraceFinished)
        {
            OnTraceFinished();
        }
    }

    /// <summary>One GET of the pod: the fencing check before a stage and before the delete. A transient failure comes back
    /// as such, so the check is retried instead of giving the job up.</summary>
    private void CheckOwner(OwnerCheckPurpose purpose, int attempt)
    {
        var (gateway, ns, name, ct) = (_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName, _cancel.Token);
        ReadAsync().PipeTo(Self);
        return;

        async Task<object> ReadAsync()
        {
            try
            {
                return new OwnerChecked(purpose, attempt, await gateway.ReadPodAsync(ns, name, ct), null, false);
            }
            catch (Exception e)
            {
                var kind = KubernetesFaults.Classify(e, ct);
                return new OwnerChecked(purpose, attempt, null, KubernetesFaults.Describe(e), kind == FaultKind.Transient);
            }
        }
    }

    private enum OwnerCheckPurpose { Stage, Delete }

    private sealed record OwnerChecked(OwnerCheckPurpose Purpose, int Attempt, V1Pod? Pod, string? Error, bool Transient);

    private sealed record RetryOwnerCheck(OwnerCheckPurpose Purpose, int Attempt);

    /// <summary>How many times a transient failure of the owner check before the delete is retried; then the pod is left
    /// (it names this node: activeDeadlineSeconds ends it) and the job reported as it ended.</summary>
    private const int MaxDeleteOwnerChecks = 12;

    /// <summary>Judges an owner check: null when the check must be retried (transient, scheduled here) or the job was handed
    /// over; otherwise the verdict.</summary>
    private OwnerVerdict? JudgeOwnerCheck(OwnerChecked check)
    {
        if (check.Error is not null)
        {
            if (check.Transient && (check.Purpose == OwnerCheckPurpose.Stage || check.Attempt < MaxDeleteOwnerChecks))
            {
                var delay = JobDecisions.OwnerCheckBackoff(check.Attempt);
                _logger.Warning("job {JobId} of runner {Runner}: the owner of pod {Pod} could not be read ({Error}); again in {Delay}", _job.Id,
                    _runner.Name, PodName, check.Error, delay);
                Timers.StartSingleTimer("owner-check", new RetryOwnerCheck(check.Purpose, check.Attempt + 1), delay);
                return null;
            }

            if (!check.Transient)
            {
                HandOver($"the owner of pod {Plan.Pod.PodName} could not be checked: {check.Error}");
                return null;
            }

            return new OwnerVerdict.Gone(); // unreachable for this long: leave the pod alone, report what is known
        }

        var verdict = PodOwnership.Judge(check.Pod, _options.OwnerId!);
        if (verdict is OwnerVerdict.OtherOwner other)
        {
            HandOver(OtherOwnerReason(other));
            return null;
        }

        if (verdict is not OwnerVerdict.Gone)
        {
            _knownResourceVersion = check.Pod!.Metadata?.ResourceVersion ?? _knownResourceVersion;
        }

        return verdict;
    }

    // A message that does not belong to the phase: a late answer of a phase that is over (a PodActor's or a stage run's last
    // word, a retry timer of a check that no longer matters). Nothing to do, but visible when debugging.
    private void Dropped(object message, string phase) =>
        _logger.Debug("job {JobId}: {Message} dropped while {Phase}", _job.Id, message.GetType().Name, phase);

    private void StopChild(ref IActorRef? child)
    {
        if (child is not null)
        {
            Context.Stop(child);
            child = null;
        }
    }
}
