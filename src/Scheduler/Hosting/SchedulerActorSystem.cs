using Akka.Actor;
using Akka.Configuration;
using Scheduler.Fleet;
using Scheduler.Messages.Settings;
using Serilog;
using Serilog.Events;

namespace Scheduler.Hosting;

/// <summary>Creates the process's ActorSystem from <c>hocon/base.hocon</c> (embedded in this assembly) plus overrides.</summary>
public static class SchedulerActorSystem
{
    public const string BaseHoconResource = "hocon/base.hocon";
    public const string ClusterHoconResource = "hocon/cluster.hocon";

    /// <summary>Every node's ActorSystem has this name: seed node addresses are <c>akka.tcp://scheduler@host:port</c>.</summary>
    public const string SystemName = "scheduler";

    /// <summary>Actor logs go through Serilog; nothing is written to stdout by Akka itself.</summary>
    public const string SerilogLoggingHocon = """
        akka.loggers = ["Scheduler.Hosting.SerilogAkkaLogger, scheduler"]
        akka.stdout-loglevel = OFF
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        """;

    public static Akka.Configuration.Config BaseConfig() => EmbeddedConfig(BaseHoconResource);

    /// <summary><c>hocon/cluster.hocon</c>: cluster provider, remoting, split brain resolver, fleet serializer.</summary>
    public static Akka.Configuration.Config ClusterConfig() => EmbeddedConfig(ClusterHoconResource);

    /// <summary>The HOCON that <c>[cluster]</c> sets over cluster.hocon: address, seeds, roles and the resolver's stable-after.</summary>
    public static string ClusterOverrides(ClusterSettings cluster)
    {
        var hostname = cluster.Hostname ?? "127.0.0.1";
        var bind = cluster.BindHost ?? hostname;
        var lines = new List<string>
        {
            $"akka.remote.dot-netty.tcp.hostname = {Quote(bind)}",
            $"akka.remote.dot-netty.tcp.public-hostname = {Quote(hostname)}",
            $"akka.remote.dot-netty.tcp.port = {cluster.Port}",
            $"akka.cluster.roles = [{string.Join(", ", cluster.Roles.Select(Quote))}]",
            $"akka.cluster.split-brain-resolver.stable-after = {cluster.StableAfter}s",
            $"akka.cluster.down-removal-margin = {cluster.StableAfter}s",
        };
        // With discovery, ClusterBootstrap forms the cluster; seed nodes would race it.
        IEnumerable<string> seeds = cluster.Discovery.Length > 0 ? [] : cluster.SeedNodes.Select(s => SeedWithScheme(s, FleetTls.Enabled(cluster)));
        lines.Add($"akka.cluster.seed-nodes = [{string.Join(", ", seeds.Select(Quote))}]");
        if (cluster.Discovery == ClusterSettings.KubernetesApiDiscovery)
        {
            // Akka.Management answers the other nodes' contact-point probes; the Kubernetes API lists the runner pods
            // (label selector, default app=scheduler) in the pod's own namespace.
            lines.Add("akka.discovery.method = kubernetes-api");
            lines.Add($"akka.discovery.kubernetes-api.pod-label-selector = {Quote(cluster.DiscoveryLabelSelector ?? "app={0}")}");
            lines.Add($"akka.management.http.hostname = {Quote(hostname)}");
            lines.Add($"akka.management.http.port = {cluster.ManagementPort}");
            lines.Add($"akka.management.http.bind-hostname = {Quote(bind)}");
            lines.Add($"akka.management.cluster.bootstrap.contact-point-discovery.service-name = {Quote(SystemName)}");
            lines.Add("akka.management.cluster.bootstrap.contact-point-discovery.port-name = \"management\"");
        }

        return string.Join("\n", lines);
    }

