namespace Scheduler.Fleet;

/// <summary>How the fleet actor looks for orphans. <paramref name="ClaimDelay"/> is multiplied by a node's rank in the
/// job's preference order: the first node claims at once, the second after one delay, and so on.</summary>
public sealed record FleetOptions(TimeSpan OrphanScanInterval, TimeSpan ClaimDelay)
{
    /// <summary>How long a capacity or status question may take.</summary>
    public TimeSpan AskTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public static FleetOptions From(Scheduler.Messages.Settings.ClusterSettings cluster) =>
        new(TimeSpan.FromSeconds(cluster.OrphanScanInterval), TimeSpan.FromSeconds(cluster.ClaimDelay));
}
