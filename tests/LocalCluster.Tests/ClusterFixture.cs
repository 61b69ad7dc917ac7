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

    /// <summary>A raw HTTP client carrying the API's bearer token and trusting the server's certificate, as a kubeconfig user.</summary>
    public HttpClient Http(TimeSpan? timeout = null)
    {
        var http = Anonymous(timeout);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Server.Token);
        return http;
    }

    /// <summary>A raw HTTP client that trusts the server's certificate but has no token.</summary>
    public HttpClient Anonymous(TimeSpan? timeout = null)
    {
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, certificate, _, _) => IsServer(certificate) };
        var http = new HttpClient(handler) { BaseAddress = Server.Url };
        if (timeout is { } t) http.Timeout = t;
        return http;
    }

    /// <summary>A WebSocket client carrying the API's bearer token.</summary>
    public System.Net.WebSockets.ClientWebSocket Socket()
    {
        var socket = AnonymousSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {Server.Token}");
        return socket;
    }

    /// <summary>A WebSocket client that trusts the server's certificate but has no token.</summary>
    public System.Net.WebSockets.ClientWebSocket AnonymousSocket()
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => IsServer(certificate);
        return socket;
    }

    private bool IsServer(System.Security.Cryptography.X509Certificates.X509Certificate? certificate) =>
        certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(Server.Certificate.RawData);

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
