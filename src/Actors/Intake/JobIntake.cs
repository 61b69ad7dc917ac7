// JobIntake is one actor: asking GitLab, slot reservations, fleet leases and the unhealthy pause share its state and
// its timers, so they stay in one file; its messages, outcomes and limits live in IntakeProtocol.cs.
using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Intake;

/// <summary>
/// Asks one runner entry's job source for work, only while the entry has a free slot (admission is pull-based): at once
/// after a job was received, otherwise on a <c>check_interval</c> timer (or the source's backoff after a failure). Each
/// received job gets a listener child (<c>job-&lt;id&gt;</c>) and goes to the supervisor as <see cref="RunJob"/>; the slot is
/// free again when that listener stops.
/// Up to <c>request_concurrency</c> requests are in flight at once, each in its own <see cref="Lane"/>: a node slot reserved
/// first (ReserveSlot → SlotReserved), then (fleet) a lease, then the request; so there are never more requests than
/// reservations held, and never more lanes than the entry has room for jobs.
/// An unhealthy answer (the token refused, or no answer at all) is counted; after <c>unhealthy_requests_limit</c> of them in
/// a row the entry is unhealthy (logged once) and does not ask for <c>unhealthy_interval</c>, then asks again (GitLab Runner's
/// health check); any other answer makes it healthy again. A source's backoff holds every lane off the same way.
/// Other entries are separate actors and keep working.
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

    private sealed record HoldOver
    {
        public static readonly HoldOver Instance = new();
    }

    private sealed record Answered(string LaneId, JobRequestOutcome Outcome);
    private sealed record SlotAnswerTimedOut(string LeaseId);
    private sealed record NodeSlotAnswerTimedOut(string ReservationId);

    private const string AskTimer = "ask";
    private const string HoldTimer = "hold";

    /// <summary>How long the intake waits for the fleet-limits actor (or the coordinator) to answer.</summary>
    public static readonly TimeSpan SlotAnswerTimeout = TimeSpan.FromSeconds(5);

    /// <summary>One request for work on its way: named by its node slot reservation, which it holds once
    /// <see cref="Reserved"/>; then (fleet) its lease; then the request to the source is <see cref="InFlight"/>.</summary>
    public sealed class Lane(string reservationId)
    {
        public string ReservationId { get; } = reservationId;
        public bool Reserved { get; set; }
        public string? LeaseRequested { get; set; }
        public string? Lease { get; set; }
        public bool InFlight { get; set; }
    }

    /// <summary>What the intake knows: its jobs' listeners, its lanes, its health. Made once with the Props, so a
    /// restarted intake keeps its listeners (its children, which a restart does not stop) and its place.</summary>
    public sealed class IntakeState(IntakeLimits limits)
    {
        public Dictionary<long, IActorRef> Jobs { get; } = [];
        public Dictionary<long, string> Leases { get; } = [];
        public CancellationTokenSource Stopping { get; } = new();
        public IntakeLimits Limits { get; set; } = limits;

        /// <summary>The lanes by reservation id, and the lane each fleet lease request belongs to.</summary>
        public Dictionary<string, Lane> Lanes { get; } = [];
        public Dictionary<string, string> LeaseRequests { get; } = [];
        public bool Asking { get; set; } = true;

        /// <summary>The source asked for a pause (backoff, or the unhealthy interval): no new lane until the hold timer.</summary>
        public bool HeldOff { get; set; }
        public bool Healthy { get; set; } = true;
        public int UnhealthyAnswers { get; set; }
        public bool WaitingForSlot { get; set; }
        public int RequestsInFlight => Lanes.Values.Count(l => l.InFlight);
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

        Receive<Ask>(_ => Fill());
        Receive<HoldOver>(_ =>
        {
            _s.HeldOff = false;
            Fill();
        });
        Receive<Answered>(OnAnswered);
        Receive<AdoptIntoIntake>(OnAdopt);
        Receive<SlotGranted>(OnSlotGranted);
        Receive<SlotRefused>(refused => LeaseNotHad(refused.LeaseId));
        Receive<SlotAnswerTimedOut>(timedOut =>
        {
            if (_s.LeaseRequests.ContainsKey(timedOut.LeaseId))
            {
                _log.Warning("runner {Runner}: no answer about a fleet slot within {Timeout}", _runnerName, SlotAnswerTimeout);
                LeaseNotHad(timedOut.LeaseId);
            }
        });
        Receive<SlotReserved>(OnNodeSlotReserved);
        Receive<NoSlotFree>(none => NodeSlotNotHad(none.ReservationId));
        Receive<NodeSlotAnswerTimedOut>(timedOut =>
        {
            if (_s.Lanes.TryGetValue(timedOut.ReservationId, out var lane) && !lane.Reserved)
            {
                _log.Warning("runner {Runner}: no answer about a node slot within {Timeout}", _runnerName, SlotAnswerTimeout);
                _supervisor.Tell(new ReleaseSlotReservation(timedOut.ReservationId)); // in case the answer is only late
                NodeSlotNotHad(timedOut.ReservationId);
            }
        });
        Receive<Scheduler.Actors.Execution.CrashForTest>(_ => throw new Scheduler.Actors.Execution.InjectedCrashException());
        Receive<Terminated>(OnTerminated);
        Receive<UpdateIntakeLimits>(update =>
        {
            // request_concurrency comes with the entry's GitLab client, which a reload does not replace: it needs a restart.
            _s.Limits = update.Limits with { RequestConcurrency = _s.Limits.RequestConcurrency };
            _log.Info("runner {Runner}: limits now concurrent={Concurrent} limit={Limit}", _runnerName, _s.Limits.Concurrent, _s.Limits.Limit);
            if (_s.WaitingForSlot && _s.Asking)
            {
                _s.WaitingForSlot = false;
                Fill();
            }
        });
        Receive<StopAsking>(_ =>
        {
            _s.Asking = false;
            Timers.Cancel(AskTimer);
            // Lanes whose request is out end with its answer; those still waiting for an answer about a slot release it then.
            foreach (var lane in _s.Lanes.Values.Where(l => l.Reserved && !l.InFlight).ToArray())
            {
                DropLane(lane);
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
            Sender.Tell(new IntakeStatus(_runnerName, _s.Healthy, _s.Asking, _s.Jobs.Keys.Order().ToArray())
            {
                RequestsInFlight = _s.RequestsInFlight,
            }));
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

        // A request still out answers the restarted actor (same address). The timers of the other lanes were lost with the
        // old instance: they let go of what they hold (a late answer about a slot is released when it comes) and start
        // again, as does a pause.
        foreach (var lane in _s.Lanes.Values.Where(l => !l.InFlight).ToArray())
        {
            DropLane(lane);
        }

        _s.HeldOff = false;
        Fill();
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
        foreach (var lease in _s.Leases.Values.Concat(_s.Lanes.Values.Select(l => l.Lease)).OfType<string>())
        {
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, lease));
        }

        foreach (var lane in _s.Lanes.Values.Where(l => l.Reserved))
        {
            _supervisor.Tell(new ReleaseSlotReservation(lane.ReservationId));
        }
    }

    private bool UsesFleetLimit => _fleetLimits is not null && _s.Limits.Limit > 0;

    // Opens lanes up to request_concurrency, and no more than the entry has room for jobs: each starts with a node slot
    // (pull-based admission across all of the node's entries), then a fleet lease, then the request to the source.
    private void Fill()
    {
        if (!_s.Asking || _s.HeldOff)
        {
            return;
        }

        var concurrency = Math.Max(1, _s.Limits.RequestConcurrency);
        var room = Math.Max(0, _s.Limits.MaxJobs - _s.Jobs.Count);
        var wanted = Math.Min(concurrency, room);
        if (wanted < concurrency)
        {
            _s.WaitingForSlot = true; // asked again as soon as a job ends
        }

        while (_s.Lanes.Count < wanted)
        {
            var lane = new Lane(Guid.NewGuid().ToString("N"));
            _s.Lanes[lane.ReservationId] = lane;
            _supervisor.Tell(new ReserveSlot(_runnerName, lane.ReservationId));
            Timers.StartSingleTimer(NodeSlotTimerKey(lane.ReservationId), new NodeSlotAnswerTimedOut(lane.ReservationId),
                SlotAnswerTimeout);
        }
    }

    private static string NodeSlotTimerKey(string reservationId) => "node-slot-" + reservationId;

    private static string LeaseTimerKey(string leaseId) => "slot-" + leaseId;

    private void OnNodeSlotReserved(SlotReserved reserved)
    {
        if (!_s.Lanes.TryGetValue(reserved.ReservationId, out var lane) || lane.Reserved)
        {
            // A late answer to a request given up on: the slot is not used.
            _supervisor.Tell(new ReleaseSlotReservation(reserved.ReservationId));
            return;
        }

        Timers.Cancel(NodeSlotTimerKey(lane.ReservationId));
        lane.Reserved = true;
        if (!_s.Asking)
        {
            DropLane(lane);
            return;
        }

        if (UsesFleetLimit)
        {
            var leaseId = Guid.NewGuid().ToString("N");
            lane.LeaseRequested = leaseId;
            _s.LeaseRequests[leaseId] = lane.ReservationId;
            _fleetLimits!.Tell(new RequestSlot(_runnerName, _s.Limits.Limit, leaseId));
            Timers.StartSingleTimer(LeaseTimerKey(leaseId), new SlotAnswerTimedOut(leaseId), SlotAnswerTimeout);
            return;
        }

        Request(lane);
    }

    private void OnSlotGranted(SlotGranted granted)
    {
        if (!_s.LeaseRequests.Remove(granted.LeaseId, out var laneId) || !_s.Lanes.TryGetValue(laneId, out var lane))
        {
            // A late answer to a request given up on: the slot is not used.
            Release(granted.LeaseId);
            return;
        }

        Timers.Cancel(LeaseTimerKey(granted.LeaseId));
        lane.LeaseRequested = null;
        lane.Lease = granted.LeaseId;
        if (!_s.Asking)
        {
            DropLane(lane);
            return;
        }

        Request(lane);
    }

    private void Request(Lane lane)
    {
        lane.InFlight = true;
        var laneId = lane.ReservationId;
        _source.RequestJobAsync(_s.Stopping.Token).PipeTo(Self,
            success: outcome => new Answered(laneId, outcome),
            failure: e => new Answered(laneId, new JobRequestOutcome.Failed(e.Message)));
    }

    private void NodeSlotNotHad(string reservationId)
    {
        if (!_s.Lanes.TryGetValue(reservationId, out var lane) || lane.Reserved)
        {
            return; // not asked for, or a reservation that already came (its expiry is the coordinator's business)
        }

        Timers.Cancel(NodeSlotTimerKey(reservationId));
        _s.Lanes.Remove(reservationId);
        if (_s.Asking)
        {
            // Asked again when one of this entry's jobs ends, or after check_interval (another entry's job may end first).
            _s.WaitingForSlot = true;
            Timers.StartSingleTimer(AskTimer, Ask.Instance, _s.Limits.CheckInterval);
        }
    }

    private void LeaseNotHad(string leaseId)
    {
        if (!_s.LeaseRequests.Remove(leaseId, out var laneId))
        {
            return;
        }

        Timers.Cancel(LeaseTimerKey(leaseId));
        if (_s.Lanes.TryGetValue(laneId, out var lane))
        {
            DropLane(lane); // no fleet slot: the node slot is not needed until the next try
        }

        if (_s.Asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, _s.Limits.CheckInterval);
        }
    }

    // Ends a lane that has no request out, letting go of what it holds.
    private void DropLane(Lane lane)
    {
        _s.Lanes.Remove(lane.ReservationId);
        Timers.Cancel(NodeSlotTimerKey(lane.ReservationId));
        if (lane.LeaseRequested is { } requested)
        {
            Timers.Cancel(LeaseTimerKey(requested));
            _s.LeaseRequests.Remove(requested); // a late grant is released when it comes
        }

        Release(lane.Lease);
        if (lane.Reserved)
        {
            _supervisor.Tell(new ReleaseSlotReservation(lane.ReservationId));
        }
    }

    private void OnAnswered(Answered answered)
    {
        if (!_s.Lanes.Remove(answered.LaneId, out var lane))
        {
            return;
        }

        var lease = lane.Lease;
        var nodeSlot = lane.ReservationId;
        var next = _s.Limits.CheckInterval;
        var holdOff = false;
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
                if (Unhealthy(forbidden.Message) is { } pause)
                {
                    next = pause;
                    holdOff = true;
                }

                break;
            case JobRequestOutcome.Retry retry:
                _log.Warning("runner {Runner}: asking for work failed ({Error}); again in {Delay}", _runnerName, retry.Message, retry.Delay);
                next = retry.Delay;
                holdOff = true; // the source's backoff holds every lane
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

        if (!_s.Asking)
        {
            return;
        }

        if (holdOff && next > TimeSpan.Zero)
        {
            _s.HeldOff = true;
            Timers.StartSingleTimer(HoldTimer, HoldOver.Instance, next);
        }
        else if (next <= TimeSpan.Zero)
        {
            Fill();
        }
        else
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
            Fill();
        }
    }
}
