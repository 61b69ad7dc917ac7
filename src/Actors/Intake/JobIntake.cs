using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Intake;

/// <summary>
/// Asks one runner entry's job source for work, only while the entry has a free slot (admission is pull-based): at once
/// after a job was received, otherwise on a <c>check_interval</c> timer (or the source's backoff after a failure). Each received job gets a listener child (<c>job-&lt;id&gt;</c>) and goes to the supervisor
/// as <see cref="RunJob"/>; the slot is free again when that listener stops. One request is in flight at a time.
/// An unhealthy answer (the token refused, or no answer at all) is counted; after <c>unhealthy_requests_limit</c> of them in
/// a row the entry is unhealthy (logged once) and does not ask for <c>unhealthy_interval</c>, then asks again (GitLab Runner's
/// health check); any other answer makes it healthy again. Other entries are separate actors and keep working.
/// AdoptIntoIntake (a job whose pod this node claimed) makes the job's listener and sends AdoptJob instead.
/// In a fleet (a fleet-limits actor given) an entry with <c>limit</c> &gt; 0 holds the limit across all nodes: before each
/// request it asks for a slot (RequestSlot) and asks the job source only after SlotGranted; a refusal or no answer within
/// <see cref="SlotAnswerTimeout"/> means "again after check_interval". The slot is released when the source has no job
/// for it, and when the job's listener stops; an adopted job takes its slot with AdoptSlot.
/// </summary>
public sealed class JobIntake : ReceiveActor, IWithTimers
{
    private sealed record Ask
    {
        public static readonly Ask Instance = new();
    }

    private sealed record Answered(JobRequestOutcome Outcome);
    private sealed record SlotAnswerTimedOut(string LeaseId);
    private sealed record NodeSlotAnswerTimedOut(string ReservationId);

    private const string AskTimer = "ask";
    private const string SlotTimer = "slot";
    private const string NodeSlotTimer = "node-slot";

    /// <summary>How long the intake waits for the fleet-limits actor to answer a RequestSlot.</summary>
    public static readonly TimeSpan SlotAnswerTimeout = TimeSpan.FromSeconds(5);

    /// <summary>What the intake knows: its jobs' listeners, the slots it holds, its health. Made once with the Props, so a
    /// restarted intake keeps its listeners (its children, which a restart does not stop) and its place.</summary>
    public sealed class IntakeState(IntakeLimits limits)
    {
        public Dictionary<long, IActorRef> Jobs { get; } = [];
        public Dictionary<long, string> Leases { get; } = [];
        public CancellationTokenSource Stopping { get; } = new();
        public IntakeLimits Limits { get; set; } = limits;
        public string? SlotRequested { get; set; }
        public string? SlotHeld { get; set; }
        public string? NodeSlotRequested { get; set; }
        public string? NodeSlotHeld { get; set; }
        public bool RequestInFlight { get; set; }
        public bool Asking { get; set; } = true;
        public bool Healthy { get; set; } = true;
        public int UnhealthyAnswers { get; set; }
        public bool WaitingForSlot { get; set; }
    }

    private readonly string _runnerName;
    private readonly IJobSource _source;
    private readonly IJobListenerFactory _listeners;
    private readonly IActorRef _supervisor;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef? _fleetLimits;
    private readonly IntakeState _s;

