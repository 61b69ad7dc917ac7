using k8s.Models;
using Scheduler.LocalCluster.Images;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// The kubelet of the embedded cluster: runs each pod's containers as sandboxed host processes (bubblewrap, or
/// unshare as root) on a single node, and reports pod status and events through <see cref="IPodHost"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>restartPolicy: Never is exact. OnFailure/Always (the default) restart a container in place after a
/// CrashLoopBackOff of 1 s doubling to at most 30 s (kubelet: 10 s to 5 min); restartCount, lastState and
/// <c>previous</c> logs follow.</item>
/// <item>Images (<see cref="NodeSettings.UseImages"/>, the rule in <see cref="Images.ImageSources"/>) are pulled with skopeo,
/// unpacked once with umoci, and each container runs in its image under a private overlay (see
/// <see cref="SandboxCommand"/>); Entrypoint, Cmd, Env, WorkingDir and User apply with Kubernetes' rules.</item>
/// <item>A container on the host's filesystem (the runner's own image, or images off) has no entrypoint and <c>/bin/sh</c>
/// as cmd: with neither command nor args the container runs <c>/bin/sh</c>; args alone are the whole command line.</item>
/// <item>Containers share the host network (localhost works between them); each has its own mount, pid and UTS namespace.
/// On the host's filesystem, with bubblewrap "/" is the sandbox's own tmpfs holding the host's top-level entries, so
/// new top-level paths (/builds, /scripts-…) stay in the sandbox; a missing mount point under an existing host directory
/// (e.g. /etc/x) is created on the host, and the unshare fallback creates every missing mount point on the host.</item>
/// <item>Readiness/liveness/startup probes are not run: a running container is ready. Exec with <c>tty</c> gets no pty; its stderr joins stdout when no stderr stream was requested.</item>
/// <item>Exec, when the runtime runs as root, joins the running container's mount, pid and UTS namespaces, as in
/// Kubernetes: a process it starts in the background survives the exec. The command is started through the join program
/// (Native/join.c), or nsenter where it was not built. (The
/// <see cref="NamespaceJoiner"/>, which starts it straight from a thread of the runtime, is off: while that thread is
/// inside a container, a thread the .NET runtime creates from it, its tiering worker or a GC thread, would live on with
/// the container's filesystem and user, and load assemblies from the job's files. Only tests turn it on.) Without root,
/// each exec gets a sandbox of its own with the container's mounts, and its background processes end with it.</item>
/// <item>Env values reach the process through its environment, never its argv.</item>
/// </list>
/// </remarks>
public sealed class ProcessPodRuntime : IPodRuntime
{
    private readonly PodEnvironment _env;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LocalPod> _podsByUid = new();
    private readonly Dictionary<(string Namespace, string Name), LocalPod> _podsByName = new();
    private bool _disposed;

    public ProcessPodRuntime(NodeSettings node, IPodHost host)
        : this(node, host, SandboxCommand.Detect(Environment.IsPrivilegedProcess, File.Exists))
    {
    }

    /// <summary>
    /// With an explicit sandbox, e.g. to exercise the unshare path on a machine that has bubblewrap, and optionally how
    /// often a pod waiting for its volumes looks again untold (<see cref="PodEnvironment.ConfigRetryInterval"/>).
    /// </summary>
    /// <remarks><paramref name="directExec"/> true starts execs through the <see cref="NamespaceJoiner"/> (for its tests: off
    /// everywhere else, see the class's remarks); false sends every exec through the join program, or nsenter without it.
    /// <paramref name="joinProgram"/>: where the join program is (null: next to the assemblies).</remarks>
    internal ProcessPodRuntime(NodeSettings node, IPodHost host, SandboxKind sandbox, TimeSpan? configRetryInterval = null, bool directExec = false, string? joinProgram = null)
    {
        if (string.IsNullOrEmpty(node.StateDir)) node = node with { StateDir = Path.Combine(Path.GetTempPath(), "scheduler-local-node") };
        Directory.CreateDirectory(node.StateDir);
        _env = new PodEnvironment(node, host, new ProcessSpawner(), sandbox, Environment.IsPrivilegedProcess,
            new ImageStore(node.StateDir, Environment.IsPrivilegedProcess))
        {
            ConfigRetryInterval = configRetryInterval ?? PodEnvironment.RetryInterval,
            Joiner = directExec ? NamespaceJoiner.TryCreate(Environment.IsPrivilegedProcess) : null,
            JoinProgram = PodEnvironment.FindJoinProgram(Environment.IsPrivilegedProcess, joinProgram),
        };
    }

