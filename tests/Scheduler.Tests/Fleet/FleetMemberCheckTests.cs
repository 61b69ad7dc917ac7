using Akka.Actor;
using Akka.Cluster;
using Akka.TestKit.Xunit2;
using Scheduler.Fleet;
using Scheduler.Messages.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Lease and slot messages count only from this node or a current member, and only for the sender's own node.</summary>
public sealed class FleetMemberCheckTests
{
    private static readonly Address Self = new("akka.tcp", "scheduler", "10.0.0.1", 4053);
    private static readonly Address Other = new("akka.tcp", "scheduler", "10.0.0.2", 4053);
    private static readonly Address Local = new("akka", "scheduler");

    public static TheoryData<string, MemberStatus?, string?, bool> Cases() => new()
    {
        // sender ("self", "local", "other"), the other node's status (null: not in the member list), claimed node, accepted
        { "local", null, null, true },
        { "local", null, Self.ToString(), true },
        { "local", null, Other.ToString(), false },
        { "self", null, Self.ToString(), true },
        { "other", MemberStatus.Up, null, true },
        { "other", MemberStatus.Up, Other.ToString(), true },
        { "other", MemberStatus.WeaklyUp, Other.ToString(), true },
        { "other", MemberStatus.Leaving, Other.ToString(), true },
        { "other", MemberStatus.Up, Self.ToString(), false },
        { "other", MemberStatus.Joining, Other.ToString(), false },
        { "other", MemberStatus.Exiting, Other.ToString(), false },
        { "other", MemberStatus.Down, Other.ToString(), false },
        { "other", MemberStatus.Removed, Other.ToString(), false },
        { "other", null, Other.ToString(), false },
        { "other", null, null, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Only_members_speaking_for_themselves_are_accepted(string sender, MemberStatus? otherStatus, string? claimed, bool accepted)
    {
        var from = sender switch { "local" => Local, "self" => Self, _ => Other };
        var members = new List<(Address, MemberStatus)> { (Self, MemberStatus.Up) };
        if (otherStatus is { } status)
        {
            members.Add((Other, status));
        }

        Assert.Equal(accepted, FleetSenders.Refusal(from, Self, members, claimed) is null);
    }

    [Fact]
    public void A_member_on_the_same_host_and_another_port_is_another_node()
    {
        var samePortElsewhere = new Address("akka.tcp", "scheduler", "10.0.0.1", 4054);

        Assert.NotNull(FleetSenders.Refusal(samePortElsewhere, Self, [(Self, MemberStatus.Up)]));
    }
}

/// <summary>The lease singleton against forged lease messages: a non-member's report, and a member speaking for another node.</summary>
public sealed class FleetLeaseForgeryTests : TestKit
{
    private readonly ActorSystem _node = FleetTestCluster.StartNode();

    public FleetLeaseForgeryTests() : base(Akka.Configuration.ConfigurationFactory.Empty)
    {
    }

    [Fact]
    public async Task A_report_from_a_connected_non_member_does_not_fill_the_limit()
    {
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(_node) == 1), TimeSpan.FromSeconds(15));
        var leases = _node.ActorOf(FleetLeaseSingleton.Props(), "leases");
        // A process that reaches the port (a node built without TLS, on loopback) and speaks the fleet's serializer.
        using var intruder = ActorSystem.Create("scheduler", """
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.port = 0
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.actor.serializers.fleet-json = "Scheduler.Fleet.FleetMessageSerializer, scheduler"
            akka.actor.serialization-bindings."Scheduler.Messages.Fleet.IFleetMessage, Scheduler.Messages" = fleet-json
            """);
        var intruderAddress = ((ExtendedActorSystem)intruder).Provider.DefaultAddress.ToString();
        var remoteLeases = intruder.ActorSelection($"{Cluster.Get(_node).SelfAddress}/user/leases");
        var forged = Enumerable.Range(0, 5).Select(i => new HeldLease("docker", $"forged-{i}")).ToList();
        remoteLeases.Tell(new LeaseReport(intruderAddress, forged, []));
        remoteLeases.Tell(new LeaseRequest(intruderAddress, "docker", 1, "forged-request"));
        await Task.Delay(TimeSpan.FromSeconds(2));

        var self = Cluster.Get(_node).SelfAddress.ToString();
        var probe = CreateTestProbe(_node);
        leases.Tell(new LeaseRequest(self, "docker", 1, "real"), probe);

        probe.ExpectMsg<SlotGranted>(g => g.LeaseId == "real", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_member_cannot_report_or_release_for_another_node()
    {
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(_node) == 1), TimeSpan.FromSeconds(15));
        var leases = _node.ActorOf(FleetLeaseSingleton.Props(), "leases");
        var self = Cluster.Get(_node).SelfAddress.ToString();
        var probe = CreateTestProbe(_node);
        leases.Tell(new LeaseRequest(self, "docker", 1, "mine"), probe);
        probe.ExpectMsg<SlotGranted>(TimeSpan.FromSeconds(5));

        // Local senders are this node: what they say about another node does not count.
        leases.Tell(new LeaseReport("akka.tcp://scheduler@10.9.9.9:4053", [new HeldLease("other", "x")], []), probe);
        leases.Tell(new LeaseRelease("akka.tcp://scheduler@10.9.9.9:4053", "mine"), probe);
        leases.Tell(new LeaseRequest(self, "docker", 1, "second"), probe);

        probe.ExpectMsg<SlotRefused>(r => r.LeaseId == "second", TimeSpan.FromSeconds(5));
    }

    protected override void Dispose(bool disposing)
    {
        FleetTestCluster.Shutdown(_node);
        base.Dispose(disposing);
    }
}
