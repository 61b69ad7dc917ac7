using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// Starts every sandbox process from one long-lived thread. The sandboxes use PR_SET_PDEATHSIG, whose "parent" is
/// the thread that forked: starting them from pool threads (which retire) would kill containers at random.
/// </summary>
internal sealed class ProcessSpawner : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo StartInfo, TaskCompletionSource<Process> Started)> _queue = new();
    private readonly Thread _thread;

    public ProcessSpawner()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "pod-process-spawner" };
        _thread.Start();
    }

    public Task<Process> StartAsync(ProcessStartInfo startInfo)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _queue.Add((startInfo, started));
        }
        catch (InvalidOperationException)
        {
            started.SetException(new ObjectDisposedException(nameof(ProcessSpawner)));
        }
        return started.Task;
    }

    private void Run()
    {
        foreach (var (startInfo, started) in _queue.GetConsumingEnumerable())
        {
            try
            {
                var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
                process.Start();
                started.SetResult(process);
            }
            catch (Exception exception)
            {
                started.SetException(exception);
            }
        }
    }

    public void Dispose() => _queue.CompleteAdding();
}

/// <summary>Signals and the host's process table, read from /proc.</summary>
internal static partial class HostProcesses
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    public static void Signal(int pid, int signal)
    {
        if (pid > 1) SysKill(pid, signal);
    }

    /// <summary>
    /// SIGKILL from the inside out: the sandbox's own init dies first and the outer process reaps it and exits
    /// (killing the outer first would leave that init a zombie of the host's pid 1). The outer is killed too if it lingers.
    /// </summary>
    public static async Task KillSandboxAsync(Process outer)
    {
        if (PidOf(outer) is not { } outerPid || HasExited(outer)) return;
        foreach (var pid in Descendants(outerPid, 1, allowRecentSnapshot: true)) Signal(pid, SigKill);
        try
        {
            await WaitExitAsync(outer).WaitAsync(TimeSpan.FromSeconds(1));
        }
        catch (TimeoutException)
        {
            Signal(outerPid, SigKill);
        }
    }

    private static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>The pid of a started process, or null once it has been disposed.</summary>
    public static int? PidOf(Process process)
    {
        try
        {
            return process.Id;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Completes when the process has exited (at once if it was disposed after exiting).</summary>
    public static async Task WaitExitAsync(Process process)
    {
        try
        {
            await process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Disposed: its owner saw it exit.
        }
    }

    /// <summary>Descendants of <paramref name="root"/> at depth <paramref name="minDepth"/> or deeper (its children are depth 1).</summary>
    public static List<int> Descendants(int root, int minDepth, bool allowRecentSnapshot = false)
    {
        var children = ChildrenByParent(allowRecentSnapshot);
        var result = new List<int>();
        var level = new List<int> { root };
        for (var depth = 1; level.Count > 0; depth++)
        {
            var next = level.SelectMany(pid => children.TryGetValue(pid, out var list) ? list : []).ToList();
            if (depth >= minDepth) result.AddRange(next);
            level = next;
        }
        return result;
    }

    private static readonly Lock SnapshotLock = new();
    private static (DateTime Taken, Dictionary<int, List<int>> Children)? _snapshot;

    // A mass kill (DisposeAsync of hundreds of pods) reads /proc once, not once per process. Processes newer
    // than the snapshot are still covered: their sandbox dies with its outer process.
    private static Dictionary<int, List<int>> ChildrenByParent(bool allowRecentSnapshot)
    {
        lock (SnapshotLock)
        {
            if (allowRecentSnapshot && _snapshot is { } recent && DateTime.UtcNow - recent.Taken < TimeSpan.FromMilliseconds(200)) return recent.Children;
            var children = ReadChildrenByParent();
            _snapshot = (DateTime.UtcNow, children);
            return children;
        }
    }

    private static Dictionary<int, List<int>> ReadChildrenByParent()
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            if (ReadStat(pid) is not { } stat) continue;
            if (!children.TryGetValue(stat.Parent, out var list)) children[stat.Parent] = list = [];
            list.Add(pid);
        }
        return children;
    }

    /// <summary>A descendant of <paramref name="outerPid"/> that lives in other pid and mount namespaces than the runtime:
    /// a process inside the container that <paramref name="outerPid"/> sandboxes, or null when there is none (yet).</summary>
    public static int? InsideContainer(int outerPid, SandboxKind sandbox)
    {
        var ownPid = Namespace("self", "pid");
        var ownMount = Namespace("self", "mnt");
        // Entering the namespaces is not enough: the sandbox is still building the container's mounts in them, and
        // an exec that joins now sees half a root (no /bin/sh: exit 127). bubblewrap forks the command from its pid-1
        // init only after the root is complete (depth 2); unshare's child runs the mount script, then execs the command.
        // With unshare only that child itself counts: while it is still the setup script, the programs it runs (mount,
        // mkdir) are below it in the new namespaces too, and joining one of them sees the root half built.
        var candidates = sandbox == SandboxKind.Bubblewrap
            ? Descendants(outerPid, 2)
            : ChildrenByParent(allowRecentSnapshot: false).GetValueOrDefault(outerPid) ?? [];
        foreach (var pid in candidates)
        {
            var id = pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (Namespace(id, "pid") is { } pidNs && pidNs != ownPid && Namespace(id, "mnt") is { } mountNs && mountNs != ownMount
                && !IsSandboxSetup(id))
            {
                return pid;
            }
        }
        return null;
    }

    // The sandbox's own programs, before they exec the container's command.
    private static bool IsSandboxSetup(string pid)
    {
        try
        {
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            var program = Path.GetFileName(argv[0]);
            return program is "bwrap" or "unshare" or "setpriv"
                   || (argv.Length > 2 && argv[1] == "-c" && argv[2].StartsWith(SandboxCommand.UnshareSetupPrefix, StringComparison.Ordinal));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return true; // gone or unreadable: not a process to join
        }
    }

    // "/proc/<pid>/ns/<kind>" reads as "pid:[4026531836]".
    private static string? Namespace(string pid, string kind)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A process counts as alive until it is gone or a zombie.</summary>
    public static bool IsAlive(int pid) => ReadStat(pid) is { State: not 'Z' and not 'X' };

    private static (char State, int Parent)? ReadStat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is parenthesised and may contain spaces: fields resume after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (fields[0][0], int.Parse(fields[1]));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    public static async Task WaitGoneAsync(IEnumerable<int> pids, TimeSpan timeout)
    {
        var remaining = pids.ToList();
        var deadline = DateTime.UtcNow + timeout;
        while (remaining.Count > 0 && DateTime.UtcNow < deadline)
        {
            remaining.RemoveAll(pid => !IsAlive(pid));
            if (remaining.Count > 0) await Task.Delay(50);
        }
    }

    /// <summary>The absolute path of an executable on the runtime's PATH, or the name itself.</summary>
    public static string ResolveExecutable(string name)
    {
        if (name.Contains('/')) return name;
        var path = Environment.GetEnvironmentVariable("PATH") ?? ContainerEnvironment.DefaultPath;
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ContainerEnvironment.DefaultPath.Split(':')))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return name;
    }
}
