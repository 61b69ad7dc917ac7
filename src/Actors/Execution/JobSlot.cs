using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

/// <summary>
/// One of the node's <c>concurrent</c> slots: a routee of the coordinator's slot pool and the parent of at most one job
/// (its JobActor and, as a sibling that outlives the JobActor's restarts, its LogStreamActor). Free → Reserved (an intake
/// holds it while it asks GitLab; given back after a while unused) → Running → Free. It restarts a crashed JobActor (which
/// re-derives its state from Kubernetes, after a backoff) up to <see cref="ExecutionOptions.MaxJobRestarts"/> times a minute;
/// past that the job fails as runner_system_failure. A crash of the slot itself keeps its children: its state lives in a
/// <see cref="SlotState"/> made once with its Props.
/// </summary>
public sealed class JobSlot : ReceiveActor, IWithTimers
{
    private const string ReservationTimer = "reservation";

    private sealed record ReservationTimedOut(string ReservationId);

    /// <summary>What the slot holds; outlives the slot actor's restarts.</summary>
    public sealed class SlotState
    {
        public string? ReservationId { get; set; }
        public long? JobId { get; set; }
        public IActorRef? Job { get; set; }
        public IActorRef? Log { get; set; }
        public IActorRef? Listener { get; set; }
        public bool Done { get; set; }
    }

    private readonly int _index;
    private readonly IKubernetesGatewayFactory _gateways;
    private readonly ExecutionOptions _options;
    private readonly IActorRef _podWatcher;
    private readonly SlotState _state;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ITimerScheduler Timers { get; set; } = null!;

    public JobSlot(int index, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher, SlotState state)
    {
        _index = index;
        _gateways = gateways;
        _options = options;
        _podWatcher = podWatcher;
        _state = state;

        Receive<HoldReservation>(OnHold);
        Receive<DropReservation>(drop =>
        {
            if (drop.ReservationId == _state.ReservationId)
            {
                Timers.Cancel(ReservationTimer);
                _state.ReservationId = null;
            }
        });
        Receive<ReservationTimedOut>(timedOut =>
        {
            if (timedOut.ReservationId == _state.ReservationId)
            {
                _state.ReservationId = null;
                Context.Parent.Tell(new ReservationExpired(_index, timedOut.ReservationId));
            }
        });
        Receive<StartJobInSlot>(OnStart);
        Receive<CancelRequested>(cancel => _state.Job?.Forward(cancel));
        Receive<HandOverRequested>(handOver => _state.Job?.Forward(handOver));
        Receive<JobDone>(_ => _state.Done = true);
        Receive<Terminated>(OnTerminated);
        Receive<CrashForTest>(_ => throw new InjectedCrashException());
    }

    public static Props Props(int index, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher)
    {
        // Made here, once: it outlives the slot's restarts, which call the factory again.
        var state = new SlotState();
        return DirectProps.Of(() => new JobSlot(index, gateways, options, podWatcher, state));
    }

    public static string Name(int index) => $"slot-{index}";

    protected override void PreStart()
    {
        // After a restart: the job and its log are still the slot's children; watch the job again.
        if (_state.Job is { } job)
        {
            Context.Watch(job);
        }
    }

    // The default would stop the children: the running job and its trace must outlive a crash of the slot.
    protected override void PreRestart(Exception reason, object message) => PostStop();

    // A crashed JobActor restarts (it re-derives its state from Kubernetes) a few times a minute, then it is stopped and the
    // job fails. A crashed LogStreamActor restarts from its cursor, which it keeps outside itself.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(_options.MaxJobRestarts, TimeSpan.FromMinutes(1), _ => Directive.Restart);

    private void OnHold(HoldReservation hold)
    {
        if (_state.JobId is not null || _state.ReservationId is not null)
        {
            // Not free after all (the pool never routes here then): say so rather than hold two things.
            hold.Requester.Tell(new NoSlotFree(hold.ReservationId));
            Context.Parent.Tell(new ReservationExpired(_index, hold.ReservationId));
            return;
        }

        _state.ReservationId = hold.ReservationId;
        Timers.StartSingleTimer(ReservationTimer, new ReservationTimedOut(hold.ReservationId), hold.Ttl);
        hold.Requester.Tell(new SlotReserved(hold.ReservationId, hold.ConcurrentId));
    }

    private void OnStart(StartJobInSlot start)
    {
        Timers.Cancel(ReservationTimer);
        _state.ReservationId = null;
        var job = start.Job;
        var limit = (long)Math.Max(1, start.Runner.OutputLimit) * 1024;
        var log = Context.ActorOf(LogStreamActor.Props(job.Id, start.Listener, LogStreamActor.MaskRulesOf(job), limit,
            _options.ReattachDelay), $"log-{job.Id}");
        var actor = Context.ActorOf(JobActor.Props(job, start.Runner, start.ConcurrentId, start.PodNameSuffix, start.Listener, log,
            _gateways, _options, _podWatcher, start.TimeoutFrom, start.Adopted), $"job-{job.Id}");
        Context.Watch(actor);
        Context.Watch(log);
        _state.JobId = job.Id;
        _state.Job = actor;
        _state.Log = log;
        _state.Listener = start.Listener;
        _state.Done = false;
    }

    private void OnTerminated(Terminated terminated)
    {
        if (_state.Log is { } stoppedLog && terminated.ActorRef.Equals(stoppedLog) && _state.Job is { } orphan && !_state.Done)
        {
            // The trace's actor failed too often and was stopped: nobody could finish the job's trace. End the job (its
            // JobActor deletes the pod when it stops) rather than let it wait for a trace that never ends.
            _log.Warning("job {JobId}: its log stream failed repeatedly; the job is stopped", _state.JobId);
            _state.Log = null;
            Context.Stop(orphan);
            return;
        }

        if (_state.Job is null || !terminated.ActorRef.Equals(_state.Job))
        {
            return;
        }

        var jobId = _state.JobId!.Value;
        if (_state.Log is { } log)
        {
            Context.Stop(log);
        }

        if (!_state.Done)
        {
            _log.Warning("job {JobId}: its actors failed repeatedly; the job fails", jobId);
            _state.Listener?.Tell(new JobFinished(jobId, new JobResult(JobState.Failed, FailureReasons.RunnerSystemFailure, null,
                "ERROR: Job failed: the job's actors failed repeatedly")));
        }

        _state.JobId = null;
        _state.Job = null;
        _state.Log = null;
        _state.Listener = null;
        _state.Done = false;
        Context.Parent.Tell(new SlotFreed(_index, jobId));
    }
}
