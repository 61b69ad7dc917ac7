// LocalPod is split by concern (LocalPod.Exec, .Images, .Kill, .Lifecycle, .Status); this file keeps what they share:
// the pod's state, its start (volumes, env, containers in order) and the waits for what it needs. Long because a pod's
// start is one sequence that reads best in one place.
using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Images;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>Shared by every pod of one runtime.</summary>
internal sealed record PodEnvironment(NodeSettings Node, IPodHost Host, ProcessSpawner Spawner, SandboxKind Sandbox, bool RuntimeIsRoot, ImageStore Images)
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often a pod waiting for its volumes or env looks again without being told: only what the API server cannot
    /// announce needs it (a hostPath of the right type appearing on the host). Secrets, ConfigMaps and claims wake it at once.
    /// </summary>
    public TimeSpan ConfigRetryInterval { get; init; } = RetryInterval;

    /// <summary>Starts exec'd commands straight in their container (root only); null: execs go through nsenter.</summary>
    public NamespaceJoiner? Joiner { get; init; }

    /// <summary>
    /// The join program execs enter their container through (<see cref="SandboxCommand.BuildJoinProgram"/>), where the
    /// runtime is root and the program was built; null: execs go through nsenter.
    /// </summary>
    public string? JoinProgram { get; init; }

    /// <summary>The join program at <paramref name="path"/> (by default next to the runtime's assemblies) when it is there and the runtime is root.</summary>
    public static string? FindJoinProgram(bool runtimeIsRoot, string? path = null)
    {
        path ??= Path.Combine(AppContext.BaseDirectory, SandboxCommand.JoinProgramName);
        return runtimeIsRoot && File.Exists(path) ? path : null;
    }
}

/// <summary>
/// A pod on the node: schedules it, sets up its volumes, runs its init containers then its containers, and reports
/// every change of its status. All waits are async (process exits, pipe reads, 1 s retry timers). This file runs the
/// pod's lifecycle and builds its containers' sandboxes; LocalPod.Images.cs pulls, LocalPod.Exec.cs serves exec and logs,
/// LocalPod.Lifecycle.cs runs hooks, LocalPod.Kill.cs stops it, LocalPod.Status.cs reports it.
/// </summary>
internal sealed partial class LocalPod
{
    private readonly PodEnvironment _env;
    private readonly Lock _lock = new();
    private readonly Lock _publishLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<LocalContainer> _initContainers;
    private readonly List<LocalContainer> _containers;
    private readonly Dictionary<string, (string Status, string? Reason, string? Message, DateTime Since)> _conditions = new();
    private readonly HashSet<string> _recordedEvents = [];
    private readonly HashSet<Process> _joinedExecs = []; // guarded by _lock: execs that joined a container's namespaces through the join program or nsenter
    private readonly HashSet<Process> _directExecs = []; // guarded by _lock: execs started in the container by the joiner (the command itself)
    private string? _lastPublished;
    private Task _lifecycle = Task.CompletedTask;

    // Guarded by _lock.
    private bool _scheduled;
    private string? _unschedulableMessage;
    private DateTime? _startTime;
    private bool _deadlineExceeded;
    private bool _stopRequested;
    private IReadOnlyDictionary<string, string>? _volumePaths;

    public LocalPod(V1Pod pod, PodEnvironment env)
    {
        Pod = pod;
        _env = env;
        Namespace = pod.Metadata?.NamespaceProperty ?? "default";
        Name = pod.Metadata?.Name ?? "";
        Uid = string.IsNullOrEmpty(pod.Metadata?.Uid) ? $"{Namespace}-{Name}" : pod.Metadata.Uid;
        PodDir = Path.Combine(env.Node.StateDir, "pods", NodePaths.SafeSegment(Uid));
        var index = 0;
        _initContainers = (pod.Spec?.InitContainers ?? []).Select(c => new LocalContainer(c, true, ContainerIdFor(index++))).ToList();
        _containers = (pod.Spec?.Containers ?? []).Select(c => new LocalContainer(c, false, ContainerIdFor(index++))).ToList();
        foreach (var container in _containers.Where(_ => _initContainers.Count > 0)) container.WaitingReason = "PodInitializing";
        foreach (var container in _initContainers) container.WaitingReason = "PodInitializing";
        QosClass = PodQos.ClassOf(pod);
    }

