using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Intake;

/// <summary>
/// Asks one runner entry's job source for work, on a <c>check_interval</c> timer, only while the entry has a free slot
/// (admission is pull-based). Each received job gets a listener child (<c>job-&lt;id&gt;</c>) and goes to the supervisor
/// as <see cref="RunJob"/>; the slot is free again when that listener stops. One request is in flight at a time.
/// A refused token marks the entry unhealthy (logged once) and slows it to <c>unhealthyInterval</c>; other entries are
/// separate actors and keep working.
/// </summary>
public sealed class JobIntake : ReceiveActor, IWithTimers
{
    private sealed record Ask
    {
        public static readonly Ask Instance = new();
    }

    private sealed record Answered(JobRequestOutcome Outcome);

    private const string AskTimer = "ask";

    private readonly string _runnerName;
    private readonly IJobSource _source;
    private readonly IJobListenerFactory _listeners;
    private readonly IActorRef _supervisor;
    private readonly TimeSpan _unhealthyInterval;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, IActorRef> _jobs = [];
    private readonly CancellationTokenSource _stopping = new();
    private IntakeLimits _limits;
    private bool _requestInFlight;
    private bool _asking = true;
    private bool _healthy = true;
    private bool _waitingForSlot;

    public JobIntake(string runnerName, IntakeLimits limits, IJobSource source, IJobListenerFactory listeners, IActorRef supervisor,
        TimeSpan unhealthyInterval)
    {
        _runnerName = runnerName;
        _limits = limits;
        _source = source;
        _listeners = listeners;
        _supervisor = supervisor;
        _unhealthyInterval = unhealthyInterval;

        Receive<Ask>(_ => OnAsk());
        Receive<Answered>(OnAnswered);
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

    public static Props Props(string runnerName, IntakeLimits limits, IJobSource source, IJobListenerFactory listeners,
        IActorRef supervisor, TimeSpan unhealthyInterval) =>
        Akka.Actor.Props.Create(() => new JobIntake(runnerName, limits, source, listeners, supervisor, unhealthyInterval));

    protected override void PreStart() => Self.Tell(Ask.Instance);

    protected override void PostStop() => _stopping.Cancel();

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

        _requestInFlight = true;
        _source.RequestJobAsync(_stopping.Token).PipeTo(Self,
            success: outcome => new Answered(outcome),
            failure: e => new Answered(new JobRequestOutcome.Failed(e.Message)));
    }

    private void OnAnswered(Answered answered)
    {
        _requestInFlight = false;
        var next = _limits.CheckInterval;
        switch (answered.Outcome)
        {
            case JobRequestOutcome.Received received:
                MarkHealthy();
                Start(received);
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

        if (_asking)
        {
            Timers.StartSingleTimer(AskTimer, Ask.Instance, next);
        }
    }

    private void Start(JobRequestOutcome.Received received)
    {
        var job = received.Job;
        if (_jobs.ContainsKey(job.Id))
        {
            return; // the same job twice: it is already running here
        }

        var listener = Context.ActorOf(_listeners.ListenerProps(job, _runnerName, _supervisor), $"job-{job.Id}");
        Context.Watch(listener);
        _jobs[job.Id] = listener;
        _log.Info("runner {0}: received job {1}", _runnerName, job.Id);
        _supervisor.Tell(new RunJob(job, _runnerName, listener));
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
        if (_waitingForSlot && _asking)
        {
            _waitingForSlot = false;
            Self.Tell(Ask.Instance);
        }
    }
}
