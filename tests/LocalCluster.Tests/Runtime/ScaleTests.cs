using System.Diagnostics;
using k8s;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class ScaleTests : IDisposable
{
    private readonly string _stateDir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "scale-tests-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose() => Directory.Delete(_stateDir, recursive: true);

    [Fact]
    public async Task Many_sleeping_pods_run_without_a_thread_each_and_die_with_the_runtime()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("RUNTIME_SCALE_PODS"), out var n) ? n : 50;
        // A sleep length no other process on the machine has, to count exactly this test's containers.
        var sleep = $"sleep 300.{Random.Shared.Next(100000, 999999)}";
        var host = new FakePodHost();
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, host);
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) runtime.PodCreated(Pod($"sleeper-{i}", Shell("main", "exec " + sleep)));

        for (var i = 0; i < count; i++) await host.WaitForStatusAsync($"sleeper-{i}", s => s.Phase == "Running", timeoutSeconds: 60);
        var started = watch.Elapsed;
        var threadsRunning = Process.GetCurrentProcess().Threads.Count;
        // Running is reported once the sandbox process starts; its command follows a moment later.
        var sleepers = SleeperPids(sleep);
        for (var waited = 0; sleepers.Count < count && waited < 200; waited++)
        {
            await Task.Delay(100);
            sleepers = SleeperPids(sleep);
        }
        // Idle pods report nothing new. The runtime has no status loop to wait a round of: a pod publishes only on a
        // lifecycle event (a start, an exit, a restart, a deadline) and drops a status equal to the last one it sent.
        // These pods have no event due (300 s sleeps, RestartPolicy Never, no deadline), so a pod is quiet exactly when the
        // status it would send now is the one it sent last: nothing changed unreported, nothing is left to publish.
        var quiet = Enumerable.Range(0, count).Select(i => $"sleeper-{i}")
            .Select(name => (Reported: KubernetesJson.Serialize(host.Statuses(name)[^1]), Current: KubernetesJson.Serialize(runtime.GetStatus("ci", name))))
            .ToList();
        watch.Restart();
        await runtime.DisposeAsync();
        File.AppendAllText(Path.Combine(Path.GetTempPath(), "runtime-scale.txt"), $"{count} pods: started in {started}, disposed in {watch.Elapsed}, threads {threadsBefore}->{threadsRunning}\n");

        Assert.True(started < TimeSpan.FromSeconds(60), $"{count} pods took {started} to start");
        Assert.True(threadsRunning - threadsBefore < 40, $"threads grew from {threadsBefore} to {threadsRunning}");
        Assert.All(quiet, pod => Assert.Equal(pod.Reported, pod.Current));
        Assert.Equal(count, sleepers.Count);
        Assert.All(sleepers, pid => Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ")));
    }

    private static List<int> SleeperPids(string commandLine) =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => int.TryParse(name, out _))
            .Where(name =>
            {
                try { return File.ReadAllText($"/proc/{name}/cmdline").Replace('\0', ' ').Trim() == commandLine; }
                catch (IOException) { return false; }
            })
            .Select(name => int.Parse(name!))
            .ToList();
}