    public JobIntake(string runnerName, IJobSource source, IJobListenerFactory listeners, IActorRef supervisor,
        IActorRef? fleetLimits, IntakeState state)
    {
        _fleetLimits = fleetLimits;
        _runnerName = runnerName;
        _s = state;
        _source = source;
        _listeners = listeners;
        _supervisor = supervisor;

        Receive<Ask>(_ => OnAsk());
        Receive<Answered>(OnAnswered);
        Receive<AdoptIntoIntake>(OnAdopt);
        Receive<SlotGranted>(OnSlotGranted);
        Receive<SlotRefused>(refused =>
        {
            if (refused.LeaseId == _s.SlotRequested)
            {
                SlotNotHad();
            }
        });
        Receive<SlotAnswerTimedOut>(timedOut =>
        {
            if (timedOut.LeaseId == _s.SlotRequested)
            {
                _log.Warning("runner {Runner}: no answer about a fleet slot within {Timeout}", _runnerName, SlotAnswerTimeout);
                SlotNotHad();
            }
        });
        Receive<SlotReserved>(OnNodeSlotReserved);
        Receive<NoSlotFree>(none =>
        {
            if (none.ReservationId == _s.NodeSlotRequested)
            {
                NodeSlotNotHad();
            }
        });
        Receive<NodeSlotAnswerTimedOut>(timedOut =>
        {
            if (timedOut.ReservationId == _s.NodeSlotRequested)
            {
                _log.Warning("runner {Runner}: no answer about a node slot within {Timeout}", _runnerName, SlotAnswerTimeout);
                _supervisor.Tell(new ReleaseSlotReservation(timedOut.ReservationId)); // in case the answer is only late
                NodeSlotNotHad();
            }
        });
        Receive<Scheduler.Actors.Execution.CrashForTest>(_ => throw new Scheduler.Actors.Execution.InjectedCrashException());
        Receive<Terminated>(OnTerminated);
        Receive<UpdateIntakeLimits>(update =>
        {
            _s.Limits = update.Limits;
            _log.Info("runner {Runner}: limits now concurrent={Concurrent} limit={Limit}", _runnerName, _s.Limits.Concurrent, _s.Limits.Limit);
            if (_s.WaitingForSlot && _s.Asking)
            {
                _s.WaitingForSlot = false;
                Self.Tell(Ask.Instance);
            }
        });
        Receive<StopAsking>(_ =>
        {
            _s.Asking = false;
            Timers.Cancel(AskTimer);
            if (!_s.RequestInFlight)
            {
                ReleaseNodeSlot();
            }
        });
        Receive<AbortRunningJobs>(abort =>
        {
            foreach (var listener in _s.Jobs.Values)
            {
                listener.Tell(new AbortJob(abort.FailureReason));
            }
        });
        Receive<GetIntakeStatus>(_ =>
            Sender.Tell(new IntakeStatus(_runnerName, _s.Healthy, _s.Asking, _s.Jobs.Keys.Order().ToArray()) { RequestInFlight = _s.RequestInFlight }));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="fleetLimits">The node's fleet-limits actor in a fleet; null on a single node (the limit is per node).</param>
    public static Props Props(string runnerName, IntakeLimits limits, IJobSource source, IJobListenerFactory listeners,
        IActorRef supervisor, IActorRef? fleetLimits = null)
    {
        // Made once here, not in the constructor: the listeners and slots survive restarts of the intake.
        var state = new IntakeState(limits);
        return Akka.Actor.Props.Create(() => new JobIntake(runnerName, source, listeners, supervisor, fleetLimits,
            state));
    }

    protected override void PreStart()
    {
        // After a restart the listeners are still this actor's children: watch them again.
        foreach (var listener in _s.Jobs.Values)
        {
            Context.Watch(listener);
        }

        // A request still out answers the restarted actor (same address); otherwise ask again.
        if (!_s.RequestInFlight)
        {
            _s.NodeSlotRequested = null;
            _s.SlotRequested = null;
            Self.Tell(Ask.Instance);
        }
    }

    // A listener that throws is resumed: it holds its job's trace and where GitLab stands, which a restart would lose.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(-1, TimeSpan.FromMinutes(1), error =>
        {
            _log.Error(error, "runner {Runner}: the listener {Child} failed; resumed", _runnerName, Sender.Path.Name);
            return Directive.Resume;
        });

    // The default would stop the listeners, and with them the jobs' traces: a crash of the intake must lose no job.
    protected override void PreRestart(Exception reason, object message)
    {
    }

