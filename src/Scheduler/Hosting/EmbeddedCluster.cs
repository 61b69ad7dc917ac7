using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Hosting;

/// <summary>Starts the embedded Kubernetes in this process: the default cluster when none is configured.</summary>
public static class EmbeddedCluster
{
    /// <summary>Lets containers that ask for root run as root on the embedded cluster of <c>run</c> and <c>exec</c> (<c>true</c> or <c>1</c>).</summary>
    public const string AllowRootVariable = "SCHEDULER_EMBEDDED_ALLOW_ROOT";

    /// <summary>
    /// Starts a server whose pods run as sandboxed host processes, with its state (and kubeconfig) in <paramref name="stateDir"/>.
    /// <paramref name="allowRoot"/> (or <see cref="AllowRootVariable"/> set): a container with <c>runAsUser: 0</c> runs as root.
    /// </summary>
    public static Task<LocalClusterServer> StartAsync(string stateDir, CancellationToken ct, NodeSettings? node = null, int port = 0,
        string? kubeconfigPath = null, bool allowRoot = false)
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
            AllowRootContainers = allowRoot || AllowRootFromEnvironment(),
        };
        return LocalClusterServer.StartAsync(options, ct);
    }

    private static bool AllowRootFromEnvironment() =>
        Environment.GetEnvironmentVariable(AllowRootVariable)?.Trim().ToLowerInvariant() is "true" or "1";
}
