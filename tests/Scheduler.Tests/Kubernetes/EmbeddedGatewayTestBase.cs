using Scheduler.Kubernetes;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>A fresh in-process embedded cluster per test, with a KubernetesClient and the real gateway over it.</summary>
public abstract class EmbeddedGatewayTestBase : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "gateway-tests", Guid.NewGuid().ToString("N"));

    /// <summary>The cluster's state directory, removed after the test.</summary>
    protected string StateDir => _stateDir;

    protected LocalClusterServer Server { get; private set; } = null!;
    protected k8s.Kubernetes Client { get; private set; } = null!;
    protected KubernetesGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        Client = CreateClient(Server.ClientConfiguration());
        Gateway = new KubernetesGateway(Client, new ApiRateLimiter(100, 100));
    }

    /// <summary>The client the gateway uses; a test class may give it a handler or another exec transport.</summary>
    protected virtual k8s.Kubernetes CreateClient(k8s.KubernetesClientConfiguration configuration) => new(configuration);

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
        }
        catch (IOException)
        {
            // best effort cleanup of a temp dir
        }
    }
}
