using Akka.Actor;
using Akka.Event;
using Scheduler.Messages.Fleet;

namespace Scheduler.Fleet;

/// <summary>
/// <c>/user/fleet-limits</c>: this node's side of the fleet-wide <c>limit</c>. Answers the intakes' RequestSlot (with the
/// singleton's SlotGranted/SlotRefused, or SlotRefused when no answer comes in time), forwards ReleaseSlot and AdoptSlot, and
/// reports the leases it holds every report interval so a new singleton rebuilds its state.
/// </summary>
public sealed class FleetLimitsActor : ReceiveActor, IWithTimers
{
    public const string Name = "fleet-limits";
    private const string ReportTimer = "report";

    private sealed record ReportLeases
    {
        public static readonly ReportLeases Instance = new();
    }

    private sealed record AnswerOverdue(string LeaseId);

    private sealed record Waiting(IActorRef Requester, string Runner);

    private readonly IActorRef _leases;
    private readonly string _node;
    private readonly TimeSpan _reportInterval;
    private readonly TimeSpan _answerTimeout;
    private readonly Dictionary<string, Waiting> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _held = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public FleetLimitsActor(IActorRef leases, string node, TimeSpan reportInterval, TimeSpan answerTimeout)
    {
        _leases = leases;
        _node = node;
        _reportInterval = reportInterval;
        _answerTimeout = answerTimeout;

        // RequestSlot, ReleaseSlot and AdoptSlot come from this node's intakes only; the answers only from a member (the
        // singleton may live on any node).
        Receive<RequestSlot>(_ => Local(), request =>
        {
            _pending[request.LeaseId] = new Waiting(Sender, request.Runner);
            _leases.Tell(new LeaseRequest(_node, request.Runner, request.Limit, request.LeaseId));
            Timers.StartSingleTimer(AnswerKey(request.LeaseId), new AnswerOverdue(request.LeaseId), _answerTimeout);
        });
        Receive<SlotGranted>(_ => FromMember(), granted =>
        {
            if (_pending.Remove(granted.LeaseId, out var waiting))
            {
                Timers.Cancel(AnswerKey(granted.LeaseId));
                _held[granted.LeaseId] = waiting.Runner;
                waiting.Requester.Tell(granted);
            }
            else if (!_held.ContainsKey(granted.LeaseId))
            {
                // The intake was already told "refused": give the slot back.
                _leases.Tell(new LeaseRelease(_node, granted.LeaseId));
            }
        });
        Receive<SlotRefused>(_ => FromMember(), refused =>
        {
            if (_pending.Remove(refused.LeaseId, out var waiting))
            {
                Timers.Cancel(AnswerKey(refused.LeaseId));
                waiting.Requester.Tell(refused);
            }
        });
        Receive<AnswerOverdue>(overdue =>
        {
            if (_pending.Remove(overdue.LeaseId, out var waiting))
            {
                _log.Warning("fleet limits: no answer about a slot of runner \"{Runner}\" in time; refused for now", waiting.Runner);
                waiting.Requester.Tell(new SlotRefused(overdue.LeaseId));
            }
        });
        Receive<ReleaseSlot>(_ => Local(), release =>
        {
            _held.Remove(release.LeaseId);
            _leases.Tell(new LeaseRelease(_node, release.LeaseId));
        });
        Receive<AdoptSlot>(_ => Local(), adopt =>
        {
            _held[adopt.LeaseId] = adopt.Runner;
            _leases.Tell(new LeaseAdopt(_node, adopt.Runner, adopt.LeaseId));
        });
        Receive<ReportLeases>(_ => _leases.Tell(new LeaseReport(_node,
            _held.Select(h => new HeldLease(h.Value, h.Key)).ToList(), _pending.Keys.ToList())));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private bool Local()
    {
        if (Sender.Path.Address.HasLocalScope)
        {
            return true;
        }

        _log.Warning("fleet limits: refused a slot message from {Address}: only this node's intakes send it", Sender.Path.Address);
        return false;
    }

    private bool FromMember()
    {
        if (FleetSenders.Refusal(Context.System, Sender) is not { } refusal)
        {
            return true;
        }

        _log.Warning("fleet limits: refused a lease answer: {Reason}", refusal);
        return false;
    }

    public static Props Props(IActorRef leases, string node, TimeSpan reportInterval, TimeSpan answerTimeout) =>
        Akka.Actor.Props.Create(() => new FleetLimitsActor(leases, node, reportInterval, answerTimeout));

    protected override void PreStart() => Timers.StartPeriodicTimer(ReportTimer, ReportLeases.Instance, _reportInterval);

    private static string AnswerKey(string leaseId) => $"answer-{leaseId}";
}
