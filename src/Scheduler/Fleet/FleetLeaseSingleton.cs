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
        Receive<LeaseRequest>(request =>
        {
            var granted = _book.TryGrant(request.Node, request.Runner, request.Limit, request.LeaseId);
            Sender.Tell(granted ? new SlotGranted(request.LeaseId) : new SlotRefused(request.LeaseId));
        });
        Receive<LeaseRelease>(release => _book.Release(release.LeaseId));
        Receive<LeaseAdopt>(adopt => _book.Adopt(adopt.Node, adopt.Runner, adopt.LeaseId));
        Receive<LeaseReport>(report => _book.Reconcile(report.Node, report.Held, report.Pending));
        Receive<ClusterEvent.MemberRemoved>(removed =>
        {
            var node = removed.Member.Address.ToString();
            _log.Info("fleet leases: {0} left; dropping its {1} lease(s)", node, _book.CountOnNode(node));
            _book.DropNode(node);
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new FleetLeaseSingleton());

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);
}
