using Akka.Cluster;

namespace Scheduler.Fleet;

/// <summary>
/// The cluster members as the fleet actor last heard of them, and what orphan scanning asks of them: whose pods are not
/// orphans (every member, reachable or not) and which nodes may claim (Up and reachable). Pure: the actor feeds it the
/// cluster's events.
/// </summary>
public sealed class FleetMembership
{
    private readonly Dictionary<UniqueAddress, MemberStatus> _members = new();
    private readonly HashSet<UniqueAddress> _unreachable = new();

    /// <summary>A member event: the node is a member with this status.</summary>
    public void Seen(UniqueAddress node, MemberStatus status) => _members[node] = status;

    /// <summary>MemberRemoved: the node is gone, its pods are orphans.</summary>
    public void Removed(UniqueAddress node)
    {
        _members.Remove(node);
        _unreachable.Remove(node);
    }

    public void Unreachable(UniqueAddress node) => _unreachable.Add(node);

    public void Reachable(UniqueAddress node) => _unreachable.Remove(node);

    /// <summary>Owner ids of every member, reachable or not, and of this node: their pods are not orphans. An unreachable
    /// node's pods wait until the split brain resolver removes it.</summary>
    public HashSet<string> LiveOwnerIds(string self)
    {
        var ids = _members.Keys.Select(FleetIds.OwnerId).ToHashSet(StringComparer.Ordinal);
        ids.Add(self);
        return ids;
    }

    /// <summary>Whether a node with this status is on its way out of the fleet (leaving, exiting, downed or removed): such a
    /// node never comes back as the same member, and adopts no more jobs. Joining and WeaklyUp are on the way in.</summary>
    public static bool HasLeft(MemberStatus status) =>
        status is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down or MemberStatus.Removed;

    /// <summary>The nodes that rank for claims: the members that are Up and reachable, and this node.</summary>
    public IReadOnlyList<string> ClaimingOwnerIds(string self) =>
        _members.Where(m => m.Value == MemberStatus.Up && !_unreachable.Contains(m.Key))
            .Select(m => FleetIds.OwnerId(m.Key))
            .Append(self)
            .Distinct(StringComparer.Ordinal)
            .ToList();
}