    public V1Pod Pod { get; }
    public string Namespace { get; }
    public string Name { get; }
    public string Uid { get; }
    public string PodDir { get; }
    public string QosClass { get; }
    /// <summary>The non-root uid and gid of the pod's containers that name none, and its volumes' owner.</summary>
    private static PodUser User => PodUser.Default;

    private string ContainerIdFor(int index) => $"{Uid.Replace("-", "")}{index:x4}";

    public void Start() => _lifecycle = Task.Run(RunAsync);

    private CancellationToken StopToken => _stopping.Token;

    private async Task RunAsync()
    {
        try
        {
            StopToken.ThrowIfCancellationRequested();
            if (!Schedule()) return;
            // The deadline counts from startTime, so it also ends a pod stuck waiting for volumes or images.
            StartDeadlineTimer();
            if (!await SetUpVolumesAsync()) return;
            foreach (var init in _initContainers)
            {
                await RunContainerAsync(init);
                if (init.ExitCode != 0) return;
            }
            await Task.WhenAll(_containers.Select(RunContainerAsync));
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            // The pod is being killed or hit its deadline.
        }
        catch (Exception exception)
        {
            // A spec the runtime cannot act on must not take the node down: report it on the pod and stop there.
            lock (_lock)
            {
                foreach (var container in _initContainers.Concat(_containers).Where(c => !c.HasStarted))
                {
                    container.WaitingReason = "RunContainerError";
                    container.WaitingMessage = exception.Message;
                }
            }
            Event("Warning", "Failed", $"Error: {exception.Message}");
        }
        finally
        {
            Publish();
        }
    }

    private bool Schedule()
    {
        // A pod created with spec.nodeName bypasses the scheduler, as in Kubernetes: it runs if it names this node,
        // and nothing runs it otherwise.
        if (!string.IsNullOrEmpty(Pod.Spec?.NodeName))
        {
            if (Pod.Spec.NodeName != _env.Node.NodeName) return false;
            lock (_lock)
            {
                _scheduled = true;
                _startTime = DateTime.UtcNow;
            }
            Publish();
            return true;
        }
        var fit = NodeFit.Evaluate(Pod, _env.Node);
        if (!fit.Fits)
        {
            lock (_lock) _unschedulableMessage = fit.Message;
            Publish();
            Event("Warning", "FailedScheduling", fit.Message!);
            return false;
        }
        if (!_env.Host.BindPod(Namespace, Name, Uid, _env.Node.NodeName)) return false;
        lock (_lock)
        {
            _scheduled = true;
            _startTime = DateTime.UtcNow;
        }
        Event("Normal", "Scheduled", $"Successfully assigned {Namespace}/{Name} to {_env.Node.NodeName}");
        Publish();
        return true;
    }

    private async Task<bool> SetUpVolumesAsync()
    {
        while (true)
        {
            // Taken before looking, so that a Secret created between the look and the wait is not missed.
            var changed = _env.Host.NextConfigChange();
            // Only the runtime enters the pod's directory (its logs, hosts file, layers, volumes); volumes are bound by root.
            if (_env.RuntimeIsRoot) FileOwnership.MakePrivate(PodDir);
            var setup = PodVolumes.Prepare(Pod, _env.Host, PodDir, _env.Node.StateDir, VolumeOwner());
            if (setup.HostPaths is { } paths)
            {
                lock (_lock) _volumePaths = paths;
                return true;
            }
            // Kubelet repeats FailedMount while it retries; one event per distinct message keeps the store quiet.
            EventOnce("Warning", "FailedMount", setup.Error!);
            Publish();
            await WaitForConfigChangeAsync(changed);
        }
    }

