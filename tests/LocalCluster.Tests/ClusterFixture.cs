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
