using Akka.Actor;
using Scheduler.Messages.Protocol;

namespace Scheduler.Fleet;

// The status answers: this node's (GetNodeStatus, asked by the other nodes) and the whole fleet's (GetFleetStatus, for
// /fleet), which asks every reachable member's fleet actor.
public sealed partial class FleetActor
{
    private async Task<NodeStatus> NodeStatusAsync()
    {
        var self = _cluster.SelfMember;
        try
        {
            var capacity = await _capacity.Ask<CapacityStatus>(GetCapacity.Instance, _options.AskTimeout);
            return new NodeStatus(self.Address.ToString(), self.Roles.Order().ToList(), self.Status.ToString(), true, capacity.Concurrent,
                new Dictionary<string, int>(capacity.RunningPerRunner), capacity.Free);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or InvalidCastException)
        {
            return new NodeStatus(self.Address.ToString(), self.Roles.Order().ToList(), self.Status.ToString(), true, 0,
                new Dictionary<string, int>(), 0, $"no capacity answer: {e.Message}");
        }
    }

    private async Task<FleetStatus> FleetStatusAsync()
    {
        var members = _cluster.State.Members.OrderBy(m => m.Address.ToString(), StringComparer.Ordinal).ToList();
        var unreachable = _cluster.State.Unreachable.Select(m => m.UniqueAddress).ToHashSet();
        var asks = members.Select(async member =>
        {
            var roles = member.Roles.Order().ToList();
            if (unreachable.Contains(member.UniqueAddress))
            {
                return new NodeStatus(member.Address.ToString(), roles, member.Status.ToString(), false, 0, new Dictionary<string, int>(), 0,
                    "unreachable");
            }

            try
            {
                var fleet = Context.System.ActorSelection(new RootActorPath(member.Address) / "user" / Name);
                var status = await fleet.Ask<NodeStatus>(GetNodeStatus.Instance, _options.AskTimeout);
                return status with { Roles = roles, MemberStatus = member.Status.ToString(), Reachable = true };
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or InvalidCastException)
            {
                return new NodeStatus(member.Address.ToString(), roles, member.Status.ToString(), true, 0, new Dictionary<string, int>(), 0,
                    $"no answer: {e.Message}");
            }
        }).ToList();
        return new FleetStatus(_cluster.SelfAddress.ToString(), true, await Task.WhenAll(asks));
    }
}