    private void StartDeadlineTimer()
    {
        if (Pod.Spec?.ActiveDeadlineSeconds is not { } seconds) return;
        DateTime start;
        lock (_lock) start = _startTime ?? DateTime.UtcNow;
        // Clamped so that an absurd deadline cannot overflow the timer; 30 days is "never" for a CI pod.
        var remaining = start + TimeSpan.FromSeconds(Math.Clamp(seconds, 0, 30 * 86_400)) - DateTime.UtcNow;
        _ = Task.Run(async () =>
        {
            try
            {
                if (remaining > TimeSpan.Zero) await Task.Delay(remaining, StopToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            lock (_lock)
            {
                if (IsFinished()) return;
                _deadlineExceeded = true;
            }
            Event("Normal", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline");
            await StopProcessesAsync(GracePeriod());
            Publish();
        });
    }

    private long GracePeriod() => Math.Max(0, Pod.Spec?.TerminationGracePeriodSeconds ?? 30);

    private async Task RunContainerAsync(LocalContainer container)
    {
        // As kubelet: the image first (its Env is the base of the container's), then the environment.
        var image = await PullImageAsync(container);
        lock (_lock) container.Image = image;
        // Who it runs as is decided before anything else about it: a refusal never falls back to another user.
        if (Identity(container, image).Refusal is { } refusal)
        {
            SetWaiting(container, "CreateContainerConfigError", refusal);
            Event("Warning", "Failed", $"Error: {refusal}", container);
            Publish();
            await Task.Delay(Timeout.Infinite, StopToken);
        }
        var environment = await ResolveEnvironmentAsync(container, image);

        if (_env.Sandbox == SandboxKind.None)
        {
            lock (_lock)
            {
                container.WaitingReason = "RunContainerError";
                container.WaitingMessage = SandboxCommand.InstallHint;
            }
            Event("Warning", "Failed", $"Error: {SandboxCommand.InstallHint}", container);
            Publish();
            await Task.Delay(Timeout.Infinite, StopToken);
        }

        // restartPolicy Always restarts every exit, OnFailure a non-zero one (init containers: a non-zero one under either).
        while (await RunOnceAsync(container, environment) is { } exitCode && ShouldRestart(container, exitCode))
        {
            TimeSpan backoff;
            lock (_lock)
            {
                if (_stopRequested) return;
                backoff = container.PrepareRestart(Name);
            }
            Event("Warning", "BackOff", $"Back-off restarting failed container {container.Name} in pod {Name}", container);
            Publish();
            await Task.Delay(backoff, StopToken);
        }
    }

    private bool ShouldRestart(LocalContainer container, int exitCode) => (Pod.Spec?.RestartPolicy ?? "Always") switch
    {
        "Always" => exitCode != 0 || !container.IsInit,
        "OnFailure" => exitCode != 0,
        _ => false,
    };

    /// <summary>Starts the container once and waits for it; returns its exit code, or null when it could not start.</summary>
    private async Task<int?> RunOnceAsync(LocalContainer container, IReadOnlyDictionary<string, string> environment)
    {
        SandboxSpec sandbox;
        ContainerLog log;
        Process process;
        try
        {
            sandbox = BuildSandbox(container, environment);
            log = new ContainerLog(Path.Combine(PodDir, "logs", NodePaths.SafeSegment(container.Name), $"{container.RestartCount}.log"));
            process = await _env.Spawner.StartAsync(StartInfo(SandboxCommand.Build(_env.Sandbox, sandbox), RootSplit(environment).Safe));
            Event("Normal", "Created", $"Created container {container.Name}", container);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            lock (_lock)
            {
                container.WaitingReason = "RunContainerError";
                container.WaitingMessage = exception.Message;
            }
            Event("Warning", "Failed", $"Error: {exception.Message}", container);
            Publish();
            await Task.Delay(Timeout.Infinite, StopToken);
            return null;
        }

        bool killNow;
        lock (_lock)
        {
            container.Process = process;
            container.PreviousLog = container.Log;
            container.Log = log;
            container.Sandbox = sandbox;
            container.Environment = environment;
            container.StartedAt = DateTime.UtcNow;
            // Set with StartedAt, so that no status reports the container running before its postStart hook ends.
            container.InPostStart = container.Spec.Lifecycle?.PostStart is not null;
            killNow = _stopRequested;
        }
        if (killNow) _ = HostProcesses.KillSandboxAsync(process);
        // Stdin stays open (never written) for stdin: true, like a container nobody has attached to; else EOF.
        if (container.Spec.Stdin != true) process.StandardInput.Close();
        Event("Normal", "Started", $"Started container {container.Name}", container);
        Publish();

        var stdout = PumpAsync(process.StandardOutput.BaseStream, "stdout", log);
        var stderr = PumpAsync(process.StandardError.BaseStream, "stderr", log);
        await RunPostStartAsync(container);
        await process.WaitForExitAsync(CancellationToken.None);
        await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(2)));
        List<Process> execs;
        lock (_lock)
        {
            container.ExitCode = process.ExitCode;
            container.FinishedAt = DateTime.UtcNow;
            execs = [.. container.Execs];
        }
        // Exec'd processes live in the container: they end with it.
        foreach (var exec in execs) _ = KillExecAsync(exec);
        // Terminated is reported before followers of the log finish, so a client that saw the end sees the status.
        Publish();
        log.Complete();
        container.Exited.TrySetResult();
        return process.ExitCode;
    }

    private async Task<IReadOnlyDictionary<string, string>> ResolveEnvironmentAsync(LocalContainer container, LocalImage? image)
    {
        while (true)
        {
            var changed = _env.Host.NextConfigChange();
            var result = ContainerEnvironment.Resolve(Pod, container.Spec, _env.Host, Identity(container, image).Uid,
                image is null ? null : ImageRules.Environment(image.Config));
            if (result.Variables is { } variables) return variables;
            bool newError;
            lock (_lock)
            {
                newError = container.WaitingReason != "CreateContainerConfigError" || container.WaitingMessage != result.Error;
                container.WaitingReason = "CreateContainerConfigError";
                container.WaitingMessage = result.Error;
            }
            if (newError) Event("Warning", "Failed", $"Error: {result.Error}", container);
            Publish();
            await WaitForConfigChangeAsync(changed);
        }
    }

    // WaitAsync drops its continuation from the shared task when it times out, so a pod waiting for hours adds none.
    private async Task WaitForConfigChangeAsync(Task changed)
    {
        try
        {
            await changed.WaitAsync(_env.ConfigRetryInterval, StopToken);
        }
        catch (TimeoutException)
        {
            // Look again untold: a hostPath may have appeared.
        }
    }

    public static bool GlobMatches(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$");

    private long? RunAsUser(LocalContainer container) => container.Spec.SecurityContext?.RunAsUser ?? Pod.Spec?.SecurityContext?.RunAsUser;

    private long? RunAsGroup(LocalContainer container) => container.Spec.SecurityContext?.RunAsGroup ?? Pod.Spec?.SecurityContext?.RunAsGroup;

    /// <summary>The owner of the pod's volumes when the runtime can chown (as root): the pod's runAsUser or the default user, and its volume group.</summary>
    private VolumeOwner? VolumeOwner()
    {
        if (!_env.RuntimeIsRoot) return null;
        var fsGroup = Pod.Spec?.SecurityContext?.FsGroup;
        return new VolumeOwner(Pod.Spec?.SecurityContext?.RunAsUser ?? User.Uid, ContainerIdentity.VolumeGroup(fsGroup, User), fsGroup is not null);
    }

    /// <summary>Who the container runs as (<see cref="ContainerIdentity"/>); the image's User is looked up in its passwd and group.</summary>
    private IdentityDecision Identity(LocalContainer container, LocalImage? image)
    {
        (long, long)? imageUser = null;
        if (image is not null)
        {
            var (uid, gid, error) = ImageRules.User(image.Config.User, ReadImageFile(image, "etc/passwd"), ReadImageFile(image, "etc/group"));
            if (error is not null && RunAsUser(container) is null) throw new InvalidOperationException(error);
            if (uid is { } imageUid) imageUser = (imageUid, gid ?? 0);
        }
        var request = new IdentityRequest
        {
            RunAsUser = RunAsUser(container),
            RunAsGroup = RunAsGroup(container),
            RunAsNonRoot = container.Spec.SecurityContext?.RunAsNonRoot ?? Pod.Spec?.SecurityContext?.RunAsNonRoot,
            FsGroup = Pod.Spec?.SecurityContext?.FsGroup,
            SupplementalGroups = [.. (Pod.Spec?.SecurityContext?.SupplementalGroups ?? []).OfType<long>()],
            ImageUser = imageUser,
        };
        return ContainerIdentity.Decide(request, User, _env.Node.AllowRootContainers, PodLabel, container.Name);
    }

    private static string? ReadImageFile(LocalImage image, string relative)
    {
        // Never through a link (of the file or a parent): the image's tree is untrusted and a link may point anywhere on the host.
        var path = image.RootFs;
        foreach (var part in relative.Split('/'))
        {
            path = Path.Combine(path, part);
            if (new FileInfo(path).LinkTarget is not null) return null;
        }
        return File.Exists(path) && new FileInfo(path).Length < 1 << 20 ? File.ReadAllText(path) : null;
    }

    private SandboxSpec BuildSandbox(LocalContainer container, IReadOnlyDictionary<string, string> environment)
    {
        IReadOnlyDictionary<string, string> volumes;
        LocalImage? image;
        lock (_lock)
        {
            volumes = _volumePaths ?? new Dictionary<string, string>();
            image = container.Image;
        }
        // Mount paths follow the links of the container's root: the image's tree, or the host's.
        Func<string, string?> linkTarget = image is null
            ? path => new FileInfo(path).LinkTarget
            : path => new FileInfo(image.RootFs + path).LinkTarget;
        var mounts = new List<SandboxMount>();
        foreach (var mount in container.Spec.VolumeMounts ?? [])
        {
            if (!volumes.TryGetValue(mount.Name, out var hostPath)) continue;
            if (!string.IsNullOrEmpty(mount.SubPath))
            {
                if (!NodePaths.IsContainedRelativePath(mount.SubPath))
                {
                    throw new ArgumentException($"subPath \"{mount.SubPath}\" of volume mount \"{mount.Name}\" must be relative and may not contain '..'");
                }
                var volumeRoot = hostPath;
                hostPath = Path.Combine(hostPath, mount.SubPath);
                if (!File.Exists(hostPath) && !Directory.Exists(hostPath)) CreateSubPath(volumeRoot, mount.SubPath, mount.Name);
            }
            var containerPath = SandboxCommand.ResolveLinks(mount.MountPath, linkTarget);
            if (image is not null) EnsureNoLinks(image, containerPath);
            mounts.Add(new SandboxMount(hostPath, containerPath, mount.ReadOnlyProperty == true, File.Exists(hostPath)));
        }
        var hostname = Name.Length > 63 ? Name[..63] : Name;
        var identity = Identity(container, image);
        var spec = new SandboxSpec
        {
            Hostname = hostname,
            Mounts = mounts,
            Command = Command(container, environment, image),
            WorkingDir = image is null ? container.Spec.WorkingDir : ResolveInImage(image, container.Spec.WorkingDir ?? image.Config.WorkingDir),
            RunAsUser = identity.Uid,
            RunAsGroup = identity.Gid,
            SupplementalGroups = identity.SupplementalGroups,
            RuntimeIsRoot = _env.RuntimeIsRoot,
            DeferredEnvironment = RootSplit(environment).Deferred,
        };
        if (image is not null)
        {
            // The pod's /etc/hosts and /etc/resolv.conf, not the image's.
            var (hosts, resolv) = WritePodNetworkFiles();
            mounts.Add(new SandboxMount(hosts, ResolveInImage(image, "/etc/hosts")!, false, true));
            mounts.Add(new SandboxMount(resolv, ResolveInImage(image, "/etc/resolv.conf")!, false, true));
            return spec with { Image = ContainerRoot(container, image) };
        }
        if (PodHostsFile.Applies(Pod, mounts))
        {
            mounts.Add(new SandboxMount(HostsFile(hostname),
                SandboxCommand.ResolveLinks(PodHostsFile.ContainerPath, linkTarget), ReadOnly: false, IsFile: true));
        }
        return spec with
        {
            HostRoot = _env.Sandbox == SandboxKind.Bubblewrap ? HostRootEntry.Read() : null,
            // One pod may not read another's volumes, Secrets or memory volumes, nor the API's token.
            HiddenDirectories = HiddenDirectories(mounts),
            HiddenFiles = _env.Node.PrivateFiles.Where(File.Exists).Where(f => !IsUnder(f, _env.Node.StateDir)).ToList(),
        };
    }

    /// <summary>
    /// Creates a missing subPath. In an emptyDir owned by the pod, each new directory is the pod's too (as the volume's
    /// root), so that the container can write where it mounted it; links on the way (the pod may have made them) are refused.
    /// </summary>
    private void CreateSubPath(string volumeRoot, string subPath, string volumeName)
    {
        var owner = Pod.Spec?.Volumes?.FirstOrDefault(v => v.Name == volumeName)?.EmptyDir is not null ? VolumeOwner() : null;
        var path = volumeRoot;
        foreach (var part in subPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path = Path.Combine(path, part);
            if (new FileInfo(path).LinkTarget is not null)
            {
                throw new InvalidOperationException($"subPath \"{subPath}\" of volume mount \"{volumeName}\" goes through a symbolic link");
            }
            if (Directory.Exists(path)) continue;
            Directory.CreateDirectory(path);
            if (owner is null) continue;
            FileOwnership.Change(path, owner.Uid, owner.Gid);
            FileOwnership.SetMode(path, FileOwnership.GetMode(volumeRoot));
        }
    }

    private static string? ResolveInImage(LocalImage image, string? containerPath)
    {
        if (string.IsNullOrEmpty(containerPath)) return containerPath;
        var resolved = SandboxCommand.ResolveLinks(containerPath, path => new FileInfo(image.RootFs + path).LinkTarget);
        EnsureNoLinks(image, resolved);
        return resolved;
    }

    /// <summary>
    /// Mount points are made in the container's root before it is entered, where a link of the (untrusted) image would be
    /// followed on the host: a path that still has a link after resolving (a loop, too many hops) is refused.
    /// </summary>
    private static void EnsureNoLinks(LocalImage image, string containerPath)
    {
        var path = image.RootFs;
        foreach (var part in containerPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path = Path.Combine(path, part);
            if (new FileInfo(path).LinkTarget is not null || part == "..")
            {
                throw new InvalidOperationException($"the path {containerPath} goes through a symbolic link of the image that cannot be resolved");
            }
        }
    }

    private static List<string> Command(LocalContainer container, IReadOnlyDictionary<string, string> environment, LocalImage? image)
    {
        // Kubernetes: command replaces the entrypoint, args the cmd. A host "image" has no entrypoint and /bin/sh as cmd.
        var config = image?.Config ?? new ImageConfig([], ["/bin/sh"], [], null, null);
        var command = ImageRules.Command(container.Spec.Command?.ToList(), container.Spec.Args?.ToList(), config)
            .Select(word => ContainerEnvironment.Expand(word, environment)).ToList();
        return command.Count > 0 ? command : throw new InvalidOperationException("no command specified: the image has no entrypoint or cmd and the container no command");
    }

    /// <summary>A fresh writable layer for this run of the container, over the image's shared tree.</summary>
    private ImageRoot ContainerRoot(LocalContainer container, LocalImage image)
    {
        var dir = Path.Combine(PodDir, "rootfs", NodePaths.SafeSegment(container.Name), container.RestartCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var root = new ImageRoot(image.RootFs, Path.Combine(dir, "upper"), Path.Combine(dir, "work"), Path.Combine(dir, "merged"),
            HasShell: InImage(image, "bin/sh"),
            Gateway: ImageRoot.FindGateway(Directory.Exists),
            EnvProgram: new[] { "/usr/bin/env", "/bin/env" }.FirstOrDefault(path => InImage(image, path.TrimStart('/'))));
        foreach (var path in new[] { root.Upper, root.Work, root.Merged }) Directory.CreateDirectory(path);
        return root;
    }

    private static bool InImage(LocalImage image, string relativePath) =>
        File.Exists(Path.Combine(image.RootFs, relativePath)) || new FileInfo(Path.Combine(image.RootFs, relativePath)).LinkTarget is not null;

    /// <summary>The pod's hosts file (localhost, the pod's name, spec.hostAliases) and the node's resolver config.</summary>
    private (string Hosts, string Resolv) WritePodNetworkFiles()
    {
        var dir = Directory.CreateDirectory(Path.Combine(PodDir, "etc")).FullName;
        var resolv = Path.Combine(dir, "resolv.conf");
        lock (_lock)
        {
            // One hosts file per pod, shared with its containers on the host root (PodHostsFile.Ensure).
            var hosts = HostsFile(Name.Length > 63 ? Name[..63] : Name);
            if (!File.Exists(resolv))
            {
                File.WriteAllText(resolv, File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "nameserver 127.0.0.53\n");
            }
            return (hosts, resolv);
        }
    }

    /// <summary>
    /// The pod's hosts file. A job may add names to it (a container restart keeps them): with the runtime as root it belongs
    /// to the pod's uid and volume group, mode 0664, so the pod's non-root containers can.
    /// </summary>
    private string HostsFile(string hostname)
    {
        var path = PodHostsFile.Ensure(PodDir, Pod, hostname);
        if (VolumeOwner() is { } owner)
        {
            FileOwnership.Change(path, owner.Uid, owner.Gid);
            FileOwnership.SetMode(path, (UnixFileMode)0x1B4); // 0664
        }
        return path;
    }

    private List<string> HiddenDirectories(IReadOnlyList<SandboxMount> mounts)
    {
        var hidden = new List<string>();
        foreach (var directory in new[] { _env.Node.StateDir, PodVolumes.MemoryRoot })
        {
            // A container path inside a hidden directory would vanish under the tmpfs (the unshare sandbox hides last).
            if (Directory.Exists(directory) && !mounts.Any(m => IsUnder(m.ContainerPath, directory)))
            {
                hidden.Add(directory);
            }
        }
        return hidden;
    }

    private static bool IsUnder(string path, string directory) =>
        directory.Length > 0 && (path == directory || path.StartsWith(directory.TrimEnd('/') + "/", StringComparison.Ordinal));

    /// <summary>
    /// The container's environment as the runtime's root programs may see it, and the loader variables they must not
    /// (<see cref="LoaderVariables"/>), which only the command's last step sets. A runtime that is not root starts no
    /// program with more privilege than the container's: nothing is deferred.
    /// </summary>
    private SplitEnvironment RootSplit(IReadOnlyDictionary<string, string> environment) =>
        _env.RuntimeIsRoot ? LoaderVariables.Split(environment) : SplitEnvironment.Unsplit(environment);

    /// <param name="environment">The process env of <paramref name="argv"/>'s first program: never the container's
    /// loader variables where it runs as root (<see cref="RootSplit"/>).</param>
    private static ProcessStartInfo StartInfo(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment)
    {
        // Env values (secrets among them) travel in the process environment, never in argv where ps shows them.
        var startInfo = new ProcessStartInfo(HostProcesses.ResolveExecutable(argv[0]))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var word in argv.Skip(1)) startInfo.ArgumentList.Add(word);
        startInfo.Environment.Clear();
        foreach (var (key, value) in environment) startInfo.Environment[key] = value;
        return startInfo;
    }

    private static async Task PumpAsync(Stream source, string stream, ContainerLog log)
    {
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0) log.Append(stream, buffer.AsSpan(0, read), DateTimeOffset.UtcNow);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            // The pipe closed with the process.
        }
    }

}
