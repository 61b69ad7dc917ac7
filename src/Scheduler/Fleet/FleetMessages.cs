using Scheduler.Messages.Fleet;

namespace Scheduler.Fleet;

// ---- between the fleet actors of the nodes (cross the wire: JSON, see FleetMessageSerializer) ----

/// <summary>Asks a node's fleet actor for its <see cref="NodeStatus"/>.</summary>
public sealed record GetNodeStatus : IFleetMessage
{
    public static readonly GetNodeStatus Instance = new();
}

/// <summary>One node of the fleet as <c>scheduler status</c> shows it. <paramref name="Error"/> is set when the node could
/// not be asked (unreachable, no answer); the job numbers are then zero.</summary>
public sealed record NodeStatus(
    string Address,
    IReadOnlyList<string> Roles,
    string MemberStatus,
    bool Reachable,
    int Concurrent,
    IReadOnlyDictionary<string, int> RunningPerRunner,
    int Free,
    string? Error = null) : IFleetMessage
{
    public int Running => RunningPerRunner.Values.Sum();
}

/// <summary>From a node's fleet-limits actor to the lease singleton: the leases the node holds, and the requests it is still
/// waiting on, so that a new singleton (after a hand-over) rebuilds its state and a lost release does not leak a lease.</summary>
public sealed record LeaseReport(IReadOnlyList<HeldLease> Held, IReadOnlyList<string> Pending) : IFleetMessage;

/// <summary>A slot of <paramref name="Runner"/>'s fleet-wide limit held under <paramref name="LeaseId"/>.</summary>
public sealed record HeldLease(string Runner, string LeaseId);

// ---- local to a node ----

/// <summary>To the fleet actor: look for orphaned job pods now (tests, and the orphan scan timer).</summary>
public sealed record ScanForOrphans
{
    public static readonly ScanForOrphans Instance = new();
}

/// <summary>To the fleet actor: the status of every member, answered with <see cref="FleetStatus"/>.</summary>
public sealed record GetFleetStatus
{
    public static readonly GetFleetStatus Instance = new();
}

/// <summary>The fleet as seen from <paramref name="Self"/>: the <c>/fleet</c> document.</summary>
public sealed record FleetStatus(string Self, bool Clustered, IReadOnlyList<NodeStatus> Nodes);

/// <summary>The fleet actor adopted a job (tests and logs follow adoption through this event on the event stream).</summary>
public sealed record JobAdoptedByFleet(long JobId, string RunnerName, string Namespace, string Pod);
