using Prometheus;
using Scheduler.Cli;
using Scheduler.Fleet;
using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary><c>scheduler status</c> against a node's <c>/fleet</c> route.</summary>
public sealed class StatusCommandTests
{
    private static readonly FleetStatus Sample = new("akka.tcp://scheduler@10.0.0.1:4053", true,
    [
        new NodeStatus("akka.tcp://scheduler@10.0.0.1:4053", ["runner"], "Up", true, 4, new Dictionary<string, int> { ["eu"] = 1, ["us"] = 2 }, 1),
        new NodeStatus("akka.tcp://scheduler@10.0.0.2:4053", [], "Up", false, 0, new Dictionary<string, int>(), 0, "unreachable"),
    ]);

    private static async Task<(int Code, string Output, string Error)> RunAsync(string? config, string? url, bool json)
    {
        using var http = new HttpClient();
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await StatusCommand.RunAsync(config, url, json, http, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Prints_every_member_as_a_table()
    {
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(), () => true,
            fleetStatus: _ => Task.FromResult(Sample));

        var (code, output, error) = await RunAsync(null, endpoint.Address.ToString(), json: false);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("fleet: 2 member(s), 3 job(s) running; (*) answered", lines[0]);
        Assert.StartsWith("NODE", lines[1]);
        Assert.Matches(@"^akka\.tcp://scheduler@10\.0\.0\.1:4053 \(\*\)\s+Up\s+yes\s+runner\s+4\s+3\s+1\s+eu=1 us=2$", lines[2]);
        Assert.Matches(@"^akka\.tcp://scheduler@10\.0\.0\.2:4053\s+Up\s+no\s+-\s+\?\s+\?\s+\?\s+unreachable$", lines[3]);
    }

    [Fact]
    public async Task Json_is_the_fleet_document()
    {
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(), () => true,
            fleetStatus: _ => Task.FromResult(Sample));

        var (code, output, _) = await RunAsync(null, endpoint.Address.ToString(), json: true);

        Assert.Equal(0, code);
        var parsed = FleetStatusJson.Parse(output, out var error);
        Assert.Null(error);
        Assert.Equal(Sample.Self, parsed!.Self);
        Assert.Equal(2, parsed.Nodes[0].RunningPerRunner["us"]);
        Assert.Equal("unreachable", parsed.Nodes[1].Error);
        Assert.Contains("\"runningPerRunner\"", output);
    }

    [Fact]
    public async Task The_config_names_the_node_to_ask()
    {
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(), () => true,
            fleetStatus: _ => Task.FromResult(Sample));
        var config = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(config, $"listen_address = \":{endpoint.Address.Port}\"\n");

            var (code, output, _) = await RunAsync(config, null, json: false);

            Assert.Equal(0, code);
            Assert.Contains("2 member(s)", output);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Theory]
    [InlineData(null, null, 2, "give --config FILE or --url")]
    [InlineData(null, "ftp://x", 2, "is not an http:// URL")]
    [InlineData(null, "http://127.0.0.1:1", 1, "cannot reach http://127.0.0.1:1/")]
    public async Task Unusable_addresses_are_reported(string? config, string? url, int expectedCode, string message)
    {
        var (code, output, error) = await RunAsync(config, url, json: false);

        Assert.Equal(expectedCode, code);
        Assert.Equal("", output);
        Assert.Contains(message, error);
    }

    [Fact]
    public async Task A_config_without_listen_address_is_reported()
    {
        var config = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(config, "concurrent = 2\n");

            var (code, _, error) = await RunAsync(config, null, json: false);

            Assert.Equal(2, code);
            Assert.Contains("has no listen_address", error);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_node_without_fleet_status_answers_404()
    {
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(), () => true);

        var (code, _, error) = await RunAsync(null, endpoint.Address.ToString(), json: false);

        Assert.Equal(1, code);
        Assert.Contains("answered 404", error);
    }
}
