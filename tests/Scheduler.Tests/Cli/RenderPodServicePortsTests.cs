using System.CommandLine;
using System.Text.Json.Nodes;
using Scheduler.Cli;
using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary><c>[[runners.kubernetes.services.ports]]</c> through <c>scheduler render-pod</c>: each port is a
/// <c>containerPort</c> of that service's container, and, as for a job's service with ports, the service's names are not
/// added to the pod's host aliases. A port Kubernetes would refuse is a load error at its key.</summary>
public sealed class RenderPodServicePortsTests
{
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\nimage = \"alpine:3\"\n";
    private const string Job = """{ "id": 7, "token": "glcbt-job-token", "image": { "name": "ruby:3.3" } }""";

    public static TheoryData<string, int[], int[], string[]> Rows => new()
    {
        // services, ports of svc-0, ports of svc-1, host names aliased to 127.0.0.1
        { Service("postgres:16", "db") + "[[runners.kubernetes.services.ports]]\nnumber = 5432", [5432], [], [] },
        {
            Service("nginx:1", "web") + "[[runners.kubernetes.services.ports]]\nnumber = 80\nprotocol = \"http\"\nname = \"web\"\n"
            + "[[runners.kubernetes.services.ports]]\nnumber = 443\nprotocol = \"HTTPS\"",
            [80, 443], [], []
        },
        // Only the service with ports leaves the aliases; the other keeps its image names and alias.
        { Service("postgres:16", "db") + "[[runners.kubernetes.services.ports]]\nnumber = 5432\n" + Service("redis:7", "cache"), [5432], [], ["redis", "cache"] },
        // Without ports: no containerPort, names aliased as before.
        { Service("redis:7", "cache"), [], [], ["redis", "cache"] },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Service_ports_become_container_ports(string toml, int[] first, int[] second, string[] aliased)
    {
        var spec = Render(toml);

        Assert.Equal(first, PortsOf(spec, "svc-0"));
        Assert.Equal(second, PortsOf(spec, "svc-1"));
        var hostnames = spec["hostAliases"]?.AsArray().Where(a => (string?)a!["ip"] == "127.0.0.1")
            .SelectMany(a => a!["hostnames"]!.AsArray().Select(h => (string?)h)).ToList() ?? [];
        Assert.Equal(aliased, hostnames);
    }

    [Theory]
    [InlineData("[[runners.kubernetes.services.ports]]\nnumber = 70000", 11, 10, "runners[0].kubernetes.services[0].ports[0].number", "port must be between 1 and 65535")]
    [InlineData("[[runners.kubernetes.services.ports]]\nnumber = 0", 11, 10, "runners[0].kubernetes.services[0].ports[0].number", "port must be between 1 and 65535")]
    [InlineData("[[runners.kubernetes.services.ports]]\nname = \"web\"", 10, 1, "runners[0].kubernetes.services[0].ports[0].number", "a service port needs a number")]
    [InlineData("[[runners.kubernetes.services.ports]]\nnumber = 53\nprotocol = \"udp\"", 12, 12, "runners[0].kubernetes.services[0].ports[0].protocol",
        "unsupported protocol \"udp\"; use http or https")]
    public void An_invalid_port_is_a_load_error_at_its_key(string ports, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + Service("postgres:16", "db") + ports + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Ports_load_without_a_warning()
    {
        var result = ConfigLoader.LoadText(Prefix + Service("postgres:16", "db") + "[[runners.kubernetes.services.ports]]\nnumber = 5432\n", "config.toml");

        Assert.True(result.IsValid);
        Assert.Empty(result.Warnings);
    }

    private static string Service(string name, string alias) => $"[[runners.kubernetes.services]]\nname = \"{name}\"\nalias = \"{alias}\"\n";

    private static int[] PortsOf(JsonNode spec, string container) =>
        spec["containers"]!.AsArray().FirstOrDefault(c => (string?)c!["name"] == container)?["ports"] is JsonArray ports
            ? ports.Select(p => (int)p!["containerPort"]!).ToArray()
            : [];

    private static JsonNode Render(string toml)
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("config.toml", Prefix + toml + "\n");
        var job = directory.Write("job.json", Job);
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = RenderPodCommand.Create().Parse(["--config", config, "--job", job])
            .Invoke(new InvocationConfiguration { Output = output, Error = error });

        Assert.True(exitCode == 0, error.ToString());
        return JsonNode.Parse(output.ToString())!["items"]![0]!["spec"]!;
    }
}
