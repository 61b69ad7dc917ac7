using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

/// <summary>
/// <c>/user/fleet</c>: follows cluster membership and adopts the jobs of nodes that left. On MemberRemoved of another node,
/// on this node's MemberUp and every orphan scan interval it LISTs each configured namespace once, picks the job pods whose
/// owner is no member any more (an unreachable node is still a member: its pods are left alone until the split brain
/// resolver removes it) and claims them in rendezvous order, within the free capacity the supervisor reports. A claimed
/// job goes to its runner's intake as <see cref="AdoptIntoIntake"/>. Also answers <see cref="GetNodeStatus"/> (for the
/// other nodes) and <see cref="GetFleetStatus"/> (for <c>/fleet</c>).
/// </summary>
/// <remarks>
/// Its parts: this file (membership and lifecycle), <c>FleetActor.Scan.cs</c> (listing pods and ranking orphans),
/// <c>FleetActor.Claims.cs</c> (claiming within capacity and handing jobs to intakes), <c>FleetActor.Status.cs</c> (the
/// node and fleet status answers). The pure parts are <see cref="FleetMembership"/>, <see cref="OrphanSelection"/> and
/// <see cref="ClaimBatch"/>; the Kubernetes calls of a claim are <see cref="OrphanClaimer"/>.
/// </remarks>
public sealed partial class FleetActor : ReceiveActor, IWithTimers
{
    public const string Name = "fleet";

    private readonly IReadOnlyDictionary<string, RunnerEntry> _runners;
    private readonly IKubernetesGatewayFactory _gateways;
    private readonly IReadOnlyDictionary<string, IActorRef> _intakes;
    private readonly IActorRef _capacity;
    private readonly FleetOptions _options;
    private readonly OrphanClaimer _claimer;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly FleetMembership _membership = new();
    private readonly CancellationTokenSource _stopping = new();
    private bool _selfUp;
    private bool _selfOut;

    public FleetActor(IReadOnlyList<RunnerEntry> runners, IKubernetesGatewayFactory gateways, IReadOnlyDictionary<string, IActorRef> intakes,
        IActorRef capacity, FleetOptions options)
    {
        _runners = runners.GroupBy(r => r.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        _gateways = gateways;
        _intakes = intakes;
        _capacity = capacity;
        _options = options;
        OwnerId = FleetIds.OwnerId(_cluster.SelfUniqueAddress);
        _claimer = new OrphanClaimer(_runners, gateways, OwnerId);

        Receive<ClusterEvent.MemberUp>(up => OnMemberUp(up.Member));
        Receive<ClusterEvent.MemberRemoved>(OnMemberRemoved);
        Receive<ClusterEvent.IMemberEvent>(e =>
        {
            _membership.Seen(e.Member.UniqueAddress, e.Member.Status);
            NoteIfSelfIsOut(e.Member);
        });
        Receive<ClusterEvent.UnreachableMember>(u => _membership.Unreachable(u.Member.UniqueAddress));
        Receive<ClusterEvent.ReachableMember>(r => _membership.Reachable(r.Member.UniqueAddress));

        Receive<ScanForOrphans>(_ => StartScan());
        Receive<ScanDone>(OnScanDone);
        Receive<RecheckOrphan>(recheck =>
        {
            _toClaim.Enqueue(recheck.Candidate);
            StartClaims();
        });
        Receive<CapacityKnown>(OnCapacityKnown);
        Receive<ClaimsDone>(OnClaimsDone);

        Receive<GetNodeStatus>(_ => NodeStatusAsync().PipeTo(Sender));
        Receive<GetFleetStatus>(_ => FleetStatusAsync().PipeTo(Sender));
    }

    /// <summary>This node's owner id: what its pods carry as <c>scheduler/owner</c>.</summary>
    public string OwnerId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IReadOnlyList<RunnerEntry> runners, IKubernetesGatewayFactory gateways,
        IReadOnlyDictionary<string, IActorRef> intakes, IActorRef capacity, FleetOptions options) =>
        Akka.Actor.Props.Create(() => new FleetActor(runners, gateways, intakes, capacity, options));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer(ScanTimer, ScanForOrphans.Instance, _options.OrphanScanInterval);
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        _stopping.Cancel();
    }

    private void OnMemberUp(Member member)
    {
        _membership.Seen(member.UniqueAddress, member.Status);
        if (member.UniqueAddress.Equals(_cluster.SelfUniqueAddress) && !_selfUp)
        {
            _selfUp = true;
            _log.Info("fleet: this node is up as {Owner}; looking for orphaned jobs", OwnerId);
            StartScan();
        }
    }

    /// <summary>
    /// This node downed, leaving or removed: it adopts nothing more. A node that downs itself (the minority of a partition,
    /// a node that stalled) hears every other member "removed" as its cluster shuts down; those nodes are alive and their
    /// pods are not orphans.
    /// </summary>
    private void NoteIfSelfIsOut(Member member)
    {
        if (!_selfOut && member.UniqueAddress.Equals(_cluster.SelfUniqueAddress) && FleetMembership.HasLeft(member.Status))
        {
            _selfOut = true;
            _toClaim.Clear();
            _log.Info("fleet: this node is {Status}; it adopts no more jobs", member.Status);
        }
    }

    /// <summary>This node adopts nothing: it went out of the fleet, or its cluster has shut down (which it does before it
    /// publishes the removal of every member).</summary>
    private bool OutOfFleet => _selfOut || _cluster.IsTerminated;

    private void OnMemberRemoved(ClusterEvent.MemberRemoved removed)
    {
        NoteIfSelfIsOut(removed.Member);
        _membership.Removed(removed.Member.UniqueAddress);
        if (!removed.Member.UniqueAddress.Equals(_cluster.SelfUniqueAddress) && !OutOfFleet)
        {
            _log.Info("fleet: {Owner} left the fleet; looking for its jobs", FleetIds.OwnerId(removed.Member.UniqueAddress));
            StartScan();
        }
    }
}
