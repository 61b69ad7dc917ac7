using Scheduler.Config;
using Scheduler.Hosting;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary><c>[cluster] tls_certificate</c>, <c>tls_key</c>, <c>tls_ca</c>: read as paths, all three or none; seed nodes
/// take the fleet's scheme.</summary>
public sealed class ClusterTlsConfigTests
{
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[cluster]\n";

    [Fact]
    public void The_three_paths_are_read()
    {
        var result = ConfigLoader.LoadText(Prefix + """
            tls_certificate = "/tls/tls.crt"
            tls_key = "/tls/tls.key"
            tls_ca = "/tls/ca.crt"
            seed_nodes = ["akka.ssl.tcp://scheduler@a:4053"]
            """, "config.toml");

        Assert.Empty(result.Errors);
        var cluster = result.Settings!.Cluster!;
        Assert.Equal(("/tls/tls.crt", "/tls/tls.key", "/tls/ca.crt"), (cluster.TlsCertificate, cluster.TlsKey, cluster.TlsCa));
    }

    [Theory]
    [InlineData("tls_certificate = \"/tls/tls.crt\"")]
    [InlineData("tls_certificate = \"/tls/tls.crt\"\ntls_key = \"/tls/tls.key\"")]
    [InlineData("tls_ca = \"/tls/ca.crt\"")]
    public void Half_a_TLS_setup_is_an_error(string toml)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Contains("go together", error.Message);
    }

    [Theory]
    [InlineData("akka.tcp://scheduler@a:4053", true, "akka.ssl.tcp://scheduler@a:4053")]
    [InlineData("akka.ssl.tcp://scheduler@a:4053", true, "akka.ssl.tcp://scheduler@a:4053")]
    [InlineData("akka.ssl.tcp://scheduler@a:4053", false, "akka.tcp://scheduler@a:4053")]
    [InlineData("akka.tcp://scheduler@a:4053", false, "akka.tcp://scheduler@a:4053")]
    public void A_seed_gets_the_fleets_scheme(string seed, bool tls, string dialed)
    {
        Assert.Equal(dialed, SchedulerActorSystem.SeedWithScheme(seed, tls));
    }
}