    /// <summary>A fleet node's ActorSystem: <paramref name="overrides"/> over <c>[cluster]</c> over cluster.hocon over the
    /// base, with mutual TLS when <c>[cluster]</c> names certificates. Refuses (InvalidOperationException) to listen beyond
    /// loopback without TLS. With no seed nodes and no discovery the node joins itself (it starts the fleet).</summary>
    public static ActorSystem CreateClustered(ClusterSettings cluster, string overrides = "",
        Akka.Event.LogLevel level = Akka.Event.LogLevel.WarningLevel)
    {
        if (FleetTls.StartError(cluster) is { } error)
        {
            throw new InvalidOperationException(error);
        }

        var tls = FleetTls.Enabled(cluster);
        var config = ConfigurationFactory.ParseString(overrides)
            .WithFallback(ConfigurationFactory.ParseString(ClusterOverrides(cluster)))
            .WithFallback(ConfigurationFactory.ParseString(tls ? FleetTls.EnableSslHocon : ""))
            .WithFallback(ConfigurationFactory.ParseString($"akka.loglevel = {LevelName(level)}\n{SerilogLoggingHocon}"))
            .WithFallback(ClusterConfig())
            .WithFallback(BaseConfig());
        var setup = BootstrapSetup.Create().WithConfig(config);
        var system = tls
            ? ActorSystem.Create(SystemName, setup.And(FleetTls.Setup(cluster)))
            : ActorSystem.Create(SystemName, setup);
        if (cluster.Discovery.Length == 0 && cluster.SeedNodes.Count == 0)
        {
            var self = Akka.Cluster.Cluster.Get(system);
            self.Join(self.SelfAddress);
        }

        return system;
    }

    /// <summary>With <c>discovery = "kubernetes-api"</c>: starts Akka.Management's HTTP endpoint and ClusterBootstrap, which
    /// finds the other runner pods through the Kubernetes API and joins or forms the fleet. Nothing otherwise.</summary>
    public static async Task StartDiscoveryAsync(ActorSystem system, ClusterSettings cluster)
    {
        if (cluster.Discovery != ClusterSettings.KubernetesApiDiscovery)
        {
            return;
        }

        await Akka.Management.Dsl.AkkaManagement.Get(system).Start();
        await Akka.Management.Cluster.Bootstrap.ClusterBootstrap.Get(system).Start();
    }

    /// <summary>A node with TLS is <c>akka.ssl.tcp://…</c>: a seed written as <c>akka.tcp://…</c> gets the scheme of this
    /// fleet (every node of a fleet has TLS or none has).</summary>
    public static string SeedWithScheme(string seed, bool tls)
    {
        const string plain = "akka.tcp://", secure = "akka.ssl.tcp://";
        return tls && seed.StartsWith(plain, StringComparison.Ordinal) ? secure + seed[plain.Length..]
            : !tls && seed.StartsWith(secure, StringComparison.Ordinal) ? plain + seed[secure.Length..]
            : seed;
    }

    private static Akka.Configuration.Config EmbeddedConfig(string resource)
    {
        using var stream = typeof(SchedulerActorSystem).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException($"the embedded resource {resource} is missing from the build");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    private static string LevelName(Akka.Event.LogLevel level) => level switch
    {
        Akka.Event.LogLevel.DebugLevel => "DEBUG",
        Akka.Event.LogLevel.InfoLevel => "INFO",
        Akka.Event.LogLevel.WarningLevel => "WARNING",
        _ => "ERROR",
    };

    /// <summary>An ActorSystem whose config is <paramref name="overrides"/> over Serilog logging over the base file.</summary>
    public static ActorSystem Create(string name, string overrides = "", Akka.Event.LogLevel level = Akka.Event.LogLevel.WarningLevel)
    {
        var config = ConfigurationFactory.ParseString(overrides)
            .WithFallback(ConfigurationFactory.ParseString($"akka.loglevel = {LevelName(level)}\n{SerilogLoggingHocon}"))
            .WithFallback(BaseConfig());
        return ActorSystem.Create(name, config);
    }

    /// <summary>Serilog on stderr at <paramref name="minimum"/> and above: stdout stays the job's trace.</summary>
    public static void ConfigureStderrLogging(LogEventLevel minimum)
    {
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(minimum)
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                outputTemplate: "{Timestamp:HH:mm:ss} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
    }
}
