using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

// Stopping a pod: SIGTERM, the grace period, SIGKILL, and removal of its node state.
internal sealed partial class LocalPod
{
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

    /// <summary>
    /// SIGTERM to every process of the pod's containers and execs, found by walking down from each sandbox's outer process;
    /// then, when all have exited or the grace period has run out (whichever is first; no polling), SIGKILL to each
    /// sandbox's pid-namespace init, which takes every process left in the namespace with it.
    /// </summary>
    private async Task StopProcessesAsync(long gracePeriodSeconds)
    {
        gracePeriodSeconds = await RunPreStopHooksAsync(gracePeriodSeconds);
        List<Process> processes;
        HashSet<Process> joined;
        HashSet<Process> direct;
        lock (_lock)
        {
            _stopRequested = true;
            processes = AllProcesses();
            joined = [.. _joinedExecs];
            direct = [.. _directExecs];
        }
        _stopping.Cancel();
        var exited = Task.WhenAll(processes.Select(HostProcesses.WaitExitAsync));
        if (gracePeriodSeconds > 0 && !exited.IsCompleted)
        {
            var grace = Task.Delay(TimeSpan.FromSeconds(Math.Min(gracePeriodSeconds, 86_400)));
            await TerminateAsync(processes, joined, direct, Task.WhenAny(exited, grace));
            await Task.WhenAny(exited, grace);
        }
        // Processes may have been started while we signalled; they saw _stopRequested and were killed at birth.
        lock (_lock) processes = AllProcesses();
        await Task.WhenAll(processes.Select(KillExecAsync));
        var started = _containers.Concat(_initContainers).Where(c => c.HasStarted).Select(c => c.Exited.Task);
        await Task.WhenAll(started).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
    }

    /// <summary>
    /// SIGTERM to the commands of each process (and everything they started). A sandbox started a moment ago may not
    /// have forked its command yet: it is looked at again, at growing intervals, until its command appears or
    /// <paramref name="done"/> completes. That is the only wait here that looks rather than being told.
    /// </summary>
    private async Task TerminateAsync(List<Process> processes, HashSet<Process> joined, HashSet<Process> direct, Task done)
    {
        // The container's own processes: below bubblewrap's outer process and its pid-1 init (depth 2), or
        // below unshare, where the command itself is pid 1 of the namespace (depth 1); an exec's are the join program's or nsenter's children,
        // or the exec's process itself and what it started when the joiner started it.
        var commandDepth = _env.Sandbox == SandboxKind.Unshare ? 1 : 2;
        var pending = processes;
        var delay = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            var notYet = new List<Process>();
            foreach (var process in pending)
            {
                if (HostProcesses.PidOf(process) is not { } pid || HostProcesses.HasExited(process)) continue;
                var commands = direct.Contains(process) ? [pid, .. HostProcesses.Descendants(pid, 1)]
                    : HostProcesses.Descendants(pid, joined.Contains(process) ? 1 : commandDepth);
                if (commands.Count == 0) notYet.Add(process);
                foreach (var command in commands) HostProcesses.Signal(command, HostProcesses.SigTerm);
            }
            if (notYet.Count == 0) return;
            if (await Task.WhenAny(done, Task.Delay(delay)) == done) return;
            pending = notYet;
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 200));
        }
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
}
