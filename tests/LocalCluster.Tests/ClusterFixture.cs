using k8s;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests;

/// <summary>A live in-process server on a random port with the fake runtime, one per test.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private TestCluster(LocalClusterServer server, FakePodRuntime runtime, string stateDir)
    {
        Server = server;
        Runtime = runtime;
        StateDir = stateDir;
        Client = new Kubernetes(server.ClientConfiguration());
    }

    public LocalClusterServer Server { get; }
    public FakePodRuntime Runtime { get; }
    public Kubernetes Client { get; }
    public string StateDir { get; }

    /// <summary>A raw HTTP client carrying the API's bearer token, as a kubeconfig user would.</summary>
    public HttpClient Http(TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = Server.Url };
        if (timeout is { } t) http.Timeout = t;
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Server.Token);
        return http;
    }

    /// <summary>A WebSocket client carrying the API's bearer token.</summary>
    public System.Net.WebSockets.ClientWebSocket Socket()
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {Server.Token}");
        return socket;
    }

    public static async Task<TestCluster> StartAsync(Func<LocalClusterOptions, LocalClusterOptions>? configure = null)
    {
        var stateDir = Path.Combine(Path.GetTempPath(), "local-cluster-tests", Guid.NewGuid().ToString("N"));
        FakePodRuntime? runtime = null;
        var options = new LocalClusterOptions
        {
            StateDir = stateDir,
            RuntimeFactory = (node, host) => runtime = new FakePodRuntime(node, host),
        };
        if (configure is not null) options = configure(options);
        var server = await LocalClusterServer.StartAsync(options);
        return new TestCluster(server, runtime!, stateDir);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(StateDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }
}
