using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Scheduler.Fleet;
using Scheduler.Messages.Settings;
using Serilog;
using Serilog.Events;

namespace Scheduler.Hosting;

/// <summary>The HOCON files embedded in this assembly and the two ways tests and the exec session build a bare
/// ActorSystem: through the same Akka.Hosting registration as <c>run</c> (<see cref="SchedulerAkka"/>,
/// <see cref="SchedulerHost"/>), with no actors of their own.</summary>
public static class SchedulerActorSystem
{
    public const string BaseHoconResource = "hocon/base.hocon";
    public const string ClusterHoconResource = "hocon/cluster.hocon";

    /// <summary>Every node's ActorSystem has this name: seed node addresses are <c>akka.tcp://scheduler@host:port</c>.</summary>
    public const string SystemName = "scheduler";

    public static Akka.Configuration.Config BaseConfig() => EmbeddedConfig(BaseHoconResource);

    /// <summary><c>hocon/cluster.hocon</c>: what a fleet node sets that Akka.Hosting has no option for (resolver and
    /// shutdown timings).</summary>
    public static Akka.Configuration.Config ClusterConfig() => EmbeddedConfig(ClusterHoconResource);

    /// <summary>A fleet node's ActorSystem (<see cref="SchedulerAkka.WithFleetNode"/>) with <paramref name="overrides"/>
    /// over it. Refuses (InvalidOperationException) to listen beyond loopback without TLS, and fails with a clear error
    /// when a TLS file does not load. With no seed nodes and no discovery the node joins itself (it starts the fleet).
    /// The host behind it stops when the system terminates.</summary>
    public static ActorSystem CreateClustered(ClusterSettings cluster, string overrides = "",
        Akka.Event.LogLevel level = Akka.Event.LogLevel.WarningLevel)
    {
        var tls = PrepareFleetNode(cluster);
        var host = SchedulerHost.Start(SystemName, builder => builder
            .WithSchedulerDefaults(LevelOf(overrides, level))
            .WithFleetNode(cluster, tls)
            .WithActors((system, _) => JoinSelfWhenFirst(system, cluster))
            .WithOverrides(overrides));
        return OwnedByItsSystem(host);
    }

    /// <summary>A single node's ActorSystem (<see cref="SchedulerAkka.WithSchedulerDefaults"/>) with
    /// <paramref name="overrides"/> over it. The host behind it stops when the system terminates.</summary>
    public static ActorSystem Create(string name, string overrides = "", Akka.Event.LogLevel level = Akka.Event.LogLevel.WarningLevel)
    {
        var host = SchedulerHost.Start(name, builder => builder
            .WithSchedulerDefaults(LevelOf(overrides, level))
            .WithOverrides(overrides));
        return OwnedByItsSystem(host);
    }

    /// <summary>Checks <c>[cluster]</c> before anything starts: the loopback-only rule without TLS, and the TLS files.</summary>
    public static FleetTls.Material? PrepareFleetNode(ClusterSettings cluster)
    {
        if ((UnsafeValue(cluster) ?? FleetTls.StartError(cluster)) is { } error)
        {
            throw new InvalidOperationException(error);
        }

        return FleetTls.Load(cluster);
    }

    /// <summary>Why a <c>[cluster]</c> host name or role cannot be used, or null. Akka.Hosting writes them into HOCON, whose
    /// parser a quote or backslash in a host name sends into endless recursion (the process dies); only the characters of
    /// host names, IP addresses and plain role names pass.</summary>
    public static string? UnsafeValue(ClusterSettings cluster)
    {
        foreach (var (key, value) in new[] { ("hostname", cluster.Hostname), ("bind_host", cluster.BindHost) })
        {
            if (value is not null && !System.Text.RegularExpressions.Regex.IsMatch(value, @"^[A-Za-z0-9._:\-\[\]]+$"))
            {
                return $"[cluster] {key} \"{value}\" is not a host name or IP address";
            }
        }

        return cluster.Roles.FirstOrDefault(r => !System.Text.RegularExpressions.Regex.IsMatch(r, @"^[A-Za-z0-9._\-]+$")) is { } role
            ? $"[cluster] roles: \"{role}\" has characters other than letters, digits, '.', '_' and '-'"
            : null;
    }

    /// <summary>With no seed nodes and no discovery, this node forms the fleet by joining itself.</summary>
    public static void JoinSelfWhenFirst(ActorSystem system, ClusterSettings cluster)
    {
        if (cluster.Discovery.Length == 0 && cluster.SeedNodes.Count == 0)
        {
            var self = Akka.Cluster.Cluster.Get(system);
            self.Join(self.SelfAddress);
        }
    }

    /// <summary>The log level <paramref name="overrides"/> sets (tests quiet their logs there), else <paramref name="level"/>.</summary>
    public static Akka.Event.LogLevel LevelOf(string overrides, Akka.Event.LogLevel level)
    {
        var config = ConfigurationFactory.ParseString(overrides);
        return config.HasPath("akka.loglevel") ? Akka.Event.Logging.LogLevelFor(config.GetString("akka.loglevel")) : level;
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

    private static ActorSystem OwnedByItsSystem(SchedulerHost host)
    {
        host.System.WhenTerminated.ContinueWith(_ => host.DisposeAsync().AsTask(), TaskScheduler.Default);
        return host.System;
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
