using System.Buffers;
using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

// A pod's exec sessions and container logs.
internal sealed partial class LocalPod
{
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
        return await ExecInAsync(container, request.Command, request.Tty, streams, cancellationToken);
    }

    /// <summary>Runs a command in the running container: exec sessions and the exec lifecycle hooks share this path.</summary>
    private async Task<int> ExecInAsync(LocalContainer container, IReadOnlyList<string> command, bool tty, ExecStreams streams, CancellationToken cancellationToken)
    {
        SandboxSpec sandbox;
        IReadOnlyDictionary<string, string> environment;
        Process? outer;
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
            sandbox = container.Sandbox with { Command = command };
            environment = container.Environment;
            outer = container.Process;
        }

        // As root, the exec joins the running container (so a detached child survives it): started straight in it by the
        // joiner (when on), else through the join program, else nsenter. Otherwise it gets a sandbox of its own with the
        // same mounts, where background processes end with the exec.
        var joiner = _env.Joiner is { Usable: true } usable ? usable : null;
        var joinProgram = _env.JoinProgram;
        var inside = outer is not null && HostProcesses.PidOf(outer) is { } outerPid && _env.RuntimeIsRoot
                     && (joiner is not null || joinProgram is not null || NsenterAvailable)
            ? await InsideContainerAsync(container, outer, outerPid)
            : null;
        Process? process = null;
        var killNow = false;
        if (inside is not null && joiner is not null)
        {
            // Counted among the pod's processes on the joiner's thread, the moment it runs.
            var started = await joiner.StartAsync(JoinTargetOf(inside.Pid, sandbox, environment), JoinStartInfo(command, environment),
                running => killNow = Register(container, running, direct: true, joined: false));
            if (started is { Process: null, Error: { } error })
            {
                await ReportStartFailureAsync(error, streams.Stderr ?? (tty ? streams.Stdout : null), cancellationToken);
                return started.ExitCode;
            }
            process = started?.Process;
        }
        var throughJoinProgram = false;
        if (process is null)
        {
            // Either way the command is the join program's or nsenter's child: the process tree the kill walks is the same.
            throughJoinProgram = inside is not null && joinProgram is not null;
            var joined = throughJoinProgram || (inside is not null && NsenterAvailable);
            IReadOnlyList<string> argv;
            try
            {
                argv = throughJoinProgram ? SandboxCommand.BuildJoinProgram(joinProgram!, inside!, sandbox)
                    : joined ? SandboxCommand.BuildJoin(inside!.Pid, sandbox, NsenterSetsWorkingDir.Value)
                    : SandboxCommand.Build(_env.Sandbox, sandbox);
            }
            catch (InvalidOperationException refused) when (joined && !throughJoinProgram)
            {
                // An image with no env program cannot take the loader variables: the exec is refused, none is dropped.
                throw new PodRuntimeException(400, "BadRequest", $"cannot exec in container {container.Name} of pod {Name}: {refused.Message}");
            }
            // The join program gets the loader variables under a reserved prefix and sets them after the identity change;
            // the other ways get them in argv (sandbox.DeferredEnvironment).
            var split = RootSplit(environment);
            process = await _env.Spawner.StartAsync(StartInfo(argv, throughJoinProgram ? LoaderVariables.ForJoinProgram(split) : split.Safe));
            killNow = Register(container, process, direct: false, joined);
        }
        if (killNow) _ = KillExecAsync(process);
        using var stopCopy = new CancellationTokenSource();
        try
        {
            var stdin = streams.Stdin is { } input ? CopyStdinAsync(input, process, stopCopy.Token) : CloseStdin(process);
            // A terminal has one output: with tty and no stderr stream, stderr goes to stdout as it would on a pty; the two
            // copies then take turns on it.
            var stderrTarget = streams.Stderr ?? (tty ? streams.Stdout : null);
            using var outputGate = ReferenceEquals(stderrTarget, streams.Stdout) && stderrTarget is not null ? new SemaphoreSlim(1, 1) : null;
            var stdout = new OutputCopy(process.StandardOutput.BaseStream, streams.Stdout, outputGate);
            var stderr = new OutputCopy(process.StandardError.BaseStream, stderrTarget, outputGate);
            var copies = Task.WhenAll(stdout.RunAsync(stopCopy.Token), stderr.RunAsync(stopCopy.Token));
            await using (cancellationToken.Register(() => _ = KillExecAsync(process)))
            {
                await process.WaitForExitAsync(CancellationToken.None);
                await AfterExitAsync(copies, stdout, stderr, cancellationToken);
            }
            stopCopy.Cancel();
            // The copies end with the cancellation: nothing is written into the output streams once this returns.
            await copies;
            cancellationToken.ThrowIfCancellationRequested();
            if (throughJoinProgram && process.ExitCode == SandboxCommand.JoinRefused && JoinTargetIsGone(container, inside!))
            {
                // The join program refused a process that is no longer the container's: the exec never started (a command
                // of its own that exits 125 in a container still running keeps its code).
                throw new PodRuntimeException(400, "BadRequest", $"container {container.Name} is not running in pod {Name}");
            }
            return process.ExitCode;
        }
        finally
        {
            lock (_lock)
            {
                container.Execs.Remove(process);
                _joinedExecs.Remove(process);
                _directExecs.Remove(process);
            }
            process.Dispose();
        }
    }

    /// <summary>Counts an exec's process among the pod's; true when the pod is stopping or the container has ended (kill it now).</summary>
    private bool Register(LocalContainer container, Process process, bool direct, bool joined)
    {
        lock (_lock)
        {
            container.Execs.Add(process);
            if (direct) _directExecs.Add(process);
            else if (joined) _joinedExecs.Add(process);
            return _stopRequested || container.IsTerminated;
        }
    }

    /// <summary>
    /// Whether the process an exec joined is not the container's any more (ended, or its pid another process's): it is
    /// then forgotten, so that an exec into the container's next run looks for its process again.
    /// </summary>
    private bool JoinTargetIsGone(LocalContainer container, ContainerProcess target)
    {
        if (HostProcesses.StartTime(target.Pid) == target.StartTime && !HostProcesses.IsZombie(target.Pid)) return false;
        lock (_lock)
        {
            if (container.JoinProcess == target) container.JoinProcess = null;
        }
        return true;
    }

    /// <summary>The container's user, groups and working directory, as its own process has them, and its PATH.</summary>
    private static JoinTarget JoinTargetOf(int joinPid, SandboxSpec sandbox, IReadOnlyDictionary<string, string> environment) =>
        new(joinPid, sandbox.RunAsUser ?? 0, sandbox.RunAsGroup ?? 0, sandbox.SupplementalGroups,
            string.IsNullOrEmpty(sandbox.WorkingDir) ? "/" : sandbox.WorkingDir,
            environment.TryGetValue("PATH", out var path) ? path : ContainerEnvironment.DefaultPath);

    private static ProcessStartInfo JoinStartInfo(IReadOnlyList<string> command, IReadOnlyDictionary<string, string> environment)
    {
        var startInfo = StartInfo(command, environment);
        // Found on the container's PATH, in the container, by the joiner; not on the runtime's.
        startInfo.FileName = command[0];
        return startInfo;
    }

    /// <summary>A command that could not start: its message on stderr (as a shell would print it), then the exit code.</summary>
    private static async Task ReportStartFailureAsync(string error, Stream? stderr, CancellationToken cancellationToken)
    {
        if (stderr is null) return;
        try
        {
            await stderr.WriteAsync(System.Text.Encoding.UTF8.GetBytes(error + "\n"), cancellationToken);
            await stderr.FlushAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            // The client went away.
        }
    }

    /// <summary>
    /// Kills an exec: one the joiner started is the command itself, and goes with everything below it at once; one
    /// started through the join program, nsenter or a sandbox of its own is killed from the inside out (<see cref="HostProcesses.KillSandboxAsync"/>).
    /// </summary>
    private Task KillExecAsync(Process process)
    {
        bool direct;
        lock (_lock) direct = _directExecs.Contains(process);
        if (!direct) return HostProcesses.KillSandboxAsync(process);
        HostProcesses.KillTree(process);
        return HostProcesses.WaitExitAsync(process);
    }

    // Execs that joined their container: the command is the join program's or nsenter's child (depth 1), not below a sandbox init.

    private static readonly bool NsenterAvailable = File.Exists(HostProcesses.ResolveExecutable("nsenter"));

    // util-linux 2.38 and later: nsenter --wdns, which saves a shell per exec. Asked once, on the first exec.
    private static readonly Lazy<bool> NsenterSetsWorkingDir = new(() =>
    {
        try
        {
            using var help = Process.Start(new ProcessStartInfo(HostProcesses.ResolveExecutable("nsenter"), ["--help"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var text = help.StandardOutput.ReadToEnd();
            return help.WaitForExit(5000) && text.Contains("--wdns", StringComparison.Ordinal);
        }
        catch (Exception exception) when (exception is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return false;
        }
    });

    // A container that has just started may not have its root ready yet: wait for it (a sandbox takes a few ms to
    // build, seconds on a loaded machine), looking again at growing intervals, then null. The answer is kept for the
    // container's run: its command's process lives as long as the container does.
    private async Task<ContainerProcess?> InsideContainerAsync(LocalContainer container, Process outer, int outerPid)
    {
        lock (_lock)
        {
            if (container.Process == outer && container.JoinProcess is { } known) return known;
        }
        var delay = TimeSpan.FromMilliseconds(1);
        for (var waited = TimeSpan.Zero; waited < TimeSpan.FromSeconds(10); waited += delay)
        {
            if (HostProcesses.InsideContainer(outerPid, _env.Sandbox) is { } found)
            {
                lock (_lock)
                {
                    if (container.Process == outer) container.JoinProcess = found;
                }
                return found;
            }
            if (HostProcesses.HasExited(outer)) return null;
            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
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

    /// <summary>
    /// Once the command has exited, its output is still read to the end of its pipes, however long the client takes to
    /// take it; only a pipe that stays open and quiet for <see cref="ExitGrace"/> (a background process of the command
    /// holds it) ends the copies, and so does the exec's cancellation (the client is gone).
    /// </summary>
    private static async Task AfterExitAsync(Task copies, OutputCopy stdout, OutputCopy stderr, CancellationToken cancellationToken)
    {
        var reads = (stdout.Reads, stderr.Reads);
        while (await Task.WhenAny(copies, Task.Delay(ExitGrace, CancellationToken.None)) != copies)
        {
            if (cancellationToken.IsCancellationRequested) return;
            var now = (stdout.Reads, stderr.Reads);
            if ((stdout.WaitsForInput && now.Item1 == reads.Item1) || (stderr.WaitsForInput && now.Item2 == reads.Item2)) return;
            reads = now;
        }
    }

    private static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Copies one of the process's pipes to its exec stream in reads of up to <see cref="ReadBytes"/> (a pipe holds
    /// 64 KiB): straight into the stream's own buffers when it takes them (<see cref="IFillableOutput"/>), else through one
    /// pooled buffer. A stream that is not wanted is still read, so the command never blocks on it.
    /// </summary>
    private sealed class OutputCopy(Stream source, Stream? target, SemaphoreSlim? gate)
    {
        public const int ReadBytes = 64 * 1024;
        // A fillable output's buffer is read into until less than this is left of it (so a buffer is mostly used).
        private const int MinimumRead = 4 * 1024;
        private int _reads;
        private volatile bool _waitsForInput;

        /// <summary>Reads finished so far; with <see cref="WaitsForInput"/>, tells a quiet pipe from a slow client.</summary>
        public int Reads => Volatile.Read(ref _reads);

        /// <summary>Whether the copy waits for the process (a read), not for the client (a write).</summary>
        public bool WaitsForInput => _waitsForInput;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            byte[]? buffer = null;
            try
            {
                if (gate is null && target is IFillableOutput fillable)
                {
                    int filled;
                    while ((filled = await CountedAsync(source.ReadAsync(fillable.GetMemory(MinimumRead), cancellationToken))) > 0)
                    {
                        await fillable.CommitAsync(filled, cancellationToken);
                    }

                    return;
                }

                buffer = ArrayPool<byte>.Shared.Rent(ReadBytes);
                int read;
                while ((read = await CountedAsync(source.ReadAsync(buffer.AsMemory(0, ReadBytes), cancellationToken))) > 0)
                {
                    if (target is null) continue;
                    if (gate is not null) await gate.WaitAsync(cancellationToken);
                    try
                    {
                        await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                        await target.FlushAsync(cancellationToken);
                    }
                    finally
                    {
                        gate?.Release();
                    }
                }
            }
            catch (Exception exception) when (exception is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // Either side closed, or the copy was stopped.
            }
            finally
            {
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private async ValueTask<int> CountedAsync(ValueTask<int> read)
        {
            _waitsForInput = true;
            try
            {
                return await read;
            }
            finally
            {
                _waitsForInput = false;
                Interlocked.Increment(ref _reads);
            }
        }
    }
}
