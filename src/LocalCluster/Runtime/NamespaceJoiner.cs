using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>Where and as whom an exec'd command starts: inside the container that <paramref name="ContainerPid"/> belongs to.</summary>
internal sealed record JoinTarget(int ContainerPid, long Uid, long Gid, IReadOnlyList<long> Groups, string WorkingDir, string SearchPath);

/// <summary>A started command, or why it could not start (the exit code and message a shell would give).</summary>
internal sealed record JoinStart(Process? Process, int ExitCode = 0, string? Error = null);

/// <summary>
/// Starts exec'd commands straight inside a running container, with no nsenter or setpriv before them: one program per
/// exec, as a bare spawn. One long-lived thread of the runtime (root) does it: it has a filesystem context of its own, and
/// for each exec it enters the container's UTS, pid (for its children) and mount namespaces, changes to the working
/// directory, takes the container's groups, gid and uid (this thread's only: the raw system calls, not libc's, which
/// would change every thread of the runtime), finds the command on the container's PATH as that user, and starts it.
/// The child gets exactly that: the container's namespaces, user, groups and directory, no capabilities (a non-root uid
/// after exec keeps none), and the environment given. Then the thread returns to root and to the runtime's own
/// namespaces. If any step of that return fails, the thread is never used again and execs go through nsenter.
/// </summary>
internal sealed class NamespaceJoiner : IDisposable
{
    private readonly BlockingCollection<JoinRequest> _queue = new();
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _usable;

    // Assemblies loaded on a joiner's thread while it is inside a container (see WarmUp): counted, so tests can hold it at 0.
    [ThreadStatic] private static bool t_insideContainer;
    private static int s_loadsInsideContainers;

    static NamespaceJoiner() =>
        AppDomain.CurrentDomain.AssemblyLoad += (_, _) =>
        {
            if (t_insideContainer) Interlocked.Increment(ref s_loadsInsideContainers);
        };

    /// <summary>How many assemblies the runtime loaded on a joiner's thread while inside a container (0 when the warm-up
    /// covered every path; for tests).</summary>
    internal static int AssemblyLoadsInsideContainers => Volatile.Read(ref s_loadsInsideContainers);

    private NamespaceJoiner()
    {
        new Thread(Run) { IsBackground = true, Name = "exec-namespace-joiner" }.Start();
    }

    /// <summary>A joiner, or null where it cannot work (not root, not Linux on x64 or arm64, or its thread could not set up).</summary>
    public static NamespaceJoiner? TryCreate(bool runtimeIsRoot)
    {
        if (!runtimeIsRoot || !OperatingSystem.IsLinux() || Syscalls.Numbers is null) return null;
        var joiner = new NamespaceJoiner();
        if (joiner._ready.Task.Wait(TimeSpan.FromSeconds(10)) && joiner._ready.Task.Result) return joiner;
        joiner.Dispose();
        return null;
    }

    /// <summary>Whether the joiner still works; false after a failed return to the runtime's own state.</summary>
    public bool Usable => _usable;

    /// <summary>For tests: the next return to the runtime's own state counts as failed, as if a step of it had.</summary>
    internal bool FailNextReturn { get; set; }

    /// <summary>
    /// How long a request may wait for the thread before the joiner is given up: every exec of the node goes through this
    /// one thread, and a start that hangs (a working directory or a command on a stalled filesystem) would hold every
    /// exec behind it, Kill and the stages' Run included. The waiting request, and every later one, go through nsenter.
    /// </summary>
    internal TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>For tests: run on the thread after each return to the runtime's own state (e.g. to start a thread from it, as the
    /// thread pool may).</summary>
    internal Action? AfterReturn { get; set; }

    /// <summary>For tests: the thread waits on this before entering the next request's container.</summary>
    internal ManualResetEventSlim? HoldNextStart { get; set; }

    /// <summary>For tests: requests the thread skipped because they had waited too long and went another way.</summary>
    internal int SkippedRequests => Volatile.Read(ref _skipped);

    private int _skipped;

    /// <summary>One exec to start. Taken by the thread or abandoned by its wait's timeout, whichever comes first.</summary>
    private sealed class JoinRequest(JoinTarget target, ProcessStartInfo startInfo, Action<Process>? onStarted)
    {
        private int _state; // 0 queued, 1 taken by the thread, 2 abandoned

