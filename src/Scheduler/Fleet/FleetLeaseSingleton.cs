using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Scheduler.Messages.Fleet;

namespace Scheduler.Fleet;

/// <summary>
/// The cluster singleton that holds every runner entry's fleet-wide leases (<see cref="LeaseBook"/>). It starts empty on a
/// new oldest node and is rebuilt from the nodes' <see cref="LeaseReport"/>s within one report interval; leases of a removed
/// member are dropped.
/// </summary>
public sealed class FleetLeaseSingleton : ReceiveActor
{
    public const string ManagerName = "fleet-leases";
    public const string ProxyName = "fleet-leases-proxy";

    private readonly LeaseBook _book = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public FleetLeaseSingleton()
    {
        // Only a member may take, give back or report leases, and only its own: a forged LeaseReport would otherwise fill
        // the fleet-wide limit, a forged LeaseRelease free another node's slot.
        Receive<LeaseRequest>(request => FromMember(request, request.Node), request =>
        {
            var granted = _book.TryGrant(request.Node, request.Runner, request.Limit, request.LeaseId);
            Sender.Tell(granted ? new SlotGranted(request.LeaseId) : new SlotRefused(request.LeaseId));
        });
        Receive<LeaseRelease>(release => FromMember(release, release.Node), release => _book.Release(release.Node, release.LeaseId));
        Receive<LeaseAdopt>(adopt => FromMember(adopt, adopt.Node), adopt => _book.Adopt(adopt.Node, adopt.Runner, adopt.LeaseId));
        Receive<LeaseReport>(report => FromMember(report, report.Node), report => _book.Reconcile(report.Node, report.Held, report.Pending));
        Receive<IFleetMessage>(refused => { });
        Receive<ClusterEvent.MemberRemoved>(removed =>
        {
            var node = removed.Member.Address.ToString();
            _log.Info("fleet leases: {Node} left; dropping its {Leases} lease(s)", node, _book.CountOnNode(node));
            _book.DropNode(node);
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    private bool FromMember(IFleetMessage message, string node)
    {
        if (FleetSenders.Refusal(Context.System, Sender, node) is not { } refusal)
        {
            return true;
        }

        _log.Warning("fleet leases: refused {Message}: {Reason}", message.GetType().Name, refusal);
        return false;
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new FleetLeaseSingleton());

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
}