    protected override void PostStop()
    {
        _s.Stopping.Cancel();
        // The listeners stop with this actor: their slots are free.
        foreach (var lease in _s.Leases.Values.Append(_s.SlotHeld).OfType<string>())
        {
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, lease));
        }

        ReleaseNodeSlot();
    }

    private bool UsesFleetLimit => _fleetLimits is not null && _s.Limits.Limit > 0;

    private void OnAsk()
    {
        if (!_s.Asking || _s.RequestInFlight)
        {
            return;
        }

        if (_s.Jobs.Count >= _s.Limits.MaxJobs)
        {
            _s.WaitingForSlot = true; // asked again as soon as a job ends
            ReleaseNodeSlot();
            return;
        }

        // A node slot first (pull-based admission across all of the node's entries), then a fleet lease, then GitLab.
        if (_s.NodeSlotHeld is null)
        {
            if (_s.NodeSlotRequested is not null)
            {
                return; // the answer is on its way
            }

            _s.NodeSlotRequested = Guid.NewGuid().ToString("N");
            _supervisor.Tell(new ReserveSlot(_runnerName, _s.NodeSlotRequested));
            Timers.StartSingleTimer(NodeSlotTimer, new NodeSlotAnswerTimedOut(_s.NodeSlotRequested), SlotAnswerTimeout);
            return;
        }

        if (UsesFleetLimit && _s.SlotHeld is null)
        {
            if (_s.SlotRequested is not null)
            {
                return; // the answer is on its way
            }

            _s.SlotRequested = Guid.NewGuid().ToString("N");
            _fleetLimits!.Tell(new RequestSlot(_runnerName, _s.Limits.Limit, _s.SlotRequested));
            Timers.StartSingleTimer(SlotTimer, new SlotAnswerTimedOut(_s.SlotRequested), SlotAnswerTimeout);
            return;
        }

        _s.RequestInFlight = true;
        _source.RequestJobAsync(_s.Stopping.Token).PipeTo(Self,
            success: outcome => new Answered(outcome),
            failure: e => new Answered(new JobRequestOutcome.Failed(e.Message)));
    }

    private void OnSlotGranted(SlotGranted granted)
    {
        if (granted.LeaseId != _s.SlotRequested)
        {
            // A late answer to a request given up on: the slot is not used.
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, granted.LeaseId));
            return;
        }

        Timers.Cancel(SlotTimer);
        _s.SlotRequested = null;
        if (!_s.Asking)
        {
            Release(granted.LeaseId);
            return;
        }

        _s.SlotHeld = granted.LeaseId;
        Self.Tell(Ask.Instance);
    }

    private void OnNodeSlotReserved(SlotReserved reserved)
    {
        if (reserved.ReservationId != _s.NodeSlotRequested)
        {
            // A late answer to a request given up on: the slot is not used.
            _supervisor.Tell(new ReleaseSlotReservation(reserved.ReservationId));
            return;
        }

        Timers.Cancel(NodeSlotTimer);
        _s.NodeSlotRequested = null;
        if (!_s.Asking)
        {
            _supervisor.Tell(new ReleaseSlotReservation(reserved.ReservationId));
            return;
        }

        _s.NodeSlotHeld = reserved.ReservationId;
        Self.Tell(Ask.Instance);
    }

    private void NodeSlotNotHad()
    {
        Timers.Cancel(NodeSlotTimer);
        _s.NodeSlotRequested = null;
        if (_s.Asking)
        {
            // Asked again when one of this entry's jobs ends, or after check_interval (another entry's job may end first).
            _s.WaitingForSlot = true;
            Timers.StartSingleTimer(AskTimer, Ask.Instance, _s.Limits.CheckInterval);
        }
    }

    private void ReleaseNodeSlot()
    {
        if (_s.NodeSlotHeld is { } held)
        {
            _s.NodeSlotHeld = null;
            _supervisor.Tell(new ReleaseSlotReservation(held));
        }
    }

    private void SlotNotHad()
    {
        Timers.Cancel(SlotTimer);
        _s.SlotRequested = null;
        ReleaseNodeSlot(); // no fleet slot: the node slot is not needed until the next try
        if (_s.Asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, _s.Limits.CheckInterval);
        }
    }

    private void OnAnswered(Answered answered)
    {
        _s.RequestInFlight = false;
        var lease = _s.SlotHeld;
        _s.SlotHeld = null;
        var nodeSlot = _s.NodeSlotHeld;
        _s.NodeSlotHeld = null;
        var next = _s.Limits.CheckInterval;
        switch (answered.Outcome)
        {
            case JobRequestOutcome.Received received:
                MarkHealthy();
                if (Start(received.Job, lease, nodeSlot))
                {
                    // GitLab had work: ask again at once while a slot is free (as GitLab Runner does); check_interval is
                    // for an idle source.
                    next = TimeSpan.Zero;
                }
                else
                {
                    Release(lease);
                    ReleaseNode(nodeSlot);
                }

                break;
            case JobRequestOutcome.NoJob:
                MarkHealthy();
                break;
            case JobRequestOutcome.Forbidden forbidden:
                _log.Warning("runner {Runner}: the job source refused the runner token ({Error})", _runnerName, forbidden.Message);
                next = Unhealthy(forbidden.Message) ?? next;
                break;
            case JobRequestOutcome.Retry retry:
                _log.Warning("runner {Runner}: asking for work failed ({Error}); again in {Delay}", _runnerName, retry.Message, retry.Delay);
                next = retry.Delay;
                if (retry.Unhealthy)
                {
                    next = Unhealthy(retry.Message) ?? next;
                }
                else
                {
                    MarkHealthy();
                }

                break;
            case JobRequestOutcome.Failed failed:
                MarkHealthy();
                _log.Warning("runner {Runner}: asking for work failed: {Error}", _runnerName, failed.Message);
                break;
        }

        if (answered.Outcome is not JobRequestOutcome.Received)
        {
            Release(lease);
            ReleaseNode(nodeSlot);
        }

        if (_s.Asking && next <= TimeSpan.Zero)
        {
            Self.Tell(Ask.Instance);
        }
        else if (_s.Asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, next);
        }
    }

    private void ReleaseNode(string? reservationId)
    {
        if (reservationId is not null)
        {
            _supervisor.Tell(new ReleaseSlotReservation(reservationId));
        }
    }

    private void Release(string? lease)
    {
        if (lease is not null)
        {
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, lease));
        }
    }

    /// <returns>False when the job is already here (its slot, if any, is not taken).</returns>
    private bool Start(Scheduler.Messages.Jobs.JobPayload job, string? lease, string? nodeSlot)
    {
        if (_s.Jobs.ContainsKey(job.Id))
        {
            return false; // the same job twice: it is already running here
        }

        var listener = Context.ActorOf(_listeners.ListenerProps(job, _runnerName, _supervisor), $"job-{job.Id}");
        Context.Watch(listener);
        _s.Jobs[job.Id] = listener;
        if (lease is not null)
        {
            _s.Leases[job.Id] = lease;
        }

        _log.Info("runner {Runner}: received job {JobId}", _runnerName, job.Id);
        _supervisor.Tell(new RunJob(job, _runnerName, listener) { ReservationId = nodeSlot });
        return true;
    }

    private void OnAdopt(AdoptIntoIntake adopt)
    {
        var job = adopt.Job;
        if (_s.Jobs.ContainsKey(job.Id))
        {
            return;
        }

        var listener = Context.ActorOf(_listeners.ListenerProps(job, _runnerName, _supervisor), $"job-{job.Id}");
        Context.Watch(listener);
        _s.Jobs[job.Id] = listener;
        if (UsesFleetLimit)
        {
            var lease = Guid.NewGuid().ToString("N");
            _s.Leases[job.Id] = lease;
            _fleetLimits!.Tell(new AdoptSlot(_runnerName, lease));
        }

        _log.Info("runner {Runner}: adopted job {JobId} (pod {Namespace}/{Pod})", _runnerName, job.Id, adopt.Pod.Namespace, adopt.Pod.Name);
        _supervisor.Tell(new AdoptJob(job, _runnerName, adopt.Pod, listener));
    }

    // One more unhealthy answer in a row: at the limit the entry is unhealthy and the answer is the wait until it asks again;
    // below it, null (the usual wait).
    private TimeSpan? Unhealthy(string why)
    {
        _s.UnhealthyAnswers++;
        if (_s.UnhealthyAnswers < _s.Limits.UnhealthyRequestsLimit)
        {
            return null;
        }

        if (_s.Healthy)
        {
            _log.Error("runner {Runner}: {Answers} unhealthy answers in a row (the last: {Error}); the entry is unhealthy and asks again in {Delay}",
                _runnerName, _s.UnhealthyAnswers, why, _s.Limits.UnhealthyInterval);
        }

        // As GitLab Runner, after the pause the entry gets a fresh count of tries.
        _s.Healthy = false;
        _s.UnhealthyAnswers = 0;
        return _s.Limits.UnhealthyInterval;
    }

    private void MarkHealthy()
    {
        if (!_s.Healthy)
        {
            _log.Info("runner {Runner}: the job source answers again", _runnerName);
        }

        _s.Healthy = true;
        _s.UnhealthyAnswers = 0;
    }

    private void OnTerminated(Terminated terminated)
    {
        // A listener is named job-<id>: its job is found without a scan of the running jobs.
        var name = terminated.ActorRef.Path.Name;
        if (!name.StartsWith("job-", StringComparison.Ordinal) || !long.TryParse(name.AsSpan(4), out var jobId)
            || !_s.Jobs.TryGetValue(jobId, out var listener) || !listener.Equals(terminated.ActorRef))
        {
            return;
        }

        _s.Jobs.Remove(jobId);
        if (_s.Leases.Remove(jobId, out var lease))
        {
            Release(lease);
        }

        if (_s.WaitingForSlot && _s.Asking)
        {
            _s.WaitingForSlot = false;
            Self.Tell(Ask.Instance);
        }
    }
}
