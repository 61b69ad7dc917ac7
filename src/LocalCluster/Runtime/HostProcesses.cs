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

/// <summary>
/// Signals, and the process trees of the sandboxes, followed by pid from each sandbox's outer process through
/// <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/children</c>: a pod's processes are found without reading the host's whole process
/// table, and without a lock shared by all pods.
/// </summary>
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
    /// SIGKILL from the inside out: every process below the outer one dies first (for a sandbox that includes the init
    /// of its pid namespace, whose death kills everything left in the namespace, however deep or detached), and the outer
    /// process reaps its child and exits (killing the outer first would leave that init a zombie of the host's pid 1).
    /// The outer is killed too if it lingers. A sandbox whose init is not forked yet dies with its outer process
    /// (bubblewrap's and unshare's parent-death signal).
    /// </summary>
    public static async Task KillSandboxAsync(Process outer)
    {
        if (PidOf(outer) is not { } outerPid || HasExited(outer)) return;
        foreach (var pid in Descendants(outerPid, 1)) Signal(pid, SigKill);
        try
        {
            await WaitExitAsync(outer).WaitAsync(TimeSpan.FromSeconds(1));
        }
        catch (TimeoutException)
        {
            Signal(outerPid, SigKill);
        }
    }

    /// <summary>
    /// SIGKILL to a process and every process below it, the whole tree read first (a child whose parent dies first is
    /// reparented, and a walk after the kill would miss it).
    /// </summary>
    public static void KillTree(Process process)
    {
        if (PidOf(process) is not { } pid || HasExited(process)) return;
        foreach (var member in (List<int>)[pid, .. Descendants(pid, 1)]) Signal(member, SigKill);
    }

    /// <summary>Whether the process has exited (or was disposed after exiting).</summary>
    public static bool HasExited(Process process)
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

    /// <summary>
    /// Descendants of <paramref name="root"/> at depth <paramref name="minDepth"/> or deeper (its children are depth 1),
    /// parents before their children. Follows the tree down from the root: the cost is the size of the tree.
    /// </summary>
    public static List<int> Descendants(int root, int minDepth)
    {
        var result = new List<int>();
        var level = new List<int> { root };
        // Bounded: a pid reused while we walk cannot make the walk loop.
        for (var depth = 1; level.Count > 0 && depth < 64; depth++)
        {
            var next = level.SelectMany(Children).ToList();
            if (depth >= minDepth) result.AddRange(next);
            level = next;
        }
        return result;
    }

    /// <summary>The children of a process, from each of its threads' children list (a thread may fork too); none when it is gone.</summary>
    public static IEnumerable<int> Children(int pid)
    {
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return [];
        }
        var children = new List<int>();
        foreach (var task in tasks)
        {
            try
            {
                foreach (var word in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (int.TryParse(word, out var child)) children.Add(child);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // The thread ended meanwhile.
            }
        }
        return children;
    }

    /// <summary>A descendant of <paramref name="outerPid"/> that lives in other pid and mount namespaces than the runtime:
    /// a process inside the container that <paramref name="outerPid"/> sandboxes, with its start time, or null when there
    /// is none (yet).</summary>
    public static ContainerProcess? InsideContainer(int outerPid, SandboxKind sandbox)
    {
        var ownPid = Namespace("self", "pid");
        var ownMount = Namespace("self", "mnt");
        // Entering the namespaces is not enough: the sandbox is still building the container's mounts in them, and
        // an exec that joins now sees half a root (no /bin/sh: exit 127). bubblewrap forks the command from its pid-1
        // init only after the root is complete (depth 2); unshare's child runs the mount script, then execs the command.
        // With unshare only that child itself counts: while it is still the setup script, the programs it runs (mount,
        // mkdir) are below it in the new namespaces too, and joining one of them sees the root half built.
        var candidates = sandbox == SandboxKind.Bubblewrap ? Descendants(outerPid, 2) : Children(outerPid);
        foreach (var pid in candidates)
        {
            var id = pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // The start time is read before and after the checks: the same both times, the checks read that process.
            if (StartTime(pid) is { } started
                && Namespace(id, "pid") is { } pidNs && pidNs != ownPid && Namespace(id, "mnt") is { } mountNs && mountNs != ownMount
                && !IsSandboxSetup(id) && StartTime(pid) == started)
            {
                return new ContainerProcess(pid, started);
            }
        }
        return null;
    }

    /// <summary>When a process started (field 22 of /proc/&lt;pid&gt;/stat, clock ticks after boot), or null when it is gone.</summary>
    public static ulong? StartTime(int pid)
    {
        try
        {
            return ParseStartTime(File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Whether the process has ended and waits to be reaped (state Z in /proc/&lt;pid&gt;/stat): its start time is
    /// still there, but nothing can join it any more.</summary>
    public static bool IsZombie(int pid)
    {
        try
        {
            return ParseState(File.ReadAllText($"/proc/{pid}/stat")) == 'Z';
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Field 3 of a /proc/&lt;pid&gt;/stat line (the state letter), counted from the command name's last ')'; null when
    /// there is none.</summary>
    public static char? ParseState(string stat)
    {
        var close = stat.LastIndexOf(')');
        return close >= 0 && close + 2 < stat.Length && stat[close + 1] == ' ' ? stat[close + 2] : null;
    }

    /// <summary>
    /// Field 22 of a /proc/&lt;pid&gt;/stat line. Field 2, the command name in parentheses, may hold spaces and
    /// parentheses itself: the fields are counted from its last ')'. Null when the line has no such field.
    /// </summary>
    public static ulong? ParseStartTime(string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (the state).
        return fields.Length > 19 && ulong.TryParse(fields[19], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks)
            ? ticks : null;
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
