using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;

namespace Scheduler.Fleet;

/// <summary>Starts a node's fleet actors on a clustered ActorSystem.</summary>
public static class FleetStartup
{
    /// <summary>The lease singleton's manager and proxy, and this node's <c>/user/fleet-limits</c>, which is returned.</summary>
    public static IActorRef StartLimits(ActorSystem system, TimeSpan? reportInterval = null, TimeSpan? answerTimeout = null)
    {
        system.Settings.InjectTopLevelFallback(ClusterSingleton.DefaultConfig());
        system.ActorOf(ClusterSingletonManager.Props(FleetLeaseSingleton.Props(), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system)), FleetLeaseSingleton.ManagerName);
        var proxy = system.ActorOf(ClusterSingletonProxy.Props($"/user/{FleetLeaseSingleton.ManagerName}",
            ClusterSingletonProxySettings.Create(system)), FleetLeaseSingleton.ProxyName);
        var node = Cluster.Get(system).SelfAddress.ToString();
        return system.ActorOf(FleetLimitsActor.Props(proxy, node, reportInterval ?? TimeSpan.FromSeconds(5),
            answerTimeout ?? TimeSpan.FromSeconds(5)), FleetLimitsActor.Name);
    }
}
