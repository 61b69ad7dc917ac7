using System.Globalization;
using System.Net;
using System.Text;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>The <c>[cluster]</c> section of a node's config.toml: where it listens for the other nodes and whom it joins.</summary>
public sealed record ClusterSection(string Hostname, int Port, IReadOnlyList<string> SeedNodes)
{
    /// <summary>The fleet's certificate files; a node that listens beyond loopback must have them.</summary>
    public FleetCertificates? Tls { get; init; }

    /// <summary>The node's address as the others and the owner annotation name it (without the <c>#uid</c>).</summary>
    public string Address =>
        $"{(Tls is null ? "akka.tcp" : "akka.ssl.tcp")}://scheduler@{Hostname}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>What one <c>scheduler run</c> node is given in its config.toml.</summary>
public sealed record NodeSettings
{
    public required string Name { get; init; }
    public required string GitLabUrl { get; init; }
    public required string RunnerToken { get; init; }
    public int Concurrent { get; init; } = 4;
    public int Limit { get; init; }
    public int ShutdownTimeout { get; init; } = 30;

    /// <summary>Seconds between job requests. A long one keeps a node from taking new jobs (it still adopts).</summary>
    public int CheckInterval { get; init; } = 1;
    public string Namespace { get; init; } = "default";

    /// <summary>Where <c>listen_address</c> binds (/ready, /metrics): the namespace end for a node in a network namespace.</summary>
    public IPAddress ListenHost { get; init; } = IPAddress.Loopback;

    public ClusterSection? Cluster { get; init; }

    public string ToToml(int listenPort)
    {
        var toml = new StringBuilder();
        toml.AppendLine(CultureInfo.InvariantCulture, $"concurrent = {Concurrent}");
        toml.AppendLine(CultureInfo.InvariantCulture, $"check_interval = {CheckInterval}");
        toml.AppendLine(CultureInfo.InvariantCulture, $"shutdown_timeout = {ShutdownTimeout}");
        toml.AppendLine("log_level = \"debug\"");
        toml.AppendLine(CultureInfo.InvariantCulture, $"listen_address = \"{ListenHost}:{listenPort}\"");
        if (Cluster is { } cluster)
        {
            toml.AppendLine();
            toml.AppendLine("[cluster]");
            toml.AppendLine(CultureInfo.InvariantCulture, $"  hostname = \"{cluster.Hostname}\"");
            toml.AppendLine(CultureInfo.InvariantCulture, $"  bind_host = \"{cluster.Hostname}\"");
            toml.AppendLine(CultureInfo.InvariantCulture, $"  port = {cluster.Port}");
            toml.AppendLine(CultureInfo.InvariantCulture,
                $"  seed_nodes = [{string.Join(", ", cluster.SeedNodes.Select(s => $"\"{s}\""))}]");
            if (cluster.Tls is { } tls)
            {
                toml.AppendLine(CultureInfo.InvariantCulture, $"  tls_certificate = \"{tls.Certificate}\"");
                toml.AppendLine(CultureInfo.InvariantCulture, $"  tls_key = \"{tls.Key}\"");
                toml.AppendLine(CultureInfo.InvariantCulture, $"  tls_ca = \"{tls.Ca}\"");
            }
        }

        toml.AppendLine();
        toml.AppendLine("[[runners]]");
        toml.AppendLine("  name = \"fleet\"");
        toml.AppendLine(CultureInfo.InvariantCulture, $"  url = \"{GitLabUrl}\"");
        toml.AppendLine(CultureInfo.InvariantCulture, $"  token = \"{RunnerToken}\"");
        toml.AppendLine("  executor = \"kubernetes\"");
        toml.AppendLine(CultureInfo.InvariantCulture, $"  limit = {Limit}");
        toml.AppendLine("  [runners.kubernetes]");
        toml.AppendLine(CultureInfo.InvariantCulture, $"    namespace = \"{Namespace}\"");
        toml.AppendLine("    image = \"alpine:3.20\"");
        return toml.ToString();
    }
}

/// <summary>A <c>scheduler run --config FILE --kubeconfig KCFG --host-helper</c> process (in a network namespace when given
/// one), its config and its log.</summary>
public sealed class RunNode : IAsyncDisposable
{
    private RunNode(NodeSettings settings, ChildProcess process, Uri listenUrl, string configPath)
    {
        Settings = settings;
        Process = process;
        ListenUrl = listenUrl;
        ConfigPath = configPath;
    }

    public NodeSettings Settings { get; }
    public string Name => Settings.Name;
    public ChildProcess Process { get; }
    public Uri ListenUrl { get; }
    public string ConfigPath { get; }

    /// <summary>Starts the node and waits until <c>/ready</c> answers 200 (its runner token is accepted).</summary>
    public static async Task<RunNode> StartAsync(string directory, NodeSettings settings, string kubeconfigPath,
        NetworkNamespace? networkNamespace = null, TimeSpan? readyTimeout = null)
    {
        var nodeDir = Directory.CreateDirectory(Path.Combine(directory, settings.Name)).FullName;
        var listenPort = FreePort.Next();
        var configPath = Path.Combine(nodeDir, "config.toml");
        await File.WriteAllTextAsync(configPath, settings.ToToml(listenPort));

        string[] arguments = [SchedulerBinary.Dll, "run", "--config", configPath, "--kubeconfig", kubeconfigPath, "--host-helper"];
        var (fileName, argv) = networkNamespace is null
            ? (SchedulerBinary.Dotnet, (IReadOnlyList<string>)arguments)
            : networkNamespace.Wrap(SchedulerBinary.Dotnet, arguments);
        var process = ChildProcess.Start(settings.Name, fileName, argv, Path.Combine(nodeDir, "node.log"));
        var node = new RunNode(settings, process, new Uri($"http://{settings.ListenHost}:{listenPort}/"), configPath);
        try
        {
            await node.WaitReadyAsync(readyTimeout ?? TimeSpan.FromSeconds(90));
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (Process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited ({Process.ExitCode}) before it was ready\n{Process.Tail()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(ListenUrl, "ready"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds} s\n{Process.Tail()}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>How many members this node sees as Up in its <c>/fleet</c> document (0 when it does not answer).</summary>
    public async Task<int> MembersUpAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            var json = await http.GetStringAsync(new Uri(ListenUrl, "fleet"));
            var nodes = System.Text.Json.Nodes.JsonNode.Parse(json)?["nodes"]?.AsArray() ?? [];
            return nodes.Count(n => n?["memberStatus"]?.GetValue<string>() == "Up");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException
                                      or InvalidOperationException)
        {
            return 0;
        }
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>A TCP port free right now on every address (bound to 0.0.0.0 and released).</summary>
public static class FreePort
{
    public static int Next()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
