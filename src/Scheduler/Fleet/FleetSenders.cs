using Akka.Actor;
using Akka.Cluster;

namespace Scheduler.Fleet;

/// <summary>
/// Who may send the fleet messages that change jobs or leases: this node itself, or a current member of the fleet. TLS keeps
/// strangers off the port; this check keeps out a peer that is connected but not (or no longer) a member, and a member that
/// speaks for another node.
/// </summary>
public static class FleetSenders
{
    /// <summary>Statuses of a member whose messages count. A leaving node is still a member while it hands its jobs over;
    /// a joining node is not one yet; a downed or removed node is not one anymore.</summary>
    public static readonly IReadOnlySet<MemberStatus> MemberStatuses =
        new HashSet<MemberStatus> { MemberStatus.Up, MemberStatus.WeaklyUp, MemberStatus.Leaving };

    /// <summary>Why a message from <paramref name="sender"/> is refused, or null when it is accepted. <paramref name="self"/>
    /// is this node's cluster address (a local sender is this node); <paramref name="claimedNode"/>, when the message names
    /// the node it speaks for, must be the sender's own address.</summary>
    public static string? Refusal(Address sender, Address self, IEnumerable<(Address Address, MemberStatus Status)> members,
        string? claimedNode = null)
    {
        var node = sender.HasLocalScope ? self : sender;
        if (node != self && !members.Any(m => m.Address == node && MemberStatuses.Contains(m.Status)))
        {
            return $"{node} is not a member of the fleet";
        }

        return claimedNode is not null && claimedNode != node.ToString()
            ? $"{node} speaks for another node ({claimedNode})"
            : null;
    }

    /// <summary><see cref="Refusal"/> against the cluster's current state.</summary>
    public static string? Refusal(ActorSystem system, IActorRef sender, string? claimedNode = null)
    {
        var cluster = Cluster.Get(system);
        return Refusal(sender.Path.Address, cluster.SelfAddress,
            cluster.State.Members.Select(m => (m.Address, m.Status)), claimedNode);
    }
}
