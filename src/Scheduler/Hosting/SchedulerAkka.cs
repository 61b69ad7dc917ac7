using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Configuration;
using Akka.Discovery.KubernetesApi;
using Akka.Hosting;
using Akka.Management;
using Akka.Management.Cluster.Bootstrap;
using Akka.Remote.Hosting;
using Scheduler.Fleet;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Hosting;

/// <summary>
/// What every ActorSystem of the runner is made of, as Akka.Hosting registrations: the shared settings and Serilog logger
/// (<see cref="WithSchedulerDefaults"/>), a fleet node's remoting, clustering, TLS, serializers and discovery
/// (<see cref="WithFleetNode"/>), and HOCON overrides from tests and benchmarks (<see cref="WithOverrides"/>, last).
/// HOCON remains only for settings Akka.Hosting has no option for; each piece says which.
/// </summary>
public static class SchedulerAkka
{
    /// <summary>Serializer name of the fleet's messages (<see cref="FleetMessageSerializer"/>).</summary>
    public const string FleetSerializerName = "fleet-json";

    /// <summary>The name of Akka's default JSON serializer, which <see cref="RefusingSerializer"/> takes over on a fleet node.</summary>
    public const string DefaultJsonSerializerName = "json";

    /// <summary><c>hocon/base.hocon</c> (coordinated shutdown left to the CLI, quiet stdout: no hosting option exists for
    /// either), Serilog as Akka's only logger, at <paramref name="level"/>.</summary>
    public static AkkaConfigurationBuilder WithSchedulerDefaults(this AkkaConfigurationBuilder builder, Akka.Event.LogLevel level)
    {
        builder.AddHocon(SchedulerActorSystem.BaseConfig(), HoconAddMode.Append);
        return builder.ConfigureLoggers(loggers =>
        {
            loggers.LogLevel = level;
            loggers.LogConfigOnStart = false;
            loggers.ClearLoggers();
            loggers.AddLogger<SerilogAkkaLogger>();
        });
    }

    /// <summary>
    /// A fleet node: remoting on <c>[cluster]</c>'s address (mutual TLS with <paramref name="tls"/>), clustering with
    /// its seeds and roles and the keep-majority split brain resolver, only the fleet's messages on the wire (the
    /// allow-listing <see cref="FleetMessageSerializer"/>; <see cref="RefusingSerializer"/> in place of the JSON default;
    /// no fallback for unregistered types), and with <c>discovery = "kubernetes-api"</c> Akka.Management and
    /// ClusterBootstrap. <c>hocon/cluster.hocon</c> keeps the resolver's and shutdown's timings.
    /// </summary>
    public static AkkaConfigurationBuilder WithFleetNode(this AkkaConfigurationBuilder builder, ClusterSettings cluster,
        FleetTls.Material? tls)
    {
        builder.AddHocon(SchedulerActorSystem.ClusterConfig(), HoconAddMode.Append);
        // [cluster] stable_after: the split brain resolver's timing has no hosting option.
        builder.AddHocon(ConfigurationFactory.ParseString($"""
            akka.cluster.split-brain-resolver.stable-after = {cluster.StableAfter}s
            akka.cluster.down-removal-margin = {cluster.StableAfter}s
            """), HoconAddMode.Prepend);
        builder.WithRemoting(Remote(cluster, tls))
            .WithClustering(Clustering(cluster))
            .WithCustomSerializer(DefaultJsonSerializerName, [typeof(object)], system => new RefusingSerializer(system))
            .WithCustomSerializer(FleetSerializerName, [typeof(IFleetMessage)], system => new FleetMessageSerializer(system))
            .WithStrictSerialization();
        if (cluster.Discovery == ClusterSettings.KubernetesApiDiscovery)
        {
            builder.WithKubernetesApiDiscovery(cluster);
        }

        return builder;
    }

