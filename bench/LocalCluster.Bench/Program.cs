using System.Diagnostics;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

// Usage: localcluster-bench [--pods N] [--starts N] [--execs N] [--exec-mib N] [--image-archive FILE]
// With --image-archive (an OCI or docker archive, e.g. busybox from `skopeo copy … oci-archive:FILE`): loads it (timed),
// then pod create -> Running in that image vs on the host (the runner's own image), interleaved, over --starts pods each,
// and the disk used by 20 running pods of the image (their writable layers) next to the image's own size; nothing else.
// Starts the embedded cluster in-process and prints:
//   pod create -> Running latency (p50, p99; Running as a watch reports it) over --starts pods created one after another;
//   exec round trip (p50, p99) of `true` over --execs execs: KubernetesClient's exec, and the runner's gateway with a new
//   connection per exec and with execs as streams of one HTTP/2 connection;
//   the same execs' time split into opening the WebSocket and the rest, each way; an exec `cat` of --exec-mib MiB each way;
//   --pods pods with one sleeping container held at once: time to all Running, server memory, time to delete all.
var settings = BenchArgs.Parse(args);
var stateDir = Directory.CreateTempSubdirectory("localcluster-bench-").FullName;
if (settings.ImageArchive is { } archive)
{
    await ImageBench.RunAsync(archive, settings.Starts, stateDir);
    return;
}
try
{
    await using var server = await LocalClusterServer.StartAsync(new LocalClusterOptions
    {
        StateDir = stateDir,
        Node = new NodeSettings { StateDir = stateDir },
        RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
    });
    using var client = new Kubernetes(server.ClientConfiguration());
    const string ns = "default";

    Console.WriteLine($"embedded cluster at {server.Url}; {Environment.ProcessorCount} cores");
    // Running is seen through a watch, as the runner sees it: no polling client competes with the pods for the cores.
    using var stopWatching = new CancellationTokenSource();
    var running = new RunningWatch(client, ns, stopWatching.Token);
    await client.CoreV1.CreateNamespacedPodAsync(SleepingPod("warm-up"), ns);
    await running.WaitAsync("warm-up", TimeSpan.FromSeconds(60));
    await client.CoreV1.DeleteNamespacedPodAsync("warm-up", ns, gracePeriodSeconds: 0);

    // Each measurement alternates with its baseline (a bare bwrap sandbox of `true` for a pod start, a bare spawn of
    // `true` and a GET for an exec), so that both see the same load: the machine is shared and noisy.
    string[] bareBwrap = ["--dev-bind", "/", "/", "--proc", "/proc", "--unshare-pid", "--unshare-uts", "--die-with-parent", "true"];
    var hasBwrap = File.Exists("/usr/bin/bwrap");

    // 1. create -> Running, one pod at a time.
    var startLatencies = new List<double>();
    var bwrapLatencies = new List<double>();
    for (var i = 0; i < settings.Starts; i++)
    {
        if (hasBwrap) bwrapLatencies.Add(await Baseline.SpawnAsync("/usr/bin/bwrap", bareBwrap));
        var name = $"start-{i}";
        var watch = Stopwatch.StartNew();
        await client.CoreV1.CreateNamespacedPodAsync(SleepingPod(name), ns);
        await running.WaitAsync(name, TimeSpan.FromSeconds(30));
        startLatencies.Add(watch.Elapsed.TotalMilliseconds);
        await client.CoreV1.DeleteNamespacedPodAsync(name, ns, gracePeriodSeconds: 0);
    }
    var bwrap = Percentile(bwrapLatencies, 50);
    Console.WriteLine($"pod create -> Running: p50 {Percentile(startLatencies, 50):F1} ms, p99 {Percentile(startLatencies, 99):F1} ms over {settings.Starts} pods; " +
                      $"baseline bare bwrap sandbox of `true` p50 {bwrap:F1} ms; ratio {Percentile(startLatencies, 50) / bwrap:F2}x");

    // 2. exec round trip: KubernetesClient's own exec (a new connection each), and the runner's gateway with a new connection
    // per exec and with its execs as streams of one HTTP/2 connection (what it uses on the embedded cluster), alternated.
    await client.CoreV1.CreateNamespacedPodAsync(SleepingPod("exec-target"), ns);
    await running.WaitAsync("exec-target", TimeSpan.FromSeconds(30));
    using var perExecClient = new Kubernetes(server.ClientConfiguration());
    using var sharedClient = new Kubernetes(server.ClientConfiguration());
    Scheduler.Kubernetes.SharedConnectionExec.Use(sharedClient);
    var limiter = new Scheduler.Kubernetes.ApiRateLimiter(1_000_000, 1_000_000);
    var perExecGateway = new Scheduler.Kubernetes.KubernetesGateway(perExecClient, limiter);
    var sharedGateway = new Scheduler.Kubernetes.KubernetesGateway(sharedClient, limiter);
    await sharedGateway.ExecAsync(ns, "exec-target", "main", ["true"], null, CancellationToken.None); // opens the connection
    var getLatencies = new List<double>();
    var spawnLatencies = new List<double>();
    var execLatencies = new List<double>();
    var perExecLatencies = new List<double>();
    var sharedLatencies = new List<double>();
    for (var i = 0; i < settings.Execs; i++)
    {
        spawnLatencies.Add(await Baseline.SpawnAsync("true", []));
        var get = Stopwatch.StartNew();
        await client.CoreV1.ReadNamespacedPodAsync("exec-target", ns);
        getLatencies.Add(get.Elapsed.TotalMilliseconds);
        var watch = Stopwatch.StartNew();
        var exitCode = await client.NamespacedPodExecAsync("exec-target", ns, "main", ["true"], false,
            (stdin, stdout, stderr) => { stdin.Dispose(); return stdout.CopyToAsync(Stream.Null); }, CancellationToken.None);
        execLatencies.Add(watch.Elapsed.TotalMilliseconds);
        foreach (var (gateway, latencies) in new[] { (perExecGateway, perExecLatencies), (sharedGateway, sharedLatencies) })
        {
            watch.Restart();
            exitCode |= await gateway.ExecAsync(ns, "exec-target", "main", ["true"], null, CancellationToken.None);
            latencies.Add(watch.Elapsed.TotalMilliseconds);
        }
        if (exitCode != 0)
        {
            Console.WriteLine($"exec returned {exitCode}");
        }
    }
    var spawn = Percentile(spawnLatencies, 50);
    Console.WriteLine($"exec round trip (`true`): p50 {Percentile(execLatencies, 50):F1} ms, p99 {Percentile(execLatencies, 99):F1} ms over {settings.Execs} execs; " +
                      $"baseline bare spawn of `true` p50 {spawn:F2} ms, GET of the pod p50 {Percentile(getLatencies, 50):F2} ms; ratio to bare spawn {Percentile(execLatencies, 50) / spawn:F1}x");
    foreach (var (what, latencies) in new[] { ("a connection per exec", perExecLatencies), ("one shared HTTP/2 connection", sharedLatencies) })
    {
        Console.WriteLine($"exec round trip through the runner's gateway, {what}: p50 {Percentile(latencies, 50):F1} ms, p99 {Percentile(latencies, 99):F1} ms; " +
                          $"ratio to bare spawn {Percentile(latencies, 50) / spawn:F1}x");
    }
    // Where an exec's time goes, each way: opening its WebSocket (a connection, TLS and the upgrade; or a stream of the shared
    // connection), then the rest (the command's start, run and exit, the status and the close).
    var clients = new[] { ("a connection per exec", perExecClient), ("one shared HTTP/2 connection", sharedClient) };
    var opening = clients.ToDictionary(c => c.Item1, _ => new List<double>());
    var rest = clients.ToDictionary(c => c.Item1, _ => new List<double>());
    for (var i = 0; i < Math.Min(settings.Execs, 30); i++)
    {
        foreach (var (what, execClient) in clients)
        {
            var watch = Stopwatch.StartNew();
            using var socket = await execClient.WebSocketNamespacedPodExecAsync("exec-target", ns, ["true"], "main",
                webSocketSubProtocol: "v4.channel.k8s.io");
            opening[what].Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            Scheduler.Kubernetes.KubernetesGateway.ExitOf(await Scheduler.Kubernetes.ExecChannels.ReadAsync(socket, null, CancellationToken.None), "exec-target");
            rest[what].Add(watch.Elapsed.TotalMilliseconds);
        }
    }
    foreach (var (what, _) in clients)
    {
        Console.WriteLine($"  {what}: opening the WebSocket p50 {Percentile(opening[what], 50):F1} ms, the rest p50 {Percentile(rest[what], 50):F1} ms");
    }

    // Output through each way: one exec `cat` of --exec-mib MiB, alternated, three times each.
    await sharedGateway.ExecAsync(ns, "exec-target", "main", ["sh", "-c", $"head -c {settings.ExecMiB * 1048576L} /dev/urandom > /tmp/localcluster-bench-bytes"], null, CancellationToken.None);
    var rates = clients.ToDictionary(c => c.Item1, _ => new List<double>());
    for (var i = 0; i < 3; i++)
    {
        foreach (var (what, gateway) in new[] { (clients[0].Item1, perExecGateway), (clients[1].Item1, sharedGateway) })
        {
            long received = 0;
            var watch = Stopwatch.StartNew();
            await gateway.ExecAsync(ns, "exec-target", "main", ["cat", "/tmp/localcluster-bench-bytes"], chunk =>
            {
                received += chunk.Length;
                return Task.CompletedTask;
            }, CancellationToken.None);
            rates[what].Add(received / 1048576.0 / watch.Elapsed.TotalSeconds);
        }
    }
    foreach (var (what, _) in clients)
    {
        Console.WriteLine($"exec `cat` of {settings.ExecMiB} MiB through the gateway, {what}: median {Percentile(rates[what], 50):F0} MiB/s ({string.Join(", ", rates[what].Select(r => r.ToString("F0")))})");
    }
    await client.CoreV1.DeleteNamespacedPodAsync("exec-target", ns, gracePeriodSeconds: 0);

    // 3. many pods at once, after the same number of bare bwrap sandboxes of `sleep` started at once (their baseline).
    var bareMany = File.Exists("/usr/bin/bwrap") ? await Baseline.ManySandboxesAsync(settings.Pods) : TimeSpan.Zero;
    Console.WriteLine($"baseline: {settings.Pods} bare bwrap sandboxes of `sleep` started at once, all with their command running after {bareMany.TotalSeconds:F1} s");
    var before = Process.GetCurrentProcess().WorkingSet64;
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var all = Stopwatch.StartNew();
    var names = Enumerable.Range(0, settings.Pods).Select(i => $"many-{i}").ToList();
    foreach (var chunk in names.Chunk(20))
    {
        await Task.WhenAll(chunk.Select(n => client.CoreV1.CreateNamespacedPodAsync(SleepingPod(n), ns)));
    }
    var created = all.Elapsed;
    await Task.WhenAll(names.Select(name => running.WaitAsync(name, TimeSpan.FromMinutes(5))));
    var allRunning = all.Elapsed;
    var cpuStarting = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
    GC.Collect();
    var process = Process.GetCurrentProcess();
    process.Refresh();
    Console.WriteLine($"{settings.Pods} sleeping pods: created in {created.TotalSeconds:F1} s, all Running after {allRunning.TotalSeconds:F1} s " +
                      $"({allRunning / bareMany:F1}x the bare sandboxes); " +
                      $"server CPU {cpuStarting.TotalSeconds:F1} s (API, runtime and this client; not the sandboxes); " +
                      $"server working set {process.WorkingSet64 / 1048576.0:F0} MiB (was {before / 1048576.0:F0} MiB), managed heap {GC.GetTotalMemory(false) / 1048576.0:F0} MiB");
    var deleting = Stopwatch.StartNew();
    foreach (var chunk in names.Chunk(20))
    {
        await Task.WhenAll(chunk.Select(n => client.CoreV1.DeleteNamespacedPodAsync(n, ns, gracePeriodSeconds: 0)));
    }
    while ((await client.CoreV1.ListNamespacedPodAsync(ns)).Items.Count > 0)
    {
        await Task.Delay(100);
    }
    Console.WriteLine($"{settings.Pods} pods deleted (processes gone) in {deleting.Elapsed.TotalSeconds:F1} s " +
                      $"({deleting.Elapsed.TotalMilliseconds / settings.Pods:F1} ms a pod)");
    Console.WriteLine($"API requests served: {server.Requests.Total}");
    await stopWatching.CancelAsync();
}
finally
{
    try { Directory.Delete(stateDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static V1Pod SleepingPod(string name) => BenchPods.Sleeping(name, "host");


static double Percentile(List<double> values, int percentile)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }
    var sorted = values.Order().ToList();
    var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
    return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
}

internal static partial class Baseline
{
    /// <summary>Milliseconds to start a process and wait for its exit, the way the runtime starts one (redirected pipes).</summary>
    public static async Task<double> SpawnAsync(string file, string[] args)
    {
        var watch = Stopwatch.StartNew();
        var startInfo = new ProcessStartInfo(file, args) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(startInfo)!;
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        return watch.Elapsed.TotalMilliseconds;
    }
}

internal static partial class Baseline
{
    /// <summary>
    /// Starts <paramref name="count"/> bare bubblewrap sandboxes of `sleep` at once and returns the time until every one
    /// has forked its command (bwrap's pid-1 init has a child); then kills them through their inits.
    /// </summary>
    public static async Task<TimeSpan> ManySandboxesAsync(int count)
    {
        var watch = Stopwatch.StartNew();
        var sandboxes = new List<Process>();
        for (var i = 0; i < count; i++)
        {
            var startInfo = new ProcessStartInfo("/usr/bin/bwrap", ["--dev-bind", "/", "/", "--proc", "/proc", "--unshare-pid", "--unshare-uts", "--die-with-parent", "sleep", "3600"])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            };
            sandboxes.Add(Process.Start(startInfo)!);
        }
        var inits = new int?[count];
        for (var i = 0; i < count; i++)
        {
            while (true)
            {
                inits[i] ??= Children(sandboxes[i].Id).Cast<int?>().FirstOrDefault();
                if (inits[i] is { } init && Children(init).Count > 0) break;
                await Task.Delay(1);
            }
        }
        var elapsed = watch.Elapsed;
        foreach (var init in inits.OfType<int>()) Kill(init, 9);
        foreach (var sandbox in sandboxes)
        {
            await sandbox.WaitForExitAsync();
            sandbox.Dispose();
        }
        return elapsed;
    }

    private static List<int> Children(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}

internal sealed record BenchArgs(int Pods, int Starts, int Execs, string? ImageArchive = null, int ExecMiB = 64)
{
    public static BenchArgs Parse(string[] args)
    {
        var result = new BenchArgs(500, 50, 100);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--image-archive")
            {
                result = result with { ImageArchive = Path.GetFullPath(args[i + 1]) };
                continue;
            }
            var value = int.Parse(args[i + 1]);
            result = args[i] switch
            {
                "--pods" => result with { Pods = value },
                "--starts" => result with { Starts = value },
                "--execs" => result with { Execs = value },
                "--exec-mib" => result with { ExecMiB = value },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return result;
    }
}

internal static class BenchPods
{
    public static V1Pod Sleeping(string name, string image) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            RestartPolicy = "Never",
            TerminationGracePeriodSeconds = 0,
            Containers = [new V1Container { Name = "main", Image = image, ImagePullPolicy = "IfNotPresent", Command = ["sleep", "3600"] }],
        },
    };
}

