using Akka.Cluster;

namespace Scheduler.Fleet;

/// <summary>How a node names itself on the pods it drives.</summary>
public static class FleetIds
{
    /// <summary><c>akka.tcp://scheduler@host:port#uid</c>: the uid tells a restarted node on the same address from its
    /// earlier life, whose jobs are orphans.</summary>
    public static string OwnerId(UniqueAddress address) => $"{address.Address}#{address.Uid}";
}
