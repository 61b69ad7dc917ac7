using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>Shared by every pod of one runtime.</summary>
internal sealed record PodEnvironment(NodeSettings Node, IPodHost Host, ProcessSpawner Spawner, SandboxKind Sandbox, bool RuntimeIsRoot)
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);
}

/// <summary>
/// A pod on the node: schedules it, sets up its volumes, runs its init containers then its containers, and reports
/// every change of its status. All waits are async (process exits, pipe reads, 1 s retry timers).
/// </summary>
internal sealed class LocalPod
{
    private readonly PodEnvironment _env;
    private readonly Lock _lock = new();
    private readonly Lock _publishLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<LocalContainer> _initContainers;
    private readonly List<LocalContainer> _containers;
    private readonly Dictionary<string, (string Status, string? Reason, string? Message, DateTime Since)> _conditions = new();
    private readonly HashSet<string> _recordedEvents = [];
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
            var setup = PodVolumes.Prepare(Pod, _env.Host, PodDir, _env.Node.StateDir);
            if (setup.HostPaths is { } paths)
            {
                lock (_lock) _volumePaths = paths;
                return true;
            }
            // Kubelet repeats FailedMount while it retries; one event per distinct message keeps the store quiet.
            EventOnce("Warning", "FailedMount", setup.Error!);
            Publish();
            await Task.Delay(PodEnvironment.RetryInterval, StopToken);
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
        var environment = await ResolveEnvironmentAsync(container);
        await PullImageAsync(container);

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
            process = await _env.Spawner.StartAsync(StartInfo(SandboxCommand.Build(_env.Sandbox, sandbox), environment));
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
            killNow = _stopRequested;
        }
        if (killNow) _ = HostProcesses.KillSandboxAsync(process);
        // Stdin stays open (never written) for stdin: true, like a container nobody has attached to; else EOF.
        if (container.Spec.Stdin != true) process.StandardInput.Close();
        Event("Normal", "Started", $"Started container {container.Name}", container);
        Publish();

        var stdout = PumpAsync(process.StandardOutput.BaseStream, "stdout", log);
        var stderr = PumpAsync(process.StandardError.BaseStream, "stderr", log);
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
        foreach (var exec in execs) _ = HostProcesses.KillSandboxAsync(exec);
        // Terminated is reported before followers of the log finish, so a client that saw the end sees the status.
        Publish();
        log.Complete();
        container.Exited.TrySetResult();
        return process.ExitCode;
    }

    private async Task<IReadOnlyDictionary<string, string>> ResolveEnvironmentAsync(LocalContainer container)
    {
        while (true)
        {
            var result = ContainerEnvironment.Resolve(Pod, container.Spec, _env.Host, RunAsUser(container));
            if (result.Variables is { } variables) return variables;
            bool changed;
            lock (_lock)
            {
                changed = container.WaitingReason != "CreateContainerConfigError" || container.WaitingMessage != result.Error;
                container.WaitingReason = "CreateContainerConfigError";
                container.WaitingMessage = result.Error;
            }
            if (changed) Event("Warning", "Failed", $"Error: {result.Error}", container);
            Publish();
            await Task.Delay(PodEnvironment.RetryInterval, StopToken);
        }
    }

    private async Task PullImageAsync(LocalContainer container)
    {
        var image = container.Spec.Image ?? "";
        if (!_env.Node.MissingImages.Any(pattern => GlobMatches(pattern, image)))
        {
            Event("Normal", "Pulled", $"Container image \"{image}\" already present on machine", container);
            return;
        }
        var failure = $"Failed to pull image \"{image}\": image not found on the local node";
        lock (_lock)
        {
            container.WaitingReason = "ErrImagePull";
            container.WaitingMessage = failure;
        }
        Event("Normal", "Pulling", $"Pulling image \"{image}\"", container);
        Event("Warning", "Failed", failure, container);
        Event("Warning", "Failed", "Error: ErrImagePull", container);
        Publish();
        await Task.Delay(PodEnvironment.RetryInterval, StopToken);
        lock (_lock)
        {
            container.WaitingReason = "ImagePullBackOff";
            container.WaitingMessage = $"Back-off pulling image \"{image}\"";
        }
        Event("Normal", "BackOff", $"Back-off pulling image \"{image}\"", container);
        Event("Warning", "Failed", "Error: ImagePullBackOff", container);
        Publish();
        // The node's image list does not change: the container never starts.
        await Task.Delay(Timeout.Infinite, StopToken);
    }

    public static bool GlobMatches(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$");

    private long? RunAsUser(LocalContainer container) => container.Spec.SecurityContext?.RunAsUser ?? Pod.Spec?.SecurityContext?.RunAsUser;

    private SandboxSpec BuildSandbox(LocalContainer container, IReadOnlyDictionary<string, string> environment)
    {
        IReadOnlyDictionary<string, string> volumes;
        lock (_lock) volumes = _volumePaths ?? new Dictionary<string, string>();
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
                hostPath = Path.Combine(hostPath, mount.SubPath);
                if (!File.Exists(hostPath)) Directory.CreateDirectory(hostPath);
            }
            var containerPath = SandboxCommand.ResolveLinks(mount.MountPath, path => new FileInfo(path).LinkTarget);
            mounts.Add(new SandboxMount(hostPath, containerPath, mount.ReadOnlyProperty == true, File.Exists(hostPath)));
        }
        // Kubernetes: command replaces the entrypoint, args the cmd. A host "image" has no entrypoint and /bin/sh as cmd.
        var command = (container.Spec.Command ?? []).Concat(container.Spec.Args ?? []).Select(word => ContainerEnvironment.Expand(word, environment)).ToList();
        if (container.Spec.Command is null or { Count: 0 } && container.Spec.Args is null or { Count: 0 }) command = ["/bin/sh"];
        return new SandboxSpec
        {
            Hostname = Name.Length > 63 ? Name[..63] : Name,
            Mounts = mounts,
            Command = command,
            WorkingDir = container.Spec.WorkingDir,
            RunAsUser = RunAsUser(container),
            RunAsGroup = container.Spec.SecurityContext?.RunAsGroup ?? Pod.Spec?.SecurityContext?.RunAsGroup,
            RuntimeIsRoot = _env.RuntimeIsRoot,
            HostRoot = _env.Sandbox == SandboxKind.Bubblewrap ? HostRootEntry.Read() : null,
        };
    }

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

    // ---- exec and logs ----

    public LocalContainer SelectContainer(string? name)
    {
        var all = _containers.Concat(_initContainers).ToList();
        if (string.IsNullOrEmpty(name))
        {
            if (_containers.Count == 1) return _containers[0];
            throw new PodRuntimeException(400, "BadRequest",
                $"a container name must be specified for pod {Name}, choose one of: [{string.Join(" ", _containers.Select(c => c.Name))}]"
                + (_initContainers.Count > 0 ? $" or one of the init containers: [{string.Join(" ", _initContainers.Select(c => c.Name))}]" : ""));
        }
        return all.FirstOrDefault(c => c.Name == name)
            ?? throw new PodRuntimeException(400, "BadRequest", $"container {name} is not valid for pod {Name}");
    }

    public Task StreamLogAsync(PodLogOptions options, Stream output, CancellationToken cancellationToken)
    {
        var container = SelectContainer(options.Container);
        ContainerLog? log;
        string waiting;
        lock (_lock)
        {
            log = options.Previous ? container.PreviousLog : container.Log;
            waiting = container.WaitingReason;
        }
        if (options.Previous && log is null)
        {
            throw new PodRuntimeException(400, "BadRequest", $"previous terminated container \"{container.Name}\" in pod \"{Name}\" not found");
        }
        if (log is null)
        {
            throw new PodRuntimeException(400, "BadRequest", $"container \"{container.Name}\" in pod \"{Name}\" is waiting to start: {waiting}");
        }
        return log.ServeAsync(options, DateTimeOffset.UtcNow, output, cancellationToken);
    }

    public async Task<int> ExecAsync(ExecRequest request, ExecStreams streams, CancellationToken cancellationToken)
    {
        if (request.Command.Count == 0) throw new PodRuntimeException(400, "BadRequest", "you must specify at least one command for the container");
        var container = SelectContainer(request.Container);
        SandboxSpec sandbox;
        IReadOnlyDictionary<string, string> environment;
        int? outer;
        lock (_lock)
        {
            var phase = Phase();
            if (phase is "Succeeded" or "Failed")
            {
                throw new PodRuntimeException(400, "BadRequest", $"cannot exec into a container in a completed pod; current phase is {phase}");
            }
            if (!container.IsRunning || container.Sandbox is null || container.Environment is null || _stopRequested)
            {
                throw new PodRuntimeException(400, "BadRequest", $"container {container.Name} is not running in pod {Name}");
            }
            sandbox = container.Sandbox with { Command = request.Command };
            environment = container.Environment;
            outer = container.Process is { } running ? HostProcesses.PidOf(running) : null;
        }

        // As root, the exec joins the running container (so a detached child survives it); otherwise it gets a
        // sandbox of its own with the same mounts, where background processes end with the exec.
        var inside = outer is { } outerPid && _env.RuntimeIsRoot && NsenterAvailable ? await InsideContainerAsync(outerPid) : null;
        var argv = inside is { } target ? SandboxCommand.BuildJoin(target, sandbox) : SandboxCommand.Build(_env.Sandbox, sandbox);
        var process = await _env.Spawner.StartAsync(StartInfo(argv, environment));
        bool killNow;
        lock (_lock)
        {
            container.Execs.Add(process);
            if (inside is not null) _joinedExecs.Add(process);
            killNow = _stopRequested || container.IsTerminated;
        }
        if (killNow) _ = HostProcesses.KillSandboxAsync(process);
        using var stopCopy = new CancellationTokenSource();
        try
        {
            var stdin = streams.Stdin is { } input ? CopyStdinAsync(input, process, stopCopy.Token) : CloseStdin(process);
            // A terminal has one output: with tty and no stderr stream, stderr goes to stdout as it would on a pty.
            using var outputGate = new SemaphoreSlim(1, 1);
            var stderrTarget = streams.Stderr ?? (request.Tty ? streams.Stdout : null);
            var stdout = CopyOutputAsync(process.StandardOutput.BaseStream, streams.Stdout, outputGate);
            var stderr = CopyOutputAsync(process.StandardError.BaseStream, stderrTarget, outputGate);
            await using (cancellationToken.Register(() => _ = HostProcesses.KillSandboxAsync(process)))
            {
                await process.WaitForExitAsync(CancellationToken.None);
                await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
            }
            stopCopy.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
            return process.ExitCode;
        }
        finally
        {
            lock (_lock)
            {
                container.Execs.Remove(process);
                _joinedExecs.Remove(process);
            }
            process.Dispose();
        }
    }

    // Execs that joined their container: the command is nsenter's child (depth 1), not below a sandbox init.
    private readonly HashSet<Process> _joinedExecs = [];

    private static readonly bool NsenterAvailable = File.Exists(HostProcesses.ResolveExecutable("nsenter"));

    // A container that has just started may not have entered its namespaces yet: a short wait, then null.
    private static async Task<int?> InsideContainerAsync(int outerPid)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            if (HostProcesses.InsideContainer(outerPid) is { } pid) return pid;
            await Task.Delay(50);
        }
        return null;
    }

    private static Task CloseStdin(Process process)
    {
        process.StandardInput.Close();
        return Task.CompletedTask;
    }

    private static async Task CopyStdinAsync(Stream input, Process process, CancellationToken cancellationToken)
    {
        try
        {
            await input.CopyToAsync(process.StandardInput.BaseStream, cancellationToken);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away or the command stopped reading.
        }
        finally
        {
            try { process.StandardInput.Close(); } catch (IOException) { }
        }
    }

    private static async Task CopyOutputAsync(Stream source, Stream? target, SemaphoreSlim gate)
    {
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0)
            {
                if (target is null) continue;
                await gate.WaitAsync();
                try
                {
                    await target.WriteAsync(buffer.AsMemory(0, read));
                    await target.FlushAsync();
                }
                finally
                {
                    gate.Release();
                }
            }
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            // Either side closed.
        }
    }

    // ---- killing ----

    /// <summary>SIGTERM to every process of the pod, SIGKILL after the grace period, then its node directory goes.</summary>
    public async Task KillAsync(long gracePeriodSeconds)
    {
        await StopProcessesAsync(gracePeriodSeconds);
        try
        {
            await _lifecycle.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            // Every process is already dead; a stuck status publish must not hold the deletion.
        }
        RemoveNodeState();
        Publish();
    }

    private async Task StopProcessesAsync(long gracePeriodSeconds)
    {
        List<Process> processes;
        HashSet<Process> joined;
        lock (_lock)
        {
            _stopRequested = true;
            processes = AllProcesses();
            joined = [.. _joinedExecs];
        }
        _stopping.Cancel();
        // The container's own processes: below bubblewrap's outer process and its pid-1 init (depth 2), or
        // below unshare, where the command itself is pid 1 of the namespace (depth 1).
        var commandDepth = _env.Sandbox == SandboxKind.Unshare ? 1 : 2;
        var exited = Task.WhenAll(processes.Select(HostProcesses.WaitExitAsync));
        if (gracePeriodSeconds > 0)
        {
            // A sandbox started a moment ago may not have forked its command yet: look again for new processes
            // to SIGTERM until everything exits or the grace period ends.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Min(gracePeriodSeconds, 86_400));
            var signalled = new HashSet<int>();
            while (!exited.IsCompleted && DateTime.UtcNow < deadline)
            {
                var commands = processes.SelectMany(p => HostProcesses.PidOf(p) is { } pid ? HostProcesses.Descendants(pid, joined.Contains(p) ? 1 : commandDepth) : []);
                foreach (var pid in commands.Where(signalled.Add))
                {
                    HostProcesses.Signal(pid, HostProcesses.SigTerm);
                }
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) break;
                await Task.WhenAny(exited, Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250)));
            }
        }
        // Processes may have been started while we signalled; they saw _stopRequested and were killed at birth.
        lock (_lock) processes = AllProcesses();
        var remaining = processes.Select(HostProcesses.PidOf).OfType<int>().SelectMany(pid => HostProcesses.Descendants(pid, 1)).ToList();
        await Task.WhenAll(processes.Select(HostProcesses.KillSandboxAsync));
        foreach (var pid in remaining) HostProcesses.Signal(pid, HostProcesses.SigKill);
        await HostProcesses.WaitGoneAsync(remaining, TimeSpan.FromSeconds(5));
        var started = _containers.Concat(_initContainers).Where(c => c.HasStarted).Select(c => c.Exited.Task);
        await Task.WhenAll(started).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
    }

    private List<Process> AllProcesses() =>
        _containers.Concat(_initContainers)
            .SelectMany(c => (c.Process is { } p && c.ExitCode is null ? [p] : Array.Empty<Process>()).Concat(c.Execs))
            .ToList();

    private void RemoveNodeState()
    {
        foreach (var dir in new[] { PodDir, PodVolumes.MemoryDir(Uid) })
        {
            try
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // A file held by a dying process; the directory is retried by nobody, so say nothing and move on.
            }
        }
    }

    // ---- status ----

    private bool IsFinished() => Phase() is "Succeeded" or "Failed";

    private string Phase()
    {
        if (!_scheduled) return "Pending";
        if (_deadlineExceeded) return "Failed";
        var policy = Pod.Spec?.RestartPolicy ?? "Always";
        // A failed init container fails the pod only when it will not be restarted.
        if (policy == "Never" && _initContainers.Any(c => c.ExitCode is { } code && code != 0)) return "Failed";
        if (_containers.Count > 0 && _containers.All(c => c.IsTerminated))
        {
            if (_containers.All(c => c.ExitCode == 0)) return policy == "Always" ? "Running" : "Succeeded";
            return policy == "Never" ? "Failed" : "Running";
        }
        if (_containers.Count > 0 && _containers.All(c => c.HasStarted || c.RestartCount > 0)) return "Running";
        return "Pending";
    }

    private V1PodStatus BuildStatus()
    {
        var now = DateTime.UtcNow;
        var phase = Phase();
        if (!_scheduled)
        {
            SetCondition("PodScheduled", _unschedulableMessage is null ? null : "False", "Unschedulable", _unschedulableMessage, now);
            return new V1PodStatus { Phase = phase, Conditions = Conditions(), QosClass = QosClass };
        }
        SetCondition("PodScheduled", "True", null, null, now);
        var incompleteInit = _initContainers.Where(c => c.ExitCode != 0).Select(c => c.Name).ToList();
        SetCondition("Initialized", incompleteInit.Count == 0 ? "True" : "False", incompleteInit.Count == 0 ? null : "ContainersNotInitialized",
            incompleteInit.Count == 0 ? null : $"containers with incomplete status: [{string.Join(" ", incompleteInit)}]", now);
        var unready = _containers.Where(c => !c.IsRunning).Select(c => c.Name).ToList();
        var readyReason = phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady";
        var readyStatus = unready.Count == 0 && phase == "Running" ? "True" : "False";
        var readyMessage = readyStatus == "True" || phase == "Succeeded" ? null : $"containers with unready status: [{string.Join(" ", unready)}]";
        SetCondition("ContainersReady", readyStatus, readyStatus == "True" ? null : readyReason, readyMessage, now);
        SetCondition("Ready", readyStatus, readyStatus == "True" ? null : readyReason, readyMessage, now);
        return new V1PodStatus
        {
            Phase = phase,
            Conditions = Conditions(),
            HostIP = "127.0.0.1",
            HostIPs = [new V1HostIP { Ip = "127.0.0.1" }],
            PodIP = "127.0.0.1",
            PodIPs = [new V1PodIP { Ip = "127.0.0.1" }],
            StartTime = _startTime,
            QosClass = QosClass,
            Reason = _deadlineExceeded ? "DeadlineExceeded" : null,
            Message = _deadlineExceeded ? "Pod was active on the node longer than the specified deadline" : null,
            InitContainerStatuses = _initContainers.Count > 0 ? _initContainers.Select(c => c.BuildStatus()).ToList() : null,
            ContainerStatuses = _containers.Select(c => c.BuildStatus()).ToList(),
        };
    }

    // lastTransitionTime moves only when the condition's status changes.
    private void SetCondition(string type, string? status, string? reason, string? message, DateTime now)
    {
        if (status is null) return;
        var since = _conditions.TryGetValue(type, out var previous) && previous.Status == status ? previous.Since : now;
        _conditions[type] = (status, reason, message, since);
    }

    private List<V1PodCondition> Conditions() =>
        new[] { "Initialized", "Ready", "ContainersReady", "PodScheduled" }
            .Where(_conditions.ContainsKey)
            .Select(type => _conditions[type] is var c
                ? new V1PodCondition { Type = type, Status = c.Status, Reason = c.Reason, Message = c.Message, LastTransitionTime = c.Since }
                : null!)
            .ToList();

    /// <summary>Pushes the status when it differs from the last one pushed; serialised so updates never arrive out of order.</summary>
    public void Publish()
    {
        lock (_publishLock)
        {
            V1PodStatus status;
            lock (_lock)
            {
                // Not placed on this node (bound elsewhere, or deleted before binding): nothing to report.
                if (!_scheduled && _unschedulableMessage is null) return;
                status = BuildStatus();
            }
            var json = KubernetesJson.Serialize(status);
            if (json == _lastPublished) return;
            _lastPublished = json;
            _env.Host.UpdatePodStatus(Namespace, Name, Uid, status);
        }
    }

    public V1PodStatus CurrentStatus()
    {
        lock (_lock) return BuildStatus();
    }

    private void Event(string type, string reason, string message, LocalContainer? container = null)
    {
        var reference = new V1ObjectReference
        {
            ApiVersion = "v1",
            Kind = "Pod",
            NamespaceProperty = Namespace,
            Name = Name,
            Uid = Uid,
            FieldPath = container is null ? null : $"spec.{(container.IsInit ? "initContainers" : "containers")}{{{container.Name}}}",
        };
        _env.Host.RecordEvent(reference, type, reason, message);
    }

    private void EventOnce(string type, string reason, string message)
    {
        lock (_lock)
        {
            if (!_recordedEvents.Add($"{reason}\n{message}")) return;
        }
        Event(type, reason, message);
    }
}