/// <summary>Pod start in a cached image against the host, and the disk that pods of one image use.</summary>
internal static class ImageBench
{
    private const string Image = "bench.local/image:1";
    private const string HostImage = "scheduler:bench";

    public static async Task RunAsync(string archive, int starts, string stateDir)
    {
        try
        {
            var load = Stopwatch.StartNew();
            var loaded = await new Scheduler.LocalCluster.Images.ImageStore(stateDir, Environment.IsPrivilegedProcess).LoadAsync(archive, Image, CancellationToken.None);
            Console.WriteLine($"load and unpack {new FileInfo(archive).Length / 1048576.0:F1} MiB archive: {load.Elapsed.TotalMilliseconds:F0} ms ({loaded.ManifestDigest})");
            await using var server = await LocalClusterServer.StartAsync(new LocalClusterOptions
            {
                StateDir = stateDir,
                Node = new NodeSettings { StateDir = stateDir, UseImages = true },
                RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
            });
            using var client = new Kubernetes(server.ClientConfiguration());
            var inImage = new List<double>();
            var onHost = new List<double>();
            for (var i = 0; i < starts; i++)
            {
                foreach (var (image, latencies) in new[] { (Image, inImage), (HostImage, onHost) })
                {
                    var name = $"start-{latencies.Count}-{(image == Image ? "image" : "host")}";
                    var watch = Stopwatch.StartNew();
                    await client.CoreV1.CreateNamespacedPodAsync(BenchPods.Sleeping(name, image), "default");
                    await WaitRunning(client, name);
                    latencies.Add(watch.Elapsed.TotalMilliseconds);
                    await client.CoreV1.DeleteNamespacedPodAsync(name, "default", gracePeriodSeconds: 0);
                }
            }
            Console.WriteLine($"pod create -> Running over {starts} pods each: cached image p50 {P50(inImage):F1} ms, host p50 {P50(onHost):F1} ms");
            while ((await client.CoreV1.ListNamespacedPodAsync("default")).Items.Count > 0) await Task.Delay(100);

            var names = Enumerable.Range(0, 20).Select(i => $"disk-{i}").ToList();
            await Task.WhenAll(names.Select(n => client.CoreV1.CreateNamespacedPodAsync(BenchPods.Sleeping(n, Image), "default")));
            foreach (var name in names) await WaitRunning(client, name);
            Console.WriteLine($"20 running pods of the image: pods' dirs {DiskKiB(Path.Combine(stateDir, "pods")) / 1024.0:F1} MiB, " +
                              $"image store {DiskKiB(Path.Combine(stateDir, "images")) / 1024.0:F1} MiB (unpacked tree {DiskKiB(loaded.RootFs) / 1024.0:F1} MiB)");
        }
        finally
        {
            try { Directory.Delete(stateDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task WaitRunning(Kubernetes client, string name)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await client.CoreV1.ReadNamespacedPodAsync(name, "default")).Status?.Phase != "Running")
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"pod {name} not Running");
            await Task.Delay(5);
        }
    }

    private static double P50(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);

    // du counts each hard-linked or shared block once, as the disk does.
    private static long DiskKiB(string path)
    {
        using var du = Process.Start(new ProcessStartInfo("du", ["-sk", path]) { RedirectStandardOutput = true })!;
        var text = du.StandardOutput.ReadToEnd();
        du.WaitForExit();
        return long.TryParse(text.Split('\t')[0], out var kib) ? kib : -1;
    }
}

/// <summary>One watch of the namespace's pods; tells each waiter when its pod is first seen Running.</summary>
internal sealed class RunningWatch
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _running = new();

    public RunningWatch(Kubernetes client, string ns, CancellationToken stop)
    {
        _ = Task.Run(async () =>
        {
            string? resourceVersion = null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await foreach (var (_, pod) in client.CoreV1.WatchListNamespacedPodAsync(ns, resourceVersion: resourceVersion, cancellationToken: stop))
                    {
                        resourceVersion = pod.Metadata.ResourceVersion;
                        if (pod.Status?.Phase == "Running") Entry(pod.Metadata.Name).TrySetResult();
                    }
                }
                catch (Exception exception) when (exception is OperationCanceledException or HttpRequestException or IOException)
                {
                    // Stopped, or the watch broke: watch again from the last version seen.
                }
            }
        });
    }

    public Task WaitAsync(string name, TimeSpan timeout) => Entry(name).Task.WaitAsync(timeout);

    private TaskCompletionSource Entry(string name) => _running.GetOrAdd(name, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
