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

    private async Task StopProcessesAsync(long gracePeriodSeconds)
    {
        gracePeriodSeconds = await RunPreStopHooksAsync(gracePeriodSeconds);
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
}
