namespace Scheduler.Fleet;

/// <summary>The fleet-wide leases of runner entries with a <c>limit</c>: which node holds which slot. Pure state, kept by the
/// lease singleton.</summary>
public sealed class LeaseBook
{
    private sealed record Lease(string Node, string Runner);

    private readonly Dictionary<string, Lease> _leases = new(StringComparer.Ordinal);

    /// <summary>Grants <paramref name="leaseId"/> when fewer than <paramref name="limit"/> leases of the runner are held
    /// (a limit of 0 or less means no limit). Asking again for a lease already held is granted again.</summary>
    public bool TryGrant(string node, string runner, int limit, string leaseId)
    {
        if (_leases.ContainsKey(leaseId))
        {
            return true;
        }

        if (limit > 0 && Count(runner) >= limit)
        {
            return false;
        }

        _leases[leaseId] = new Lease(node, runner);
        return true;
    }

    public void Release(string leaseId) => _leases.Remove(leaseId);

    /// <summary>Releases <paramref name="leaseId"/> only when <paramref name="node"/> holds it: a node gives back its own slots.</summary>
    public void Release(string node, string leaseId)
    {
        if (_leases.TryGetValue(leaseId, out var lease) && lease.Node == node)
        {
            _leases.Remove(leaseId);
        }
    }

    /// <summary>An adopted job's lease: held even beyond the limit, because the job is already running.</summary>
    public void Adopt(string node, string runner, string leaseId) => _leases[leaseId] = new Lease(node, runner);

    /// <summary>A node left the fleet: its leases go (its jobs, if adopted, come back through <see cref="Adopt"/>).</summary>
    public void DropNode(string node)
    {
        foreach (var id in _leases.Where(l => l.Value.Node == node).Select(l => l.Key).ToList())
        {
            _leases.Remove(id);
        }
    }

    /// <summary>The node's own account wins: its leases become <paramref name="held"/>, plus those it is still waiting on an
    /// answer for (a grant on its way back must not be dropped).</summary>
    public void Reconcile(string node, IReadOnlyList<HeldLease> held, IReadOnlyCollection<string> pending)
    {
        var waiting = new HashSet<string>(pending, StringComparer.Ordinal);
        foreach (var id in _leases.Where(l => l.Value.Node == node && !waiting.Contains(l.Key)).Select(l => l.Key).ToList())
        {
            _leases.Remove(id);
        }

        foreach (var lease in held)
        {
            _leases[lease.LeaseId] = new Lease(node, lease.Runner);
        }
    }

    public int Count(string runner) => _leases.Values.Count(l => l.Runner == runner);

    public int CountOnNode(string node) => _leases.Values.Count(l => l.Node == node);
}
