using System.Diagnostics;
using k8s.Models;
using Scheduler.Hosting;
using Scheduler.Kubernetes;

namespace Scheduler.Dispatch.Bench;

/// <summary>Opens <c>n</c> execs of <c>sleep</c> at once against the embedded cluster through the real gateway and reports the
/// thread-pool threads and managed heap while they are open, against the same figures before.</summary>
public static class ExecProbe
{
    public static async Task RunAsync(int n, int sleepSeconds)
    {
        var root = Directory.CreateTempSubdirectory("dispatch-bench-exec-").FullName;
        try
        {
            await using var server = await EmbeddedCluster.StartAsync(Path.Combine(root, "cluster"), CancellationToken.None);
            using var client = new k8s.Kubernetes(server.ClientConfiguration());
            var gateway = new KubernetesGateway(client, new ApiRateLimiter(1000, 1000));
            await gateway.CreatePodAsync(new V1Pod
            {
                Metadata = new V1ObjectMeta { Name = "exec-probe", NamespaceProperty = "default" },
                Spec = new V1PodSpec
                {
                    TerminationGracePeriodSeconds = 1,
                    Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"] }],
                },
            }, CancellationToken.None);
            while ((await gateway.ReadPodAsync("default", "exec-probe", CancellationToken.None))?.Status?.Phase != "Running")
            {
                await Task.Delay(100);
            }

            // One exec first: connections, JIT and pools are warm before the "before" figures.
            await gateway.ExecAsync("default", "exec-probe", "main", ["true"], null, CancellationToken.None);
            var (threadsBefore, heapBefore) = Figures();
            var clock = Stopwatch.StartNew();
            var execs = Enumerable.Range(0, n).Select(_ => gateway.ExecAsync("default", "exec-probe", "main", ["sleep", sleepSeconds.ToString()],
                _ => Task.CompletedTask, CancellationToken.None)).ToList();
            await Task.Delay(TimeSpan.FromSeconds(sleepSeconds / 2.0));
            var (threadsDuring, heapDuring) = Figures();
            var pending = ThreadPool.PendingWorkItemCount;
            var codes = await Task.WhenAll(execs);
            Console.WriteLine($"{n} execs of `sleep {sleepSeconds}` open at once: thread-pool threads {threadsBefore} -> {threadsDuring} " +
                              $"(+{(threadsDuring - threadsBefore) / (double)n:F2} per exec), pending work items {pending}; " +
                              $"managed heap +{(heapDuring - heapBefore) / 1024.0 / n:F0} KiB per exec (the embedded cluster shares the process); " +
                              $"{codes.Count(c => c == 0)}/{n} exited 0 after {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static (int Threads, long Heap) Figures()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (ThreadPool.ThreadCount, GC.GetTotalMemory(true));
    }
}
