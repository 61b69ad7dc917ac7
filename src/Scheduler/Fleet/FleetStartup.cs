using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.Singleton;
using Akka.Hosting;

namespace Scheduler.Fleet;

/// <summary>Starts a node's fleet actors on a clustered ActorSystem.</summary>
public static class FleetStartup
{
    /// <summary>As <see cref="StartLimits(ActorSystem, TimeSpan?, TimeSpan?)"/>, and registers the lease singleton's proxy
    /// (key <see cref="FleetLeaseSingleton"/>) and <c>/user/fleet-limits</c> (key <see cref="FleetLimitsActor"/>).</summary>
    public static IActorRef StartLimits(ActorSystem system, IActorRegistry registry, TimeSpan? reportInterval = null,
        TimeSpan? answerTimeout = null)
    {
        var (proxy, limits) = Start(system, reportInterval, answerTimeout);
        registry.Register<FleetLeaseSingleton>(proxy);
        registry.Register<FleetLimitsActor>(limits);
        return limits;
    }

    /// <summary>The lease singleton's manager and proxy, and this node's <c>/user/fleet-limits</c>, which is returned.</summary>
    public static IActorRef StartLimits(ActorSystem system, TimeSpan? reportInterval = null, TimeSpan? answerTimeout = null) =>
        Start(system, reportInterval, answerTimeout).Limits;

    // Not Akka.Cluster.Hosting's WithSingleton: the manager and proxy keep their names (/user/fleet-leases and its proxy),
    // the paths every node of the fleet, old or new, looks the singleton up by.
    private static (IActorRef Proxy, IActorRef Limits) Start(ActorSystem system, TimeSpan? reportInterval, TimeSpan? answerTimeout)
    {
        system.Settings.InjectTopLevelFallback(ClusterSingleton.DefaultConfig());
        system.ActorOf(ClusterSingletonManager.Props(FleetLeaseSingleton.Props(), PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system)), FleetLeaseSingleton.ManagerName);
        var proxy = system.ActorOf(ClusterSingletonProxy.Props($"/user/{FleetLeaseSingleton.ManagerName}",
            ClusterSingletonProxySettings.Create(system)), FleetLeaseSingleton.ProxyName);
        var node = Cluster.Get(system).SelfAddress.ToString();
        var limits = system.ActorOf(FleetLimitsActor.Props(proxy, node, reportInterval ?? TimeSpan.FromSeconds(5),
            answerTimeout ?? TimeSpan.FromSeconds(5)), FleetLimitsActor.Name);
        return (proxy, limits);
    }
}
