using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Intake;

/// <summary>
/// Asks one runner entry's job source for work, on a <c>check_interval</c> timer, only while the entry has a free slot
/// (admission is pull-based). Each received job gets a listener child (<c>job-&lt;id&gt;</c>) and goes to the supervisor
/// as <see cref="RunJob"/>; the slot is free again when that listener stops. One request is in flight at a time.
/// A refused token marks the entry unhealthy (logged once) and slows it to <c>unhealthyInterval</c>; other entries are
/// separate actors and keep working.
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

    private const string AskTimer = "ask";
    private const string SlotTimer = "slot";

    /// <summary>How long the intake waits for the fleet-limits actor to answer a RequestSlot.</summary>
    public static readonly TimeSpan SlotAnswerTimeout = TimeSpan.FromSeconds(5);

    private readonly string _runnerName;
    private readonly IJobSource _source;
    private readonly IJobListenerFactory _listeners;
    private readonly IActorRef _supervisor;
    private readonly TimeSpan _unhealthyInterval;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, IActorRef> _jobs = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly IActorRef? _fleetLimits;
    private readonly Dictionary<long, string> _leases = [];
    private string? _slotRequested;
    private string? _slotHeld;
    private IntakeLimits _limits;
    private bool _requestInFlight;
    private bool _asking = true;
    private bool _healthy = true;
    private bool _waitingForSlot;

    public JobIntake(string runnerName, IntakeLimits limits, IJobSource source, IJobListenerFactory listeners, IActorRef supervisor,
        TimeSpan unhealthyInterval, IActorRef? fleetLimits)
    {
        _fleetLimits = fleetLimits;
        _runnerName = runnerName;
        _limits = limits;
        _source = source;
        _listeners = listeners;
        _supervisor = supervisor;
        _unhealthyInterval = unhealthyInterval;

        Receive<Ask>(_ => OnAsk());
        Receive<Answered>(OnAnswered);
        Receive<AdoptIntoIntake>(OnAdopt);
        Receive<SlotGranted>(OnSlotGranted);
        Receive<SlotRefused>(refused =>
        {
            if (refused.LeaseId == _slotRequested)
            {
                SlotNotHad();
            }
        });
        Receive<SlotAnswerTimedOut>(timedOut =>
        {
            if (timedOut.LeaseId == _slotRequested)
            {
                _log.Warning("runner {0}: no answer about a fleet slot within {1}", _runnerName, SlotAnswerTimeout);
                SlotNotHad();
            }
        });
        Receive<Terminated>(OnTerminated);
        Receive<UpdateIntakeLimits>(update =>
        {
            _limits = update.Limits;
            _log.Info("runner {0}: limits now concurrent={1} limit={2}", _runnerName, _limits.Concurrent, _limits.Limit);
            if (_waitingForSlot && _asking)
            {
                _waitingForSlot = false;
                Self.Tell(Ask.Instance);
            }
        });
        Receive<StopAsking>(_ =>
        {
            _asking = false;
            Timers.Cancel(AskTimer);
        });
        Receive<AbortRunningJobs>(abort =>
        {
            foreach (var listener in _jobs.Values)
            {
                listener.Tell(new AbortJob(abort.FailureReason));
            }
        });
        Receive<GetIntakeStatus>(_ =>
            Sender.Tell(new IntakeStatus(_runnerName, _healthy, _asking, _jobs.Keys.Order().ToArray()) { RequestInFlight = _requestInFlight }));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="fleetLimits">The node's fleet-limits actor in a fleet; null on a single node (the limit is per node).</param>
    public static Props Props(string runnerName, IntakeLimits limits, IJobSource source, IJobListenerFactory listeners,
        IActorRef supervisor, TimeSpan unhealthyInterval, IActorRef? fleetLimits = null) =>
        Akka.Actor.Props.Create(() => new JobIntake(runnerName, limits, source, listeners, supervisor, unhealthyInterval, fleetLimits));

    protected override void PreStart() => Self.Tell(Ask.Instance);

    protected override void PostStop()
    {
        _stopping.Cancel();
        // The listeners stop with this actor: their slots are free.
        foreach (var lease in _leases.Values.Append(_slotHeld).OfType<string>())
        {
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, lease));
        }
    }

    private bool UsesFleetLimit => _fleetLimits is not null && _limits.Limit > 0;

    private void OnAsk()
    {
        if (!_asking || _requestInFlight)
        {
            return;
        }

        if (_jobs.Count >= _limits.MaxJobs)
        {
            _waitingForSlot = true; // asked again as soon as a job ends
            return;
        }

        if (UsesFleetLimit && _slotHeld is null)
        {
            if (_slotRequested is not null)
            {
                return; // the answer is on its way
            }

            _slotRequested = Guid.NewGuid().ToString("N");
            _fleetLimits!.Tell(new RequestSlot(_runnerName, _limits.Limit, _slotRequested));
            Timers.StartSingleTimer(SlotTimer, new SlotAnswerTimedOut(_slotRequested), SlotAnswerTimeout);
            return;
        }

        _requestInFlight = true;
        _source.RequestJobAsync(_stopping.Token).PipeTo(Self,
            success: outcome => new Answered(outcome),
            failure: e => new Answered(new JobRequestOutcome.Failed(e.Message)));
    }

    private void OnSlotGranted(SlotGranted granted)
    {
        if (granted.LeaseId != _slotRequested)
        {
            // A late answer to a request given up on: the slot is not used.
            _fleetLimits?.Tell(new ReleaseSlot(_runnerName, granted.LeaseId));
            return;
        }

        Timers.Cancel(SlotTimer);
        _slotRequested = null;
        if (!_asking)
        {
            Release(granted.LeaseId);
            return;
        }

        _slotHeld = granted.LeaseId;
        Self.Tell(Ask.Instance);
    }

    private void SlotNotHad()
    {
        Timers.Cancel(SlotTimer);
        _slotRequested = null;
        if (_asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, _limits.CheckInterval);
        }
    }

    private void OnAnswered(Answered answered)
    {
        _requestInFlight = false;
        var lease = _slotHeld;
        _slotHeld = null;
        var next = _limits.CheckInterval;
        switch (answered.Outcome)
        {
            case JobRequestOutcome.Received received:
                MarkHealthy();
                if (!Start(received.Job, lease))
                {
                    Release(lease);
                }

                break;
            case JobRequestOutcome.NoJob:
                MarkHealthy();
                break;
            case JobRequestOutcome.Forbidden forbidden:
                if (_healthy)
                {
                    _log.Error("runner {0}: the job source refused the runner token ({1}); the entry is unhealthy, asking again every {2}",
                        _runnerName, forbidden.Message, _unhealthyInterval);
                }

                _healthy = false;
                next = _unhealthyInterval;
                break;
            case JobRequestOutcome.Retry retry:
                _log.Warning("runner {0}: asking for work failed ({1}); again in {2}", _runnerName, retry.Message, retry.Delay);
                next = retry.Delay;
                break;
            case JobRequestOutcome.Failed failed:
                _log.Warning("runner {0}: asking for work failed: {1}", _runnerName, failed.Message);
                break;
        }

        if (answered.Outcome is not JobRequestOutcome.Received)
        {
            Release(lease);
        }

        if (_asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, next);
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
    private bool Start(Scheduler.Messages.Jobs.JobPayload job, string? lease)
    {
        if (_jobs.ContainsKey(job.Id))
        {
            return false; // the same job twice: it is already running here
        }

        var listener = Context.ActorOf(_listeners.ListenerProps(job, _runnerName, _supervisor), $"job-{job.Id}");
        Context.Watch(listener);
        _jobs[job.Id] = listener;
        if (lease is not null)
        {
            _leases[job.Id] = lease;
        }

        _log.Info("runner {0}: received job {1}", _runnerName, job.Id);
        _supervisor.Tell(new RunJob(job, _runnerName, listener));
        return true;
    }

    private void OnAdopt(AdoptIntoIntake adopt)
    {
        var job = adopt.Job;
        if (_jobs.ContainsKey(job.Id))
        {
            return;
        }

        var listener = Context.ActorOf(_listeners.ListenerProps(job, _runnerName, _supervisor), $"job-{job.Id}");
        Context.Watch(listener);
        _jobs[job.Id] = listener;
        if (UsesFleetLimit)
        {
            var lease = Guid.NewGuid().ToString("N");
            _leases[job.Id] = lease;
            _fleetLimits!.Tell(new AdoptSlot(_runnerName, lease));
        }

        _log.Info("runner {0}: adopted job {1} (pod {2}/{3})", _runnerName, job.Id, adopt.Pod.Namespace, adopt.Pod.Name);
        _supervisor.Tell(new AdoptJob(job, _runnerName, adopt.Pod, listener));
    }

    private void MarkHealthy()
    {
        if (!_healthy)
        {
            _log.Info("runner {0}: the job source accepts the runner token again", _runnerName);
        }

        _healthy = true;
    }

    private void OnTerminated(Terminated terminated)
    {
        var entry = _jobs.FirstOrDefault(j => j.Value.Equals(terminated.ActorRef));
        if (entry.Value is null)
        {
            return;
        }

        _jobs.Remove(entry.Key);
        if (_leases.Remove(entry.Key, out var lease))
        {
            Release(lease);
        }

        if (_waitingForSlot && _asking)
        {
            _waitingForSlot = false;
            Self.Tell(Ask.Instance);
        }
    }
}
