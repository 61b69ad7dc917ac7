using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

// The seam between the API server (the store, REST, watch, exec/log transport) and the runtime
// (scheduler + kubelet: runs pods as sandboxed host processes). The API server owns every object;
// the runtime owns pod status and reports it back through IPodHost.

/// <summary>The single node of the embedded cluster.</summary>
public sealed record NodeSettings
{
    public string NodeName { get; init; } = "local-node";
    /// <summary>The labels configured for the node (<c>--node-labels</c>).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The node's labels as the Node object shows them and the scheduler matches them: the configured ones and
    /// the kubelet's well-known <c>kubernetes.io/hostname</c>, <c>os</c> and <c>arch</c>.</summary>
    public IReadOnlyDictionary<string, string> EffectiveLabels => new Dictionary<string, string>(Labels)
    {
        ["kubernetes.io/hostname"] = NodeName,
        ["kubernetes.io/os"] = "linux",
        ["kubernetes.io/arch"] = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() switch
        {
            "x64" => "amd64", "arm64" => "arm64", var other => other,
        },
    };
    public IReadOnlyList<V1Taint> Taints { get; init; } = [];
    /// <summary>Glob patterns (<c>*</c>, <c>?</c>) of image names that fail to pull (ErrImagePull, then ImagePullBackOff).</summary>
    public IReadOnlyList<string> MissingImages { get; init; } = [];
    /// <summary>Where pod directories, logs and PersistentVolumeClaim data live. Containers see it empty.</summary>
    public string StateDir { get; init; } = "";
    /// <summary>
    /// Whether containers run in their images: pulled into <c>&lt;StateDir&gt;/images</c> and each run in a root of its
    /// own (see <see cref="Images.ImageSources"/>). Off, every container runs on the host's filesystem and its events say
    /// so (<c>--host-images</c>); the commands (<c>local-cluster</c>, the embedded cluster of <c>exec</c> and <c>run</c>)
    /// turn it on.
    /// </summary>
    public bool UseImages { get; init; }
    /// <summary>Files outside <see cref="StateDir"/> that containers must not read (the kubeconfig with the API's token).</summary>
    public IReadOnlyList<string> PrivateFiles { get; init; } = [];
    /// <summary>
    /// Whether a container that asks for root (<c>runAsUser: 0</c>) may run as root. Off, it is refused
    /// (CreateContainerConfigError); a container that asks for no user runs as a non-root user either way.
    /// </summary>
    public bool AllowRootContainers { get; init; }
}

/// <summary>What the runtime may ask of the API server.</summary>
public interface IPodHost
{
    V1Secret? GetSecret(string @namespace, string name);
    V1ConfigMap? GetConfigMap(string @namespace, string name);
    V1PersistentVolumeClaim? GetPersistentVolumeClaim(string @namespace, string name);

    /// <summary>
    /// Completes at the next change of any Secret, ConfigMap or PersistentVolumeClaim after the call: a pod waiting for
    /// one (FailedMount, CreateContainerConfigError) takes this before it looks, and looks again when told.
    /// </summary>
    Task NextConfigChange();

    /// <summary>Sets <c>spec.nodeName</c>. Returns false when the pod (by uid) no longer exists.</summary>
    bool BindPod(string @namespace, string name, string uid, string nodeName);

    /// <summary>
    /// Replaces the pod's status; the store bumps resourceVersion and notifies watchers.
    /// Returns false when the pod (by uid) no longer exists.
    /// </summary>
    bool UpdatePodStatus(string @namespace, string name, string uid, V1PodStatus status);

    /// <summary>Records a core/v1 Event about the object (type Normal or Warning).</summary>
    void RecordEvent(V1ObjectReference involvedObject, string type, string reason, string message);
}

/// <summary>Options of <c>pods/log</c>, as the API server received them.</summary>
public sealed record PodLogOptions
{
    public string? Container { get; init; }
    public bool Follow { get; init; }
    public bool Timestamps { get; init; }
    public DateTimeOffset? SinceTime { get; init; }
    public long? SinceSeconds { get; init; }
    public long? TailLines { get; init; }
    public long? LimitBytes { get; init; }
    public bool Previous { get; init; }
}

/// <summary>A request of <c>pods/exec</c>.</summary>
public sealed record ExecRequest(string Namespace, string PodName, string? Container, IReadOnlyList<string> Command, bool Tty);

/// <summary>The streams of one exec; a null stream was not requested by the client.</summary>
public sealed record ExecStreams(Stream? Stdin, Stream? Stdout, Stream? Stderr);

/// <summary>Thrown by the runtime for a request it must refuse; the API server maps it to a metav1.Status.</summary>
public sealed class PodRuntimeException(int httpStatus, string reason, string message) : Exception(message)
{
    public int HttpStatus { get; } = httpStatus;
    /// <summary>A metav1.Status reason such as <c>BadRequest</c> or <c>NotFound</c>.</summary>
    public string Reason { get; } = reason;
}

/// <summary>The kubelet side of the embedded cluster.</summary>
public interface IPodRuntime : IAsyncDisposable
{
    /// <summary>
    /// A pod was created. The runtime schedules it against the node (labels, taints; Unschedulable
    /// otherwise), prepares its volumes, starts its containers and keeps its status current. Returns at once.
    /// </summary>
    void PodCreated(V1Pod pod);

    /// <summary>
    /// The pod is being deleted: SIGTERM to every process, SIGKILL after the grace period. Completes when
    /// no process of the pod remains and its node-side state (emptyDirs, tmpfs) is gone.
    /// </summary>
    Task KillPodAsync(string @namespace, string name, string uid, long gracePeriodSeconds);

    /// <summary>
    /// Writes the container's log to <paramref name="output"/> as kubelet serves it. With Follow, completes when
    /// the container has terminated and its output is drained, or when <paramref name="cancellationToken"/> fires.
    /// Throws PodRuntimeException (400) when the container is unknown or has not started.
    /// </summary>
    Task StreamLogAsync(string @namespace, string podName, PodLogOptions options, Stream output, CancellationToken cancellationToken);

    /// <summary>
    /// Runs a command inside the running container's view (its mounts, env, working dir, user) and returns its exit
    /// code. Throws PodRuntimeException when the pod or container is not running.
    /// </summary>
    Task<int> ExecAsync(ExecRequest request, ExecStreams streams, CancellationToken cancellationToken);
}