    /// <summary>Whether execs enter their container through the join program (else nsenter, or the joiner when on).</summary>
    internal bool ExecsUseJoinProgram => _env.JoinProgram is not null;

    /// <summary>Whether execs start their command straight in the container (<see cref="NamespaceJoiner"/>), not through nsenter.</summary>
    internal bool ExecsJoinDirectly => _env.Joiner?.Usable == true;

    /// <summary>For tests: the joiner's next return to the runtime's own state fails (<see cref="NamespaceJoiner.FailNextReturn"/>).</summary>
    internal void FailJoinerReturn() => _env.Joiner!.FailNextReturn = true;

    /// <summary>For tests: run on the joiner's thread after each return (<see cref="NamespaceJoiner.AfterReturn"/>).</summary>
    internal void AfterJoinerReturn(Action action) => _env.Joiner!.AfterReturn = action;

    public SandboxKind Sandbox => _env.Sandbox;

    /// <summary>The node's images (pulled, loaded and unpacked).</summary>
    public ImageStore Images => _env.Images;

    public void PodCreated(V1Pod pod)
    {
        var local = new LocalPod(pod, _env);
        lock (_lock)
        {
            if (_disposed || _podsByUid.ContainsKey(local.Uid)) return;
            _podsByUid[local.Uid] = local;
            _podsByName[(local.Namespace, local.Name)] = local;
            // Started under the lock so that a concurrent KillPodAsync always finds the lifecycle it must stop.
            local.Start();
        }
    }

    public async Task KillPodAsync(string @namespace, string name, string uid, long gracePeriodSeconds)
    {
        LocalPod? pod;
        lock (_lock) _podsByUid.TryGetValue(uid, out pod);
        if (pod is null) return;
        await pod.KillAsync(Math.Max(0, gracePeriodSeconds));
        lock (_lock)
        {
            _podsByUid.Remove(uid);
            if (_podsByName.TryGetValue((pod.Namespace, pod.Name), out var current) && current == pod) _podsByName.Remove((pod.Namespace, pod.Name));
        }
    }

    public Task StreamLogAsync(string @namespace, string podName, PodLogOptions options, Stream output, CancellationToken cancellationToken) =>
        Find(@namespace, podName).StreamLogAsync(options, output, cancellationToken);

    public Task<int> ExecAsync(ExecRequest request, ExecStreams streams, CancellationToken cancellationToken) =>
        Find(request.Namespace, request.PodName).ExecAsync(request, streams, cancellationToken);

    /// <summary>The status the runtime currently reports for the pod, or null when it does not run it.</summary>
    public V1PodStatus? GetStatus(string @namespace, string name)
    {
        lock (_lock) return _podsByName.TryGetValue((@namespace, name), out var pod) ? pod.CurrentStatus() : null;
    }

    private LocalPod Find(string @namespace, string name)
    {
        lock (_lock)
        {
            if (_podsByName.TryGetValue((@namespace, name), out var pod)) return pod;
        }
        throw new PodRuntimeException(404, "NotFound", $"pods \"{name}\" not found");
    }

    /// <summary>Kills every pod at once with no grace: nothing outlives the runtime.</summary>
    public async ValueTask DisposeAsync()
    {
        List<LocalPod> pods;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            pods = [.. _podsByUid.Values];
            _podsByUid.Clear();
            _podsByName.Clear();
        }
        await Task.WhenAll(pods.Select(pod => pod.KillAsync(0)));
        _env.Spawner.Dispose();
        _env.Joiner?.Dispose();
    }
}