        public JoinTarget Target { get; } = target;
        public ProcessStartInfo StartInfo { get; } = startInfo;
        public Action<Process>? OnStarted { get; } = onStarted;
        public TaskCompletionSource<JoinStart?> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool TryTake() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, 2, 0) == 0;
    }

    /// <summary>
    /// Starts the command of <paramref name="startInfo"/> (its file name as the command's first word, its arguments and
    /// environment; its working directory is ignored) inside the container. Null when the joiner cannot (it is no
    /// longer usable, or the container's namespaces could not be entered): the caller takes another way in.
    /// <paramref name="onStarted"/> is called on the joiner's thread as soon as the command runs, before the task completes,
    /// so that the caller can count it among the pod's processes before anyone can see it run (a pod stopped meanwhile
    /// then sends it SIGTERM like the others).
    /// </summary>
    public Task<JoinStart?> StartAsync(JoinTarget target, ProcessStartInfo startInfo, Action<Process>? onStarted = null)
    {
        var request = new JoinRequest(target, startInfo, onStarted);
        if (!_usable)
        {
            request.Started.SetResult(null);
            return request.Started.Task;
        }
        try
        {
            _queue.Add(request);
            _ = AbandonIfNotTakenAsync(request);
        }
        catch (InvalidOperationException)
        {
            request.Started.TrySetResult(null);
        }
        return request.Started.Task;
    }

    private async Task AbandonIfNotTakenAsync(JoinRequest request)
    {
        await Task.WhenAny(request.Started.Task, Task.Delay(QueueTimeout)).ConfigureAwait(false);
        if (request.TryAbandon())
        {
            _usable = false;
            request.Started.TrySetResult(null);
        }
    }

    public void Dispose() => _queue.CompleteAdding();

    private void Run()
    {
        HostState? host;
        try
        {
            host = HostState.Capture();
            WarmUp();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or Win32Exception)
        {
            host = null;
        }
        _usable = host is not null;
        _ready.SetResult(_usable);
        if (host is null) return;
        foreach (var request in _queue.GetConsumingEnumerable())
        {
            if (!request.TryTake())
            {
                // It waited too long and went through nsenter: started here too, it would run twice.
                Interlocked.Increment(ref _skipped);
                continue;
            }
            if (!_usable)
            {
                request.Started.SetResult(null);
                continue;
            }
            HoldNextStart?.Wait();
            var (target, startInfo, onStarted, started) = (request.Target, request.StartInfo, request.OnStarted, request.Started);
            JoinStart? result = null;
            try
            {
                t_insideContainer = true;
                if (Enter(target)) result = Start(target, startInfo);
                if (result?.Process is { } process) onStarted?.Invoke(process);
            }
            catch (Exception)
            {
                // Whatever failed before the command started (a user the kernel refused, a group out of range): the exec
                // takes another way in. Nothing may escape this thread, whose death would take the runtime with it.
                result = null;
            }
            // Back to the runtime's own namespaces and root, whatever happened; a thread that cannot get back is given up
            // (a command it did start is still handed over: it runs in its container as it should).
            if (!host.Restore() || FailNextReturn)
            {
                // The thread may still be in the container, as its user: it runs no more of the runtime's code than it
                // must. It answers this request and those queued behind it (they go through nsenter) and ends.
                _usable = false;
                host.Dispose();
                started.SetResult(result);
                _queue.CompleteAdding();
                foreach (var queued in _queue.GetConsumingEnumerable()) queued.Started.TrySetResult(null);
                return;
            }
            t_insideContainer = false;
            AfterReturn?.Invoke();
            started.SetResult(result);
        }
        host.Dispose();
    }

    /// <summary>
    /// Runs once, in the runtime's own namespaces, every path the thread takes inside a container: path lookups, a start
    /// with redirected streams, a failed start and its message. The runtime loads an assembly by its path the first time
    /// code needs it, and inside a container that path is the image's, a file the job chose; an assembly loaded there would
    /// run as the runtime (root). Loaded here, from the runtime's own files, none is looked up inside a container.
    /// </summary>
    private static void WarmUp()
    {
        var shell = Resolve("sh", "/usr/bin:/bin", "/") ?? throw new IOException("no sh on the runtime's PATH");
        _ = Directory.Exists(shell);
        var startInfo = new ProcessStartInfo(shell, ["-c", "exit 0"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.Environment.Clear();
        startInfo.Environment["PATH"] = "/usr/bin:/bin";
        using (var process = new JoinStart(Process.Start(startInfo)).Process)
        {
            process?.WaitForExit();
        }
        var missing = new ProcessStartInfo("/nonexistent/scheduler-joiner-warm-up") { UseShellExecute = false };
        _ = StartOrExplain(missing, "scheduler-joiner-warm-up");
        _ = Explain(new Win32Exception(Syscalls.ENoExec), "scheduler-joiner-warm-up");
    }

    /// <summary>Enters the container's namespaces and working directory as root; false when its namespaces are gone.</summary>
    private static bool Enter(JoinTarget target)
    {
        // The kernel lets a thread enter a mount namespace only with a filesystem context of its own, and a thread started
        // from this one since shares its context: the thread pool starts a worker on the thread that queues work when
        // none is free, as this one does when it answers a request. So a context of its own again first; the other
        // thread keeps the copy it shares, with the runtime's root and directory.
        if (Syscalls.Unshare(Syscalls.CloneFs) != 0) return false;
        var pid = target.ContainerPid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Opened together before any is entered: once in the container's mount namespace, /proc is the container's.
        var uts = Syscalls.OpenNamespace($"/proc/{pid}/ns/uts");
        var pidNs = Syscalls.OpenNamespace($"/proc/{pid}/ns/pid");
        var mount = Syscalls.OpenNamespace($"/proc/{pid}/ns/mnt");
        try
        {
            if (uts < 0 || pidNs < 0 || mount < 0) return false;
            if (Syscalls.SetNs(uts, Syscalls.CloneNewUts) != 0 || Syscalls.SetNs(pidNs, Syscalls.CloneNewPid) != 0
                || Syscalls.SetNs(mount, Syscalls.CloneNewNs) != 0)
            {
                return false;
            }
        }
        finally
        {
            foreach (var fd in new[] { uts, pidNs, mount }) if (fd >= 0) Syscalls.Close(fd);
        }
        return true;
    }

    /// <summary>In the container: the directory (as root, as nsenter's --wdns), the user, the command's path, the start.</summary>
    private static JoinStart Start(JoinTarget target, ProcessStartInfo startInfo)
    {
        if (Syscalls.ChangeDirectory(target.WorkingDir) != 0)
        {
            return new JoinStart(null, 1, $"cannot change to the working directory {target.WorkingDir}: {Syscalls.LastError()}");
        }
        if (!Syscalls.SetIdentity(target.Uid, target.Gid, target.Groups)) throw new Win32Exception(Marshal.GetLastPInvokeError(), "changing to the container's user failed");
        var command = startInfo.FileName;
        var path = Resolve(command, target.SearchPath, target.WorkingDir);
        if (path is null) return new JoinStart(null, 127, $"exec: {command}: not found");
        if (Directory.Exists(path)) return new JoinStart(null, 126, $"exec: {command}: Is a directory");
        startInfo.FileName = path;
        startInfo.WorkingDirectory = null;
        try
        {
            return new JoinStart(Process.Start(startInfo));
        }
        catch (Win32Exception exception) when (exception.NativeErrorCode == Syscalls.ENoExec)
        {
            // As execvp: a file without #! or an ELF header is a shell script.
            startInfo.ArgumentList.Insert(0, path);
            startInfo.FileName = "/bin/sh";
            return StartOrExplain(startInfo, command);
        }
        catch (Win32Exception exception)
        {
            return Explain(exception, command);
        }
    }

    private static JoinStart StartOrExplain(ProcessStartInfo startInfo, string command)
    {
        try
        {
            return new JoinStart(Process.Start(startInfo));
        }
        catch (Win32Exception exception)
        {
            return Explain(exception, command);
        }
    }

    private static JoinStart Explain(Win32Exception exception, string command) =>
        new(null, exception.NativeErrorCode == Syscalls.ENoEnt ? 127 : 126, $"exec: {command}: {new Win32Exception(exception.NativeErrorCode).Message}");

    /// <summary>
    /// The command as execvp finds it: a name with a slash as it is (the start then reports what is wrong with it), else
    /// the first PATH entry that has it. A relative result is made absolute from the working directory, where the thread
    /// is: .NET would otherwise look for it next to the runtime's own executable first.
    /// </summary>
    private static string? Resolve(string command, string searchPath, string workingDir)
    {
        var found = command.Contains('/') ? command : searchPath.Split(':')
            .Select(dir => Path.Combine(dir.Length == 0 ? "." : dir, command))
            .FirstOrDefault(File.Exists);
        return found is null || found.StartsWith('/') ? found : workingDir.TrimEnd('/') + "/" + found;
    }

    /// <summary>The joiner thread's own namespaces and groups, to return to after each exec.</summary>
    private sealed class HostState(int mount, int pid, int uts, uint[] groups, string mountId) : IDisposable
    {
        public static HostState Capture()
        {
            // A filesystem context of this thread's own: entering a mount namespace changes its root and directory only.
            // An inheritable or ambient capability could outlive the change to a non-root uid (the saved uid stays 0): then
            // the joiner is not used.
            var status = File.ReadAllLines("/proc/thread-self/status");
            if (status.Any(line => line.StartsWith("CapInh:", StringComparison.Ordinal) || line.StartsWith("CapAmb:", StringComparison.Ordinal)
                                   ? line[7..].Trim().Trim('0').Length > 0 : false))
            {
                throw new IOException("the runtime has inheritable or ambient capabilities");
            }
            if (Syscalls.Unshare(Syscalls.CloneFs) != 0) throw new Win32Exception(Marshal.GetLastPInvokeError(), "unshare(CLONE_FS)");
            var mount = Syscalls.OpenNamespace("/proc/thread-self/ns/mnt");
            var pid = Syscalls.OpenNamespace("/proc/thread-self/ns/pid");
            var uts = Syscalls.OpenNamespace("/proc/thread-self/ns/uts");
            if (mount < 0 || pid < 0 || uts < 0) throw new Win32Exception(Marshal.GetLastPInvokeError(), "opening the runtime's namespaces");
            var mountId = new FileInfo("/proc/thread-self/ns/mnt").LinkTarget ?? throw new IOException("no mount namespace");
            return new HostState(mount, pid, uts, Syscalls.Groups(), mountId);
        }

        /// <summary>Root again (the saved uid is still 0), the runtime's groups, namespaces and directory; checked.</summary>
        public bool Restore()
        {
            if (!Syscalls.RestoreRoot(groups)) return false;
            if (Syscalls.SetNs(mount, Syscalls.CloneNewNs) != 0 || Syscalls.SetNs(pid, Syscalls.CloneNewPid) != 0
                || Syscalls.SetNs(uts, Syscalls.CloneNewUts) != 0 || Syscalls.ChangeDirectory("/") != 0)
            {
                return false;
            }
            return Syscalls.EffectiveUid() == 0 && new FileInfo("/proc/thread-self/ns/mnt").LinkTarget == mountId
                   && new FileInfo("/proc/thread-self/ns/pid_for_children").LinkTarget == new FileInfo("/proc/thread-self/ns/pid").LinkTarget;
        }

        private bool _disposed;

        public void Dispose()
        {
            // Once only: a descriptor number closed twice may by then be another one of the runtime's.
            if (_disposed) return;
            _disposed = true;
            foreach (var fd in new[] { mount, pid, uts }) Syscalls.Close(fd);
        }
    }

    /// <summary>
    /// The system calls the joiner makes. Credentials go through <c>syscall(2)</c>: the kernel keeps them per thread, and
    /// only libc's wrappers spread a change to every thread of the process.
    /// </summary>
    private static class Syscalls
    {
        public const int CloneFs = 0x200, CloneNewNs = 0x20000, CloneNewUts = 0x4000000, CloneNewPid = 0x20000000;
        public const int ENoEnt = 2, ENoExec = 8;
        private const int ORdOnly = 0, OCloExec = 0x80000;

        /// <summary>setgroups, setresuid, setresgid and geteuid on this architecture, or null where the joiner is not used.</summary>
        public static readonly (long SetGroups, long SetResUid, long SetResGid, long GetEuid)? Numbers = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => (116, 117, 119, 107),
            Architecture.Arm64 => (159, 147, 149, 175),
            _ => null,
        };

        [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static extern long Syscall(long number, long a, long b, long c);

        [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
        private static extern long SyscallGroups(long number, long count, uint[] groups, long unused);

        [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
        public static extern int SetNs(int fd, int nsType);

        [DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
        public static extern int Unshare(int flags);

        [DllImport("libc", EntryPoint = "chdir", SetLastError = true)]
        public static extern int ChangeDirectory(string path);

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        private static extern int Open(string path, int flags);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);

        [DllImport("libc", EntryPoint = "getgroups", SetLastError = true)]
        private static extern int GetGroups(int size, uint[]? list);

        public static int OpenNamespace(string path) => Open(path, ORdOnly | OCloExec);

        public static string LastError() => new Win32Exception(Marshal.GetLastPInvokeError()).Message;

        public static uint[] Groups()
        {
            var count = GetGroups(0, null);
            if (count < 0) throw new Win32Exception(Marshal.GetLastPInvokeError(), "getgroups");
            var groups = new uint[count];
            return GetGroups(count, groups) == count ? groups : throw new Win32Exception(Marshal.GetLastPInvokeError(), "getgroups");
        }

        public static long EffectiveUid() => Syscall(Numbers!.Value.GetEuid, 0, 0, 0);

        /// <summary>Groups, then gid, then uid; the saved uid stays 0 so that the thread can become root again.</summary>
        public static bool SetIdentity(long uid, long gid, IReadOnlyList<long> groups)
        {
            var numbers = Numbers!.Value;
            var list = groups.Select(g => checked((uint)g)).ToArray();
            return SyscallGroups(numbers.SetGroups, list.Length, list, 0) == 0
                   && Syscall(numbers.SetResGid, gid, gid, gid) == 0
                   && Syscall(numbers.SetResUid, uid, uid, 0) == 0;
        }

        public static bool RestoreRoot(uint[] groups)
        {
            var numbers = Numbers!.Value;
            return Syscall(numbers.SetResUid, 0, 0, 0) == 0
                   && Syscall(numbers.SetResGid, 0, 0, 0) == 0
                   && SyscallGroups(numbers.SetGroups, groups.Length, groups, 0) == 0;
        }
    }
}
