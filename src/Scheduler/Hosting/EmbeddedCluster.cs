using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Hosting;

/// <summary>Starts the embedded Kubernetes in this process: the default cluster when none is configured.</summary>
public static class EmbeddedCluster
{
    /// <summary>Starts a server whose pods run as sandboxed host processes, with its state (and kubeconfig) in <paramref name="stateDir"/>.</summary>
    public static Task<LocalClusterServer> StartAsync(string stateDir, CancellationToken ct, NodeSettings? node = null, int port = 0,
        string? kubeconfigPath = null)
    {
        var dir = Path.GetFullPath(stateDir);
        Directory.CreateDirectory(dir);
        var options = new LocalClusterOptions
        {
            Port = port,
            StateDir = dir,
            KubeconfigPath = kubeconfigPath is null ? null : Path.GetFullPath(kubeconfigPath),
            Node = (node ?? new NodeSettings()) with { StateDir = dir },
            RuntimeFactory = (settings, host) => new ProcessPodRuntime(settings, host),
        };
        return LocalClusterServer.StartAsync(options, ct);
    }
}
