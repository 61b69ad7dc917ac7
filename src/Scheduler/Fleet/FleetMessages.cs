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

// From a node's fleet-limits actor to the lease singleton. Node is the node's cluster address: leases of a node that
// leaves the fleet are dropped when it is removed.

/// <summary>A node's intake asks for a slot of <paramref name="Runner"/>; answered with SlotGranted or SlotRefused.</summary>
public sealed record LeaseRequest(string Node, string Runner, int Limit, string LeaseId) : IFleetMessage;

/// <summary>The lease is free again.</summary>
public sealed record LeaseRelease(string Node, string LeaseId) : IFleetMessage;

/// <summary>An adopted job holds a lease, within the limit or not.</summary>
public sealed record LeaseAdopt(string Node, string Runner, string LeaseId) : IFleetMessage;

/// <summary>The leases the node holds and the requests it still waits on, sent periodically: a new singleton (after a
/// hand-over) rebuilds its state from these, and a release lost on the way does not leak a lease.</summary>
public sealed record LeaseReport(string Node, IReadOnlyList<HeldLease> Held, IReadOnlyList<string> Pending) : IFleetMessage;

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
