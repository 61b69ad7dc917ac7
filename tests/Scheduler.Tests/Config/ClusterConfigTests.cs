using Scheduler.Config;
using Scheduler.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The <c>[cluster]</c> table: values, defaults, positioned errors; and the run flags over it.</summary>
public sealed class ClusterConfigTests
{
    // Lines 1-5; the row's TOML starts on line 6.
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[cluster]\n";

    [Fact]
    public void No_cluster_table_means_a_single_node()
    {
        var result = ConfigLoader.LoadText("concurrent = 1\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", "config.toml");

        Assert.Null(result.Settings!.Cluster);
    }

    [Fact]
    public void Every_key_is_read()
    {
        var result = ConfigLoader.LoadText(Prefix + """
            hostname = "runner-1.example.com"
            bind_host = "0.0.0.0"
            port = 5000
            seed_nodes = ["akka.tcp://scheduler@runner-1.example.com:5000", "akka.tcp://scheduler@10.0.0.2:5000"]
            roles = ["runner", "eu"]
            discovery = ""
            discovery_label_selector = "app=scheduler"
            management_port = 9000
            stable_after = 7
            orphan_scan_interval = 60
            claim_delay = 2
            """, "config.toml");

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        var cluster = result.Settings!.Cluster!;
        Assert.Equal("runner-1.example.com", cluster.Hostname);
        Assert.Equal("0.0.0.0", cluster.BindHost);
        Assert.Equal(5000, cluster.Port);
        Assert.Equal(["akka.tcp://scheduler@runner-1.example.com:5000", "akka.tcp://scheduler@10.0.0.2:5000"], cluster.SeedNodes);
        Assert.Equal(["runner", "eu"], cluster.Roles);
        Assert.Equal("app=scheduler", cluster.DiscoveryLabelSelector);
        Assert.Equal((9000, 7, 60, 2), (cluster.ManagementPort, cluster.StableAfter, cluster.OrphanScanInterval, cluster.ClaimDelay));
    }

    [Fact]
    public void An_empty_table_takes_the_defaults()
    {
        var cluster = ConfigLoader.LoadText(Prefix, "config.toml").Settings!.Cluster!;

        Assert.Equal(new ClusterSettings(), cluster with { SeedNodes = [], Roles = [] });
        Assert.Equal((4053, 8558, 2, 30, 5), (cluster.Port, cluster.ManagementPort, cluster.StableAfter, cluster.OrphanScanInterval, cluster.ClaimDelay));
        Assert.Null(cluster.Hostname);
        Assert.Empty(cluster.SeedNodes);
    }

    [Theory]
    [InlineData("port = 70000", 6, 8, "cluster.port", "must be a port number from 0")]
    [InlineData("port = -1", 6, 8, "cluster.port", "must be a port number from 0")]
    [InlineData("port = \"4053\"", 6, 8, "cluster.port", "expected an integer, found a string")]
    [InlineData("management_port = 0", 6, 19, "cluster.management_port", "must be a port number from 1")]
    [InlineData("seed_nodes = [\"scheduler@host:4053\"]", 6, 14, "cluster.seed_nodes[0]", "is not an akka.tcp address")]
    [InlineData("seed_nodes = [\"akka.tcp://other@host:4053\"]", 6, 14, "cluster.seed_nodes[0]", "names the actor system \"other\"")]
    [InlineData("seed_nodes = [\"akka.tcp://scheduler@host\"]", 6, 14, "cluster.seed_nodes[0]", "has no host and port")]
    [InlineData("seed_nodes = [\"akka.tcp://scheduler@a:1\", \"akka.tcp://scheduler@b:1/user\"]", 6, 14, "cluster.seed_nodes[1]", "has a path")]
    [InlineData("seed_nodes = \"akka.tcp://scheduler@a:1\"", 6, 14, "cluster.seed_nodes", "expected an array of strings")]
    [InlineData("roles = [\"two words\"]", 6, 9, "cluster.roles[0]", "a role is a non-empty word")]
    [InlineData("discovery = \"dns\"", 6, 13, "cluster.discovery", "unsupported discovery \"dns\"")]
    [InlineData("stable_after = 0", 6, 16, "cluster.stable_after", "must be at least 1 (seconds)")]
    [InlineData("orphan_scan_interval = -5", 6, 24, "cluster.orphan_scan_interval", "must be at least 1 (seconds)")]
    [InlineData("claim_delay = 1.5", 6, 15, "cluster.claim_delay", "expected an integer, found a float")]
    public void Cluster_error_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
        Assert.False(result.IsValid);
    }

    [Theory]
    [InlineData("seed_node = []", "cluster.seed_node", "did you mean \"seed_nodes\"?")]
    [InlineData("discovery = \"kubernetes-api\"\nseed_nodes = [\"akka.tcp://scheduler@a:1\"]", "cluster.seed_nodes", "ignored: discovery finds the other nodes")]
    public void Cluster_warning(string toml, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        Assert.Empty(result.Errors);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(key, warning.Key);
        Assert.Contains(message, warning.Message);
    }

    [Fact]
    public void A_misspelt_cluster_table_gets_a_hint()
    {
        var result = ConfigLoader.LoadText("[clustr]\nport = 1\n", "config.toml");

        Assert.Null(result.Settings!.Cluster);
        Assert.Contains(result.Warnings, w => w.Key == "clustr" && w.Message.Contains("did you mean \"cluster\"?"));
    }

    [Fact]
    public void Cluster_as_a_value_is_a_type_error()
    {
        var result = ConfigLoader.LoadText("cluster = 1\n", "config.toml");

        Assert.Contains(result.Errors, e => e.Key == "cluster" && e.Message.Contains("expected a table"));
    }

    [Fact]
    public void Flags_override_the_file()
    {
        var settings = ConfigLoader.LoadText(Prefix + "port = 5000\nhostname = \"a\"\nseed_nodes = [\"akka.tcp://scheduler@a:5000\"]\n",
            "config.toml").Settings!;

        var (applied, errors) = new ClusterFlags(6000, ["akka.tcp://scheduler@b:6000"], "b").ApplyTo(settings);

        Assert.Empty(errors);
        Assert.Equal((6000, "b"), (applied.Cluster!.Port, applied.Cluster.Hostname));
        Assert.Equal(["akka.tcp://scheduler@b:6000"], applied.Cluster.SeedNodes);
    }

    [Fact]
    public void A_flag_makes_a_fleet_node_without_a_cluster_table()
    {
        var settings = new GlobalSettings();

        Assert.Null(ClusterFlags.None.ApplyTo(settings).Settings.Cluster);
        var (applied, errors) = new ClusterFlags(0, [], null).ApplyTo(settings);
        Assert.Empty(errors);
        Assert.Equal(0, applied.Cluster!.Port);
    }

    [Theory]
    [InlineData(70000, "akka.tcp://scheduler@a:1", "--cluster-port 70000")]
    [InlineData(1, "http://a:1", "--seed: \"http://a:1\" is not an akka.tcp address")]
    public void Bad_flags_are_reported(int port, string seed, string message)
    {
        var (_, errors) = new ClusterFlags(port, [seed], null).ApplyTo(new GlobalSettings());

        Assert.Contains(errors, e => e.StartsWith(message, StringComparison.Ordinal));
    }
}
