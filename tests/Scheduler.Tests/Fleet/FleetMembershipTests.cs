using Akka.Actor;
using Akka.Cluster;
using Scheduler.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Whose pods are orphans and who may claim them, as the cluster's events come in.</summary>
public sealed class FleetMembershipTests
{
    private const string Self = "akka.tcp://scheduler@10.0.0.9:4053#9";
    private static readonly UniqueAddress A = new(new Address("akka.tcp", "scheduler", "10.0.0.1", 4053), 1);
    private static readonly UniqueAddress B = new(new Address("akka.tcp", "scheduler", "10.0.0.2", 4053), 2);
    private static readonly string IdA = FleetIds.OwnerId(A);
    private static readonly string IdB = FleetIds.OwnerId(B);

    public static TheoryData<string, Action<FleetMembership>, string[], string[]> Rows() => new()
    {
        { "no members: only this node", _ => { }, [Self], [Self] },
        { "an Up member is live and claims", m => m.Seen(A, MemberStatus.Up), [Self, IdA], [Self, IdA] },
        { "a joining member is live but does not claim yet", m => m.Seen(A, MemberStatus.Joining), [Self, IdA], [Self] },
        { "a leaving member is live but does not claim", m => m.Seen(A, MemberStatus.Leaving), [Self, IdA], [Self] },
        { "an unreachable member is still live (its pods wait for the resolver) but does not claim",
            m => { m.Seen(A, MemberStatus.Up); m.Unreachable(A); }, [Self, IdA], [Self] },
        { "a member reachable again claims again",
            m => { m.Seen(A, MemberStatus.Up); m.Unreachable(A); m.Reachable(A); }, [Self, IdA], [Self, IdA] },
        { "a removed member is neither live nor claiming: its pods are orphans",
            m => { m.Seen(A, MemberStatus.Up); m.Seen(B, MemberStatus.Up); m.Removed(A); }, [Self, IdB], [Self, IdB] },
        { "a removed unreachable member that comes back with the same address is reachable",
            m => { m.Seen(A, MemberStatus.Up); m.Unreachable(A); m.Removed(A); m.Seen(A, MemberStatus.Up); }, [Self, IdA], [Self, IdA] },
        { "the latest status counts", m => { m.Seen(A, MemberStatus.Up); m.Seen(A, MemberStatus.Exiting); }, [Self, IdA], [Self] },
        { "this node listed as a member appears once", m => m.Seen(new UniqueAddress(new Address("akka.tcp", "scheduler", "10.0.0.9", 4053), 9),
            MemberStatus.Up), [Self], [Self] },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Live_and_claiming_nodes(string because, Action<FleetMembership> events, string[] live, string[] claiming)
    {
        var membership = new FleetMembership();
        events(membership);

        Assert.True(live.ToHashSet().SetEquals(membership.LiveOwnerIds(Self)), because);
        Assert.Equal(claiming.Order(StringComparer.Ordinal), membership.ClaimingOwnerIds(Self).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(MemberStatus.Joining, false)]
    [InlineData(MemberStatus.WeaklyUp, false)]
    [InlineData(MemberStatus.Up, false)]
    [InlineData(MemberStatus.Leaving, true)]
    [InlineData(MemberStatus.Exiting, true)]
    [InlineData(MemberStatus.Down, true)]
    [InlineData(MemberStatus.Removed, true)]
    public void A_node_has_left_once_it_is_leaving_exiting_downed_or_removed_never_while_on_its_way_in(MemberStatus status, bool left)
    {
        Assert.Equal(left, FleetMembership.HasLeft(status));
    }
}
