using System.Diagnostics;
using k8s;
using k8s.Models;
using Scheduler.Hosting;
using Scheduler.Kubernetes;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// Opens <c>n</c> execs of <c>sleep</c> at once and reports the thread-pool threads, the queued work items and the managed heap
/// while they are open, against the same figures before: once through the gateway (<see cref="ExecChannels"/>) and then through KubernetesClient's
/// StreamDemuxer (as the gateway read exec streams before, three MuxedStream reads per exec), in the same run. Against the embedded cluster in this process, or a cluster in another process (<c>--kubeconfig</c>, e.g. from
/// <c>scheduler local-cluster</c>), so that only the runner's side is counted.
/// </summary>
public static class ExecProbe
{
    public static async Task RunAsync(int n, int sleepSeconds, string? kubeconfig)
    {
        var root = Directory.CreateTempSubdirectory("dispatch-bench-exec-").FullName;
        try
        {
            await using var server = kubeconfig is null ? await EmbeddedCluster.StartAsync(Path.Combine(root, "cluster"), CancellationToken.None) : null;
            var configuration = server?.ClientConfiguration() ?? KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
            Console.WriteLine(server is null ? $"cluster from {kubeconfig} (another process)" : "embedded cluster in this process (its side is counted too)");
            using var client = new k8s.Kubernetes(configuration);
            using var limiter = new ApiRateLimiter(1000, 1000);
            var gateway = new KubernetesGateway(client, limiter);
            var pod = $"exec-probe-{Guid.NewGuid():N}"[..20];
            await gateway.CreatePodAsync(new V1Pod
            {
                Metadata = new V1ObjectMeta { Name = pod, NamespaceProperty = "default" },
                Spec = new V1PodSpec
                {
                    TerminationGracePeriodSeconds = 1,
                    Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"] }],
                },
            }, CancellationToken.None);
            while ((await gateway.ReadPodAsync("default", pod, CancellationToken.None))?.Status?.Phase != "Running")
            {
                await Task.Delay(100);
            }

            string[] sleep = ["sleep", sleepSeconds.ToString()];
            await MeasureAsync("gateway (ExecChannels)", n, sleepSeconds,
                () => gateway.ExecAsync("default", pod, "main", ["true"], null, CancellationToken.None),
                () => gateway.ExecAsync("default", pod, "main", sleep, _ => Task.CompletedTask, CancellationToken.None));
            await MeasureAsync("KubernetesClient StreamDemuxer", n, sleepSeconds, () => DemuxerExecAsync(client, pod, ["true"]),
                () => DemuxerExecAsync(client, pod, sleep));
            await gateway.DeletePodAsync("default", pod, null, CancellationToken.None);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task MeasureAsync(string what, int n, int sleepSeconds, Func<Task<int>> warmUp, Func<Task<int>> exec)
    {
        // One exec first: connections, JIT and pools are warm before the "before" figures.
        await warmUp();
        await Task.Delay(500);
        var (threadsBefore, heapBefore) = Figures();
        var clock = Stopwatch.StartNew();
        var execs = Enumerable.Range(0, n).Select(_ => Task.Run(exec)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(sleepSeconds / 2.0));
        var pending = ThreadPool.PendingWorkItemCount;
        var (threadsDuring, heapDuring) = Figures();
        var codes = await Task.WhenAll(execs);
        Console.WriteLine($"{what}: {n} execs of `sleep {sleepSeconds}` open at once: thread-pool threads {threadsBefore} -> {threadsDuring}, " +
                          $"queued work items {pending}; managed heap +{(heapDuring - heapBefore) / 1024.0 / n:F0} KiB per exec; " +
                          $"{codes.Count(c => c == 0)}/{n} exited 0 after {clock.Elapsed.TotalSeconds:F1} s");
    }

    // How the gateway read an exec before: the client's demuxer and one read loop per channel.
    private static async Task<int> DemuxerExecAsync(k8s.Kubernetes client, string pod, string[] command)
    {
        var socket = await client.WebSocketNamespacedPodExecAsync(pod, "default", command, "main", stderr: true, stdin: false, stdout: true,
            tty: false, webSocketSubProtocol: "v4.channel.k8s.io");
        using var demuxer = new StreamDemuxer(socket, StreamType.RemoteCommand, ownsSocket: true);
        var stdout = demuxer.GetStream(ChannelIndex.StdOut, null);
        var stderr = demuxer.GetStream(ChannelIndex.StdErr, null);
        var errors = demuxer.GetStream(ChannelIndex.Error, null);
        demuxer.Start();
        var status = new StreamReader(errors).ReadToEndAsync();
        var stderrRead = stderr.CopyToAsync(Stream.Null);
        var buffer = new byte[64 * 1024];
        while (await stdout.ReadAsync(buffer) > 0)
        {
        }

        await stderrRead;
        return KubernetesGateway.ExitCodeOf(await status) ?? -1;
    }

    private static (int Threads, long Heap) Figures()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (ThreadPool.ThreadCount, GC.GetTotalMemory(true));
    }
}
