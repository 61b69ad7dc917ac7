using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster;

/// <summary>How to start an embedded cluster.</summary>
public sealed record LocalClusterOptions
{
    /// <summary>The loopback port to listen on; 0 picks any free port.</summary>
    public int Port { get; init; }

    /// <summary>Required: pods' data, PersistentVolumeClaim directories and, by default, the kubeconfig.</summary>
    public string StateDir { get; init; } = "";

    /// <summary>Where to write the kubeconfig; defaults to <c>&lt;StateDir&gt;/kubeconfig</c>.</summary>
    public string? KubeconfigPath { get; init; }

    public NodeSettings Node { get; init; } = new();

    /// <summary>
    /// Lets a container that asks for root (<c>runAsUser: 0</c>) run as root (<c>--allow-root</c>). Off, such a container
    /// is refused; every other container runs as a non-root user either way.
    /// </summary>
    public bool AllowRootContainers { get; init; }

    /// <summary>The bearer token the API requires (written into the kubeconfig); null or empty: a fresh random one.</summary>
    public string? Token { get; init; }

    /// <summary>Injected failures; off by default.</summary>
    public FaultSettings Faults { get; init; } = FaultSettings.None;

    public required Func<NodeSettings, IPodHost, IPodRuntime> RuntimeFactory { get; init; }

    /// <summary>How many past watch events are kept for watches resuming from a resourceVersion (older ones get 410 Expired).</summary>
    public int WatchHistorySize { get; init; } = 1000;

    /// <summary>How long an Event is kept, as kube-apiserver's --event-ttl.</summary>
    public TimeSpan EventTimeToLive { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often a watch with allowWatchBookmarks receives a BOOKMARK event.</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(30);
}
