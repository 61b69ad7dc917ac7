using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Scheduler.Hosting;
using ClusterSettings = Scheduler.Messages.Settings.ClusterSettings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>What <c>[cluster]</c> sets through the fleet node's Akka.Hosting registration (<see cref="SchedulerAkka.WithFleetNode"/>).</summary>
public sealed class ClusterHoconTests
{
    private static Akka.Configuration.Config Effective(ClusterSettings cluster)
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), SchedulerActorSystem.SystemName);
        builder.WithSchedulerDefaults(Akka.Event.LogLevel.WarningLevel).WithFleetNode(cluster, tls: null);
        return builder.Configuration.Value;
    }

    [Fact]
    public void Static_seeds_address_roles_and_timing()
    {
        var config = Effective(new ClusterSettings
        {
            Hostname = "runner-1", BindHost = "0.0.0.0", Port = 5000, Roles = ["eu"], StableAfter = 7,
            SeedNodes = ["akka.tcp://scheduler@runner-0:5000"],
        });

        Assert.Equal("runner-1", config.GetString("akka.remote.dot-netty.tcp.public-hostname"));
        Assert.Equal("0.0.0.0", config.GetString("akka.remote.dot-netty.tcp.hostname"));
        Assert.Equal(5000, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Equal(["eu"], config.GetStringList("akka.cluster.roles"));
        Assert.Equal(["akka.tcp://scheduler@runner-0:5000"], config.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(TimeSpan.FromSeconds(7), config.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal(TimeSpan.FromSeconds(7), config.GetTimeSpan("akka.cluster.down-removal-margin"));
        Assert.False(config.HasPath("akka.discovery.method"));
    }

    [Fact]
    public void The_provider_is_the_cluster()
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), SchedulerActorSystem.SystemName);

        builder.WithFleetNode(new ClusterSettings(), tls: null);

        Assert.IsType<Akka.Actor.ProviderSelection.Cluster>(builder.ActorRefProvider.Value);
    }

    [Fact]
    public void Defaults_listen_on_loopback()
    {
        var config = Effective(new ClusterSettings());

        Assert.Equal("127.0.0.1", config.GetString("akka.remote.dot-netty.tcp.hostname"));
        Assert.Equal(4053, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Empty(config.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(TimeSpan.FromSeconds(2), config.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
    }

    [Fact]
    public void A_seed_gets_the_scheme_of_a_TLS_fleet()
    {
        var seeds = SchedulerAkka.Clustering(new ClusterSettings
        {
            TlsCertificate = "/node.crt", TlsKey = "/node.key", TlsCa = "/ca.crt", SeedNodes = ["akka.tcp://scheduler@runner-0:5000"],
        }).SeedNodes ?? [];

        Assert.Equal(["akka.ssl.tcp://scheduler@runner-0:5000"], seeds);
    }

    [Fact]
    public void Kubernetes_discovery_replaces_the_seeds_with_cluster_bootstrap()
    {
        var config = Effective(new ClusterSettings
        {
            Hostname = "10.1.2.3", Discovery = ClusterSettings.KubernetesApiDiscovery, DiscoveryLabelSelector = "app=runner",
            ManagementPort = 9000, SeedNodes = ["akka.tcp://scheduler@ignored:1"],
        });

        Assert.Empty(config.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal("kubernetes-api", config.GetString("akka.discovery.method"));
        Assert.Equal("app=runner", config.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.Equal(9000, config.GetInt("akka.management.http.port"));
        Assert.Equal("10.1.2.3", config.GetString("akka.management.http.hostname"));
        Assert.Equal("10.1.2.3", config.GetString("akka.management.http.bind-hostname"));
        Assert.Equal("scheduler", config.GetString("akka.management.cluster.bootstrap.contact-point-discovery.service-name"));
        Assert.Equal("management", config.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name"));
    }

    [Theory]
    [InlineData("a\"b", null, "eu", "hostname")]
    [InlineData("127.0.0.1", "0.0.0.0\\", "eu", "bind_host")]
    [InlineData("127.0.0.1", null, "x\\y", "roles")]
    [InlineData("127.0.0.1", null, "a b", "roles")]
    public void A_host_name_or_role_that_is_not_one_is_refused_before_it_reaches_HOCON(string hostname, string? bindHost,
        string role, string key)
    {
        // A quote in a host name sends the HOCON parser into endless recursion: the process would die.
        var cluster = new ClusterSettings { Hostname = hostname, BindHost = bindHost, Roles = [role], Port = 0 };

        var error = Assert.Throws<InvalidOperationException>(() => SchedulerActorSystem.PrepareFleetNode(cluster));

        Assert.Contains(key, error.Message);
    }

    [Theory]
    [InlineData("runner-0.runners.ci.svc", "eu-west_1.a")]
    [InlineData("10.1.2.3", "eu")]
    [InlineData("::1", "eu")]
    public void Host_names_addresses_and_plain_roles_pass(string hostname, string role)
    {
        Assert.Null(SchedulerActorSystem.UnsafeValue(new ClusterSettings { Hostname = hostname, Roles = [role] }));
    }

    [Fact]
    public void Overrides_win_over_the_registration()
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), SchedulerActorSystem.SystemName);
        builder.WithSchedulerDefaults(Akka.Event.LogLevel.WarningLevel).WithFleetNode(new ClusterSettings(), tls: null)
            .WithOverrides(FleetTestCluster.FastTimings);

        var config = builder.Configuration.Value;

        Assert.Equal(TimeSpan.FromSeconds(60), config.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), config.GetTimeSpan("akka.cluster.failure-detector.heartbeat-interval"));
    }
}