    /// <summary>HOCON over everything else (tests and benchmarks tune timings here); added last so that it wins.</summary>
    public static AkkaConfigurationBuilder WithOverrides(this AkkaConfigurationBuilder builder, string hocon) =>
        string.IsNullOrWhiteSpace(hocon) ? builder : builder.AddHocon(ConfigurationFactory.ParseString(hocon), HoconAddMode.Prepend);

    /// <summary>The cluster port: bound on <c>bind_host</c> (default: <c>hostname</c>), advertised as <c>hostname</c>.</summary>
    public static RemoteOptions Remote(ClusterSettings cluster, FleetTls.Material? tls)
    {
        var hostname = cluster.Hostname ?? "127.0.0.1";
        var remote = new RemoteOptions { HostName = cluster.BindHost ?? hostname, PublicHostName = hostname, Port = cluster.Port };
        if (tls is not null)
        {
            FleetTls.ApplyTo(remote, tls);
        }

        return remote;
    }

    /// <summary>
    /// Roles, seeds (none with discovery: ClusterBootstrap forms the cluster and seeds would race it), the keep-majority
    /// resolver and the failover budget's detection, aiming at the adoption of a killed node's jobs within about 6 s
    /// (docs/fleet.md, Timings): detection: heartbeats every 0.5 s, unreachable after ~2.5 s of silence (the pause plus
    /// the interval and the phi margin over the heartbeats' spread, checked every 0.5 s by the reaper in
    /// <c>hocon/cluster.hocon</c>); decision: stable-after (2 s by default) on the resolver's 1 s tick; removal: gossip
    /// and leader actions every 0.5 s. The 2 s pause is what a node may stall (GC, CPU starvation) before it is
    /// suspected; the runner does little CPU work (the pods run the jobs), and a wrongly downed node loses no job: it
    /// exits, and its jobs are adopted as from a dead one (the claim is conditional, the old node checks the owner).
    /// </summary>
    public static ClusterOptions Clustering(ClusterSettings cluster)
    {
        var tlsFleet = FleetTls.Enabled(cluster);
        return new ClusterOptions
        {
            Roles = cluster.Roles.ToArray(),
            SeedNodes = cluster.Discovery.Length > 0
                ? []
                : cluster.SeedNodes.Select(s => SchedulerActorSystem.SeedWithScheme(s, tlsFleet)).ToArray(),
            MinimumNumberOfMembers = 1,
            // The side with the majority of nodes keeps running; the minority downs itself (equal halves: the side with
            // the lowest address stays). A downed node stops driving jobs and does not delete its pods.
            SplitBrainResolver = new KeepMajorityOption(),
            FailureDetector = new PhiAccrualFailureDetectorOptions
            {
                HeartbeatInterval = TimeSpan.FromMilliseconds(500),
                Threshold = 8.0,
                AcceptableHeartbeatPause = TimeSpan.FromSeconds(2),
                ExpectedResponseAfter = TimeSpan.FromMilliseconds(500),
            },
        };
    }

    /// <summary>Akka.Management answers the other nodes' contact-point probes; the Kubernetes API lists the runner pods
    /// (label selector, default app=scheduler) in the pod's own namespace; ClusterBootstrap joins or forms the fleet.
    /// Both start with the ActorSystem.</summary>
    private static void WithKubernetesApiDiscovery(this AkkaConfigurationBuilder builder, ClusterSettings cluster)
    {
        var hostname = cluster.Hostname ?? "127.0.0.1";
        builder.WithKubernetesDiscovery(options => options.PodLabelSelector = cluster.DiscoveryLabelSelector ?? "app={0}")
            .WithAkkaManagement(new AkkaManagementOptions
            {
                HostName = hostname,
                Port = cluster.ManagementPort,
                BindHostName = cluster.BindHost ?? hostname,
            }, autoStart: true)
            .WithClusterBootstrap(options =>
            {
                options.ContactPointDiscovery.ServiceName = SchedulerActorSystem.SystemName;
                options.ContactPointDiscovery.PortName = "management";
            }, autoStart: true);
    }
}
