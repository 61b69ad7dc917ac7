using System.Diagnostics;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>
/// Stopping pods through their pid namespaces, and pods woken by the Secret they wait for. The runtime here looks again
/// for missing Secrets only once an hour, so a pod that starts within seconds was woken by the Secret's creation.
/// </summary>
public sealed class PodStopTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "pod-stop-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public Task InitializeAsync()
    {
        var node = new NodeSettings { StateDir = _stateDir };
        _runtime = new ProcessPodRuntime(node, _host, SandboxCommand.Detect(Environment.IsPrivilegedProcess, File.Exists), TimeSpan.FromHours(1));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    [Fact]
    public async Task Killing_a_pod_kills_its_children_and_a_detached_grandchild_leaving_no_process_not_even_a_zombie()
    {
        var sleep = UniqueSleep();
        // One child in the background, one detached in a new session whose parent exits at once (a daemon): it is
        // reparented to the sandbox's init, outside the container command's own tree.
        var pod = Pod("family", Shell("main", $"{sleep} & setsid sh -c '{sleep} & exit 0'; {sleep}"));
        _runtime.PodCreated(pod);
        var pids = await WaitForProcessesAsync(sleep, 3);
        Assert.Equal(3, pids.Count);

        await _runtime.KillPodAsync("ci", "family", pod.Metadata.Uid, 0).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.All(pids, pid => Assert.False(Exists(pid), $"process {pid} of the pod outlived it"));
        Assert.Empty(Processes(sleep));
    }

    [Fact]
    public async Task A_container_that_ignores_sigterm_gets_the_whole_grace_period_then_sigkill()
    {
        var sleep = UniqueSleep();
        var pod = Pod("stubborn", Shell("main", $"trap '' TERM; echo ready; {sleep} & wait"));
        _runtime.PodCreated(pod);
        var pids = await WaitForProcessesAsync(sleep, 1);
        await WaitForLogAsync("stubborn", "ready");

        var watch = Stopwatch.StartNew();
        await _runtime.KillPodAsync("ci", "stubborn", pod.Metadata.Uid, 2).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.9), $"killed after {watch.Elapsed}, before its 2 s grace period");
        Assert.Single(pids);
        Assert.False(Exists(pids[0]));
        // SIGKILL, not an exit of its own: 137.
        Assert.Equal(137, _host.Latest("stubborn")!.Container("main").State.Terminated.ExitCode);
    }

    [Fact]
    public async Task A_container_that_stops_on_sigterm_ends_the_kill_at_once_not_at_the_end_of_the_grace_period()
    {
        var pod = Pod("polite", Shell("main", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done"));
        _runtime.PodCreated(pod);
        await WaitForLogAsync("polite", "ready");

        await _runtime.KillPodAsync("ci", "polite", pod.Metadata.Uid, 600).WaitAsync(TimeSpan.FromSeconds(15));

        var final = _host.Latest("polite")!;
        Assert.Equal(0, final.Container("main").State.Terminated.ExitCode);
    }

    [Fact]
    public async Task A_pod_killed_the_moment_it_starts_still_gets_sigterm_once_its_command_is_there()
    {
        var sleep = UniqueSleep();
        // A plain sleep dies of SIGTERM; only a SIGKILL at the end of the 600 s grace period would end it otherwise.
        var pod = Pod("newborn", Shell("main", $"exec {sleep}"));
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("newborn", s => s.Phase == "Running");

        await _runtime.KillPodAsync("ci", "newborn", pod.Metadata.Uid, 600).WaitAsync(TimeSpan.FromSeconds(15));

        Assert.DoesNotContain(Processes(sleep), Exists);
        Assert.Equal(143, _host.Latest("newborn")!.Container("main").State.Terminated.ExitCode);
    }

    [Fact]
    public async Task A_secret_created_after_the_pod_starts_it_without_waiting_for_a_retry()
    {
        var pod = Pod("late-secret", Shell("main", "cat /s/token", Mount("token", "/s")))
            .WithVolumes(new V1Volume { Name = "token", Secret = new V1SecretVolumeSource { SecretName = "job-token" } });
        _runtime.PodCreated(pod);
        await _host.WaitForEventAsync("late-secret", "FailedMount");

        _host.AddSecret("ci", "job-token", new V1Secret { Data = new Dictionary<string, byte[]> { ["token"] = "abc"u8.ToArray() } });

        var final = await _host.WaitForStatusAsync("late-secret", s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 20);
        Assert.Equal("Succeeded", final.Phase);
    }

    [Fact]
    public async Task An_env_secret_created_after_the_pod_starts_it_without_waiting_for_a_retry()
    {
        var container = Shell("main", "echo $TOKEN");
        container.Env = [new V1EnvVar { Name = "TOKEN", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "env", Key = "token" } } }];
        _runtime.PodCreated(Pod("late-env", container));
        await _host.WaitForStatusAsync("late-env", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "CreateContainerConfigError");

        _host.AddSecret("ci", "env", new V1Secret { Data = new Dictionary<string, byte[]> { ["token"] = "t0k"u8.ToArray() } });

        var final = await _host.WaitForStatusAsync("late-env", s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 20);
        Assert.Equal("Succeeded", final.Phase);
    }

    [Fact]
    public async Task A_pod_waiting_for_its_secret_is_killed_at_once()
    {
        var pod = Pod("waits", Shell("main", "true", Mount("token", "/s")))
            .WithVolumes(new V1Volume { Name = "token", Secret = new V1SecretVolumeSource { SecretName = "never" } });
        _runtime.PodCreated(pod);
        await _host.WaitForEventAsync("waits", "FailedMount");

        await _runtime.KillPodAsync("ci", "waits", pod.Metadata.Uid, 30).WaitAsync(TimeSpan.FromSeconds(5));
    }

    private async Task WaitForLogAsync(string pod, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            using var output = new MemoryStream();
            try
            {
                await _runtime.StreamLogAsync("ci", pod, new PodLogOptions(), output, CancellationToken.None);
                if (Encoding.UTF8.GetString(output.ToArray()).Contains(text)) return;
            }
            catch (PodRuntimeException)
            {
                // Not started yet.
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"pod {pod} never logged {text}");
    }

    // A sleep length no other process on the machine has, to find exactly this test's processes.
    private static string UniqueSleep() => $"sleep 300.{Random.Shared.Next(100000, 999999)}";

    // A zombie still has its /proc entry: a process killed but never reaped counts as left behind.
    private static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    private static async Task<List<int>> WaitForProcessesAsync(string commandLine, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var pids = Processes(commandLine);
            if (pids.Count >= count || DateTime.UtcNow > deadline) return pids;
            await Task.Delay(25);
        }
    }

    private static List<int> Processes(string commandLine) =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => int.TryParse(name, out _))
            .Where(name =>
            {
                try
                {
                    return File.ReadAllText($"/proc/{name}/cmdline").Replace('\0', ' ').Trim() == commandLine;
                }
                catch (IOException)
                {
                    return false;
                }
            })
            .Select(name => int.Parse(name!))
            .ToList();
}
