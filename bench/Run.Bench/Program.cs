// One program for the run benchmarks: pickup, the trace, and the trace's baselines (raw exec cat, PATCH loop), which must
// run in the same process and conditions as the figures they are compared with.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using k8s;
using Scheduler.Actors.Execution;
using Scheduler.Exec;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Hosting;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Run;

// Usage: run-bench [--jobs N] [--check-interval S] [--trace-mib N] [--ceilings 0|1] [--runner-process 0|1] [--runner-warm-ups N]
//   [--runner-jit-tiers 0|1|2] (2, the default: the runner process once with the JIT's tiers, as shipped, once without)
//   (--jobs 0: the trace figures only; --ceilings 0: without the two baselines, e.g. to profile the trace alone;
//   --runner-process 0: without the trace of a `scheduler run` in its own process, whose CPU is the runner's alone)
// `scheduler run` in-process (RunHost) against the fake GitLab, on the embedded cluster in the same process. Prints:
//   pickup latency (job queued in GitLab → its pod created) over --jobs jobs run one after another, first polling every
//   --check-interval seconds, then with Workhorse-style long polling;
//   trace throughput of one job printing --trace-mib MiB (first byte at GitLab → final update accepted), and the runner
//   process's CPU seconds per MiB (this process: runner, fake GitLab and embedded API server; not the pod's processes),
//   beside two baselines from the same run: a raw exec `cat` of the same bytes (the transport's ceiling) and the fake GitLab
//   taking the same bytes as PATCHes from a plain loop (the upload's ceiling).
var options = BenchArgs.Parse(args);
MaskingAlone(options.TraceMiB);
var root = Directory.CreateTempSubdirectory("run-bench-").FullName;
try
{
    await using var cluster = await EmbeddedCluster.StartAsync(Path.Combine(root, "cluster"), CancellationToken.None);
    Console.WriteLine($"embedded cluster at {cluster.Url}; {Environment.ProcessorCount} cores; {DateTime.UtcNow:u}");

    foreach (var longPoll in options.Jobs > 0 ? new[] { false, true } : [])
    {
        await using var gitLab = await FakeGitLabServer.StartAsync();
        gitLab.LongPollTimeout = longPoll ? TimeSpan.FromSeconds(50) : TimeSpan.Zero;
        var token = gitLab.AddRunner();
        await using var host = Start(cluster, gitLab, token, options.CheckIntervalSeconds, outputLimitKiB: 4096);
        using var pods = new PodCreations(cluster);
        await Task.Delay(TimeSpan.FromSeconds(options.CheckIntervalSeconds + 1)); // the first empty answer: last_update is known

        var latencies = new List<double>();
        var failed = 0;
        for (var i = 0; i < options.Jobs; i++)
        {
            var queued = Stopwatch.GetTimestamp();
            var job = gitLab.EnqueueJob(token, new FakeJobBuilder().Variable("GIT_STRATEGY", "none").Script("true"));
            var created = await pods.WaitForAsync(job.Id, TimeSpan.FromSeconds(120));
            latencies.Add(Stopwatch.GetElapsedTime(queued, created).TotalMilliseconds);
            await WaitAsync(() => job.IsFinished, TimeSpan.FromSeconds(120));
            failed += job.Status == "success" ? 0 : 1;
            // Spread the queue times over the polling period, as jobs arrive in real life.
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)(options.CheckIntervalSeconds * 1000))));
        }

        Console.WriteLine($"pickup latency, {(longPoll ? "long polling (50 s)" : $"polling every check_interval = {options.CheckIntervalSeconds} s")}, " +
                          $"{options.Jobs} jobs one at a time: p50 {Percentile(latencies, 50):F0} ms, p95 {Percentile(latencies, 95):F0} ms, " +
                          $"min {latencies.Min():F0} ms, max {latencies.Max():F0} ms{(failed > 0 ? $"; {failed} jobs FAILED" : "")}");
    }

    {
        var bytes = options.TraceMiB * 1024L * 1024;
        // Each figure is taken after a first, untimed pass of the same path with 16 MiB, as a runner that has been up a while
        // runs it: a first pass is mostly the JIT's tiered recompilation of the hot code (a third of the CPU in a profile).
        const long warmUp = 16L * 1024 * 1024;
        if (options.Ceilings)
        {
            await TransportCeilingAsync(cluster, warmUp, print: false);
            await TransportCeilingAsync(cluster, bytes, print: true);
            await UploadCeilingAsync(warmUp, print: false);
            await UploadCeilingAsync(bytes, print: true);
        }

        await using var gitLab = await FakeGitLabServer.StartAsync();
        // GitLab's trace update interval while someone watches the job (the fake's default, 1 s, is shorter than any GitLab's).
        gitLab.TraceUpdateIntervalSeconds = 3;
        var token = gitLab.AddRunner();
        await using var host = Start(cluster, gitLab, token, options.CheckIntervalSeconds, outputLimitKiB: (int)(bytes / 1024) + 1024);
        await TraceJobAsync(gitLab, token, warmUp, "first trace job (cold: the JIT's tiers at work)", root, profiled: false);
        await TraceJobAsync(gitLab, token, bytes, "trace", root, profiled: true);
    }

    foreach (var jitTiers in options.RunnerProcess ? options.RunnerJitTiers : [])
    {
        // The same trace with `scheduler run` in a process of its own, against the same embedded cluster and a fake GitLab
        // in this process: the runner's CPU is counted apart from the fakes' (the exec relay, Kestrel on both sides).
        var bytes = options.TraceMiB * 1024L * 1024;
        const long warmUp = 16L * 1024 * 1024;
        await using var gitLab = await FakeGitLabServer.StartAsync();
        gitLab.TraceUpdateIntervalSeconds = 3;
        var token = gitLab.AddRunner();
        await using var runner = await RunnerProcess.StartAsync(Path.Combine(root, $"runner-{jitTiers}"), cluster.KubeconfigPath, gitLab.Url, token,
            outputLimitKiB: (int)(bytes / 1024) + 1024, jitTiers);
        var tiers = jitTiers ? "the JIT's tiers on" : "the JIT's tiers off";
        // A runner that has been up a while has compiled its hot code at its last tier; a first 16 MiB does not get there
        // (the JIT still compiled ~2,000 methods during a 100 MiB trace after two such jobs), so the runner warms up longer.
        for (var i = 1; i <= (jitTiers ? options.RunnerWarmUps : 1); i++)
        {
            await TraceJobAsync(gitLab, token, 2 * warmUp, $"warm-up trace job {i}, runner in its own process ({tiers})", root,
                profiled: false, runner.Process);
        }

        // RUN_BENCH_RUNNER_PERF names a perf.data file: the runner process alone is sampled during its timed trace (with
        // DOTNET_PerfMapEnabled=1 in the environment, perf names the JIT's frames).
        using var perf = RunnerProfile.Start(Environment.GetEnvironmentVariable("RUN_BENCH_RUNNER_PERF"), runner.Process.Id);
        var fakesCpuPerMiB = await TraceJobAsync(gitLab, token, bytes, $"trace, runner in its own process ({tiers})", root, profiled: false, runner.Process);
        // The embedded cluster and the fake GitLab stand in for an API server and a GitLab on other machines, but here they
        // share the cores: with a runner at the aim's CPU per MiB beside them, this is the fastest a trace can go here.
        const double aimCpuPerMiB = 0.005;
        Console.WriteLine($"  a runner at the aim's {aimCpuPerMiB} CPU s per MiB beside these fakes ({fakesCpuPerMiB:F4}) would need " +
                          $"{aimCpuPerMiB + fakesCpuPerMiB:F4} CPU s per MiB of this machine: its {Environment.ProcessorCount} cores allow at most " +
                          $"{Environment.ProcessorCount / (aimCpuPerMiB + fakesCpuPerMiB):F0} MiB/s");
    }
}
finally
{
    try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

// One job printing `bytes` through the whole path, timed from its first byte at GitLab to the final update accepted.
// Returns this process's CPU seconds per MiB (with a runner process: the fakes' alone).
static async Task<double> TraceJobAsync(FakeGitLabServer gitLab, string token, long bytes, string label, string root, bool profiled,
    Process? runner = null)
{
    var before = LogTimeline.Existing(root);
    var queued = Stopwatch.GetTimestamp();
    var queuedUtc = DateTime.UtcNow;
    var job = gitLab.EnqueueJob(token, new FakeJobBuilder().Variable("GIT_STRATEGY", "none").Script(TraceScript(bytes)));
    // Where the time goes, from timestamps: when the pod's output log (on the node, under the cluster's state directory)
    // held the job's bytes, beside when GitLab did. A log written long before GitLab has it means the read and relay bound it.
    using var stopSampling = new CancellationTokenSource();
    var timeline = Task.Run(() => LogTimeline.SampleAsync(root, before, queued, bytes, job.Id, stopSampling.Token));
    await WaitAsync(() => job.TraceLength > 0, TimeSpan.FromSeconds(120));
    var firstAtGitLab = Stopwatch.GetTimestamp();
    if (profiled) PerfControl.Send("enable");
    var process = Process.GetCurrentProcess();
    process.Refresh();
    var cpuBefore = process.TotalProcessorTime;
    runner?.Refresh();
    var runnerCpuBefore = runner?.TotalProcessorTime ?? TimeSpan.Zero;
    var clock = Stopwatch.StartNew();
    // When GitLab holds as many bytes as the job printed (the stream), then when the final update is accepted (the job's end:
    // the last log read, the pod's deletion, the final PATCH and PUT). Counted from the patches' bodies, not the trace: a copy
    // of the whole trace every poll would be most of the CPU measured.
    var patchPath = $"/jobs/{job.Id}/trace";
    await WaitAsync(() => job.IsFinished || gitLab.RequestsTo(FakeEndpoint.PatchTrace)
        .Where(r => r.Status == 202 && r.Path.EndsWith(patchPath, StringComparison.Ordinal)).Sum(r => (long)r.Body.Length) >= bytes, TimeSpan.FromMinutes(30));
    var streamed = clock.Elapsed;
    var allAtGitLab = Stopwatch.GetTimestamp();
    await WaitAsync(() => job.IsFinished, TimeSpan.FromMinutes(30));
    var elapsed = clock.Elapsed;
    if (profiled) PerfControl.Send("disable");
    process.Refresh();
    var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
    runner?.Refresh();
    var runnerCpu = runner is null ? 0 : (runner.TotalProcessorTime - runnerCpuBefore).TotalSeconds;
    var trace = job.TraceBytes();
    var received = trace.Length / 1024.0 / 1024.0;
    var checksumOk = TraceChecksum.Of(trace) == job.Checksum;
    var patches = gitLab.RequestsTo(FakeEndpoint.PatchTrace).Count(r => r.Path.EndsWith(patchPath, StringComparison.Ordinal));
    await stopSampling.CancelAsync();
    var log = await timeline;
    Console.WriteLine($"{label} of {bytes / 1048576.0:F0} MiB: {received:F1} MiB at GitLab ({job.Status}, checksum {(checksumOk ? "matches" : "DIFFERS")}) " +
                      $"in {elapsed.TotalSeconds:F1} s after the first byte: {received / elapsed.TotalSeconds:F1} MiB/s " +
                      $"(the job's bytes all at GitLab after {streamed.TotalSeconds:F1} s: {bytes / 1048576.0 / streamed.TotalSeconds:F1} MiB/s); {patches} PATCHes; " +
                      (runner is null
                          ? $"process CPU {cpu:F1} s = {cpu / received:F3} CPU s per MiB"
                          : $"the runner's process CPU {runnerCpu:F2} s = {runnerCpu / received:F4} CPU s per MiB, the fakes' (this process: " +
                            $"embedded cluster, fake GitLab) {cpu:F2} s = {cpu / received:F4}, together {(cpu + runnerCpu) / received:F4}"));
    Console.WriteLine($"  where the time went: {log.Describe(bytes, firstAtGitLab, allAtGitLab)}");
    if (runner is not null && Environment.GetEnvironmentVariable("RUN_BENCH_RUNNER_JIT_LIST") is { Length: > 0 } jitList && File.Exists(jitList))
    {
        Console.WriteLine($"  methods the runner's JIT compiled so far: {File.ReadLines(jitList).Count()}");
    }

    var jobPatches = gitLab.RequestsTo(FakeEndpoint.PatchTrace).Where(r => r.Path.EndsWith(patchPath, StringComparison.Ordinal)).ToList();
    Console.WriteLine($"  the upload: {PatchTimeline.Describe(jobPatches)}");
    Console.WriteLine($"  the job's bytes in the log, read by the runner and at GitLab: {log.Progress(bytes, queuedUtc, jobPatches)}");
    return cpu / received;
}

// 100-byte lines: 99 characters and a newline (`yes` ends on SIGPIPE when `head` has enough: not a failure of the job).
static string TraceScript(long bytes) => $"(yes {new string('x', 98)} || true) | head -c {bytes}";

// The transport's ceiling: the same bytes, written to a file in a pod first, then read by one exec `cat` through the same
// embedded cluster and the runner's exec client (KubernetesGateway, ExecChannels), each chunk dropped on arrival.
static async Task TransportCeilingAsync(Scheduler.LocalCluster.LocalClusterServer cluster, long bytes, bool print)
{
    using var client = new Kubernetes(cluster.ClientConfiguration());
    var pod = $"bench-exec-cat-{(print ? "timed" : "warm-up")}";
    await client.CoreV1.CreateNamespacedPodAsync(new k8s.Models.V1Pod
    {
        Metadata = new k8s.Models.V1ObjectMeta { Name = pod },
        Spec = new k8s.Models.V1PodSpec
        {
            RestartPolicy = "Never",
            TerminationGracePeriodSeconds = 0,
            Containers = [new k8s.Models.V1Container { Name = "main", Image = "alpine:3.20", Command = ["sleep", "3600"] }],
        },
    }, "default");
    var deadline = DateTime.UtcNow.AddMinutes(2);
    while ((await client.CoreV1.ReadNamespacedPodAsync(pod, "default")).Status?.Phase != "Running")
    {
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("the exec target pod did not start");
        }

        await Task.Delay(20);
    }

    var gateway = ExecGateways.Create(cluster.ClientConfiguration()).For(new RunnerEntry { Name = "bench", Url = "http://127.0.0.1/", Token = "x" }, null);
    await gateway.ExecAsync("default", pod, "main", ["sh", "-c", $"{TraceScript(bytes)} > /tmp/bytes"], null, CancellationToken.None);
    long received = 0, reads = 0;
    var process = Process.GetCurrentProcess();
    var cpuBefore = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    // As the trace's log reader execs: a streaming exec (its own connection on the embedded cluster).
    var code = await gateway.ExecStreamingAsync("default", pod, "main", ["cat", "/tmp/bytes"], chunk =>
    {
        received += chunk.Length;
        reads++;
        return Task.CompletedTask;
    }, CancellationToken.None);
    var seconds = clock.Elapsed.TotalSeconds;
    process.Refresh();
    var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
    var mib = received / 1048576.0;
    if (print)
    {
        Console.WriteLine($"baseline, raw exec cat of the same bytes (the transport's ceiling): {mib:F1} MiB (exit {code}) in {seconds:F2} s = " +
                          $"{mib / seconds:F1} MiB/s in {reads} chunks ({received / Math.Max(1, reads) / 1024.0:F1} KiB each); " +
                          $"process CPU {cpu:F2} s = {cpu / mib:F4} CPU s per MiB");
    }

    await client.CoreV1.DeleteNamespacedPodAsync(pod, "default");
}

// The upload's ceiling: the fake GitLab taking the same bytes as 1 MiB PATCHes (the listener's patch size) from a plain
// loop, one after another, through the runner's GitLab client.
static async Task UploadCeilingAsync(long bytes, bool print)
{
    await using var gitLab = await FakeGitLabServer.StartAsync();
    var token = gitLab.AddRunner();
    gitLab.EnqueueJob(token, new FakeJobBuilder().Script("true"));
    var identity = new RunnerIdentity("bench", "bench", "amd64", "scheduler");
    GitLabUrl.TryApiBase(gitLab.Url, out var apiBase, out _);
    var client = new GitLabClient(GitLabHttp.CreateClient(), apiBase!, new GitLabClientOptions(identity, "s_0123456789ab"));
    if (await client.RequestJobAsync(token, null) is not RequestJobResult.Received { Job: var job })
    {
        throw new InvalidOperationException("the fake GitLab handed out no job");
    }

    await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(Scheduler.GitLab.JobState.Running));
    var content = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 98) + " \n", TraceUploadState.MaxPatchBytes / 100 + 1)))
        .AsMemory(0, TraceUploadState.MaxPatchBytes);
    var process = Process.GetCurrentProcess();
    var cpuBefore = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    long sent = 0;
    while (sent < bytes)
    {
        var length = (int)Math.Min(content.Length, bytes - sent);
        var result = await client.PatchTraceAsync(job.Id, job.Token, sent, content[..length]);
        if (result.Outcome != PatchOutcome.Accepted)
        {
            throw new InvalidOperationException($"the fake GitLab refused a patch: {result.StatusCode} {result.Message}");
        }

        sent += length;
    }

    var seconds = clock.Elapsed.TotalSeconds;
    process.Refresh();
    var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
    var mib = sent / 1048576.0;
    if (print)
    {
        Console.WriteLine($"baseline, the fake GitLab taking the same bytes in 1 MiB PATCHes from a loop (the upload's ceiling): {mib:F1} MiB in " +
                          $"{seconds:F2} s = {mib / seconds:F1} MiB/s; process CPU {cpu:F2} s = {cpu / mib:F4} CPU s per MiB");
    }
}

// The runner's own work per trace byte, without the transport: masking (two secret values, GitLab's token prefixes, the
// sensitive URL parameters) of 100-byte lines in 64 KiB chunks, and the CRC32 the listener keeps.
static void MaskingAlone(int mib)
{
    var line = System.Text.Encoding.ASCII.GetBytes(new string('x', 98) + " \n");
    var chunk = Enumerable.Range(0, 64 * 1024).Select(i => line[i % line.Length]).ToArray();
    var chunks = mib * 16;
    var masker = new Scheduler.Actors.Trace.TraceMasker(Scheduler.Actors.Trace.TraceMaskRules.For(["glcbt-64_0123456789abcdefghij", "s3cr3t-value"], []));
    var output = new System.Buffers.ArrayBufferWriter<byte>(chunk.Length);
    var checksum = new Scheduler.Actors.Trace.TraceCrc32();
    // Passes first, and a pause for the JIT's background tier-up: the timed passes run optimised code, not the first tier
    // (System.IO.Hashing's vectorised CRC32 is ~40 times slower there).
    for (var round = 0; round < 3; round++)
    {
        for (var i = 0; i < 256; i++)
        {
            output.ResetWrittenCount();
            masker.Process(chunk, output);
            new Scheduler.Actors.Trace.TraceCrc32().Append(chunk);
        }

        Thread.Sleep(300);
    }

    var clock = Stopwatch.StartNew();
    for (var i = 0; i < chunks; i++)
    {
        output.ResetWrittenCount();
        masker.Process(chunk, output);
    }

    var maskSeconds = clock.Elapsed.TotalSeconds;
    clock.Restart();
    for (var i = 0; i < chunks; i++)
    {
        checksum.Append(chunk);
    }

    var crcSeconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"masking alone: {mib} MiB in {maskSeconds:F2} s = {mib / maskSeconds:F0} MiB/s; CRC32 alone: {mib / crcSeconds:F0} MiB/s");
}

static RunHost Start(Scheduler.LocalCluster.LocalClusterServer cluster, FakeGitLabServer gitLab, string token, int checkInterval, int outputLimitKiB)
{
    var identity = new RunnerIdentity("bench", "bench", "amd64", "scheduler");
    var entry = new RunnerEntry
    {
        Name = "bench",
        Url = gitLab.Url,
        Token = token,
        OutputLimit = outputLimitKiB,
        Kubernetes = new KubernetesSettings { Namespace = "default", Image = "alpine:3.20" },
    };
    var settings = new GlobalSettings { Concurrent = 1, CheckInterval = checkInterval, ShutdownTimeout = 5, Runners = [entry] };
    return RunHost.Start(settings, new RunHostOptions(ExecGateways.Create(cluster.ClientConfiguration()),
        new ExecutionOptions(identity, ExecHelper.ForThisProcess()), GitLabHttp.CreateClient(), identity, "s_0123456789ab"));
}

static async Task WaitAsync(Func<bool> condition, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (!condition())
    {
        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("the bench waited too long");
        }

        await Task.Delay(10);
    }
}

static double Percentile(IEnumerable<double> values, int percentile)
{
    var sorted = values.Order().ToList();
    var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
    return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp(index, 0, sorted.Count - 1)];
}

/// <summary>
/// The pod's output log as it grew (sampled on the node every few ms) beside the first byte at the listener's GitLab: when
/// the log began and when it held every byte, so the writer's time and the read-relay-upload's lag show apart.
/// </summary>
internal sealed record LogTimeline(long Queued, long LogFirstByte, long LogComplete, long LogLength, IReadOnlyList<(long At, long Length)> Samples,
    IReadOnlyList<(long At, long Length)> TraceFileSamples)
{
    private static readonly EnumerationOptions Search = new() { RecurseSubdirectories = true, IgnoreInaccessible = true };

    /// <summary>The output logs on the node now: the job's is the one that appears after these.</summary>
    public static HashSet<string> Existing(string root) => [.. Directory.EnumerateFiles(root, "output.log", Search)];

    public static async Task<LogTimeline> SampleAsync(string root, HashSet<string> before, long queued, long bytes, long jobId, CancellationToken stop)
    {
        string? path = null;
        long first = 0, complete = 0, length = 0;
        var samples = new List<(long At, long Length)>();
        // The listener's trace file (GitLabJobTrace.DefaultTraceDirectory): what the runner had read and masked so far.
        // Files left by runs that were killed may carry the same job id: only a file that appears now is the job's.
        var traceDirectory = GitLabJobTrace.DefaultTraceDirectory;
        var oldTraces = Directory.Exists(traceDirectory) ? Directory.GetFiles(traceDirectory, $"job-{jobId}-*.trace").ToHashSet() : [];
        string? tracePath = null;
        var traceSamples = new List<(long At, long Length)>();
        var traceLength = 0L;
        while (!stop.IsCancellationRequested && (complete == 0 || traceLength < bytes))
        {
            try
            {
                tracePath ??= Directory.Exists(traceDirectory)
                    ? Directory.EnumerateFiles(traceDirectory, $"job-{jobId}-*.trace").FirstOrDefault(f => !oldTraces.Contains(f))
                    : null;
                if (tracePath is not null)
                {
                    traceLength = new FileInfo(tracePath).Length;
                    traceSamples.Add((Stopwatch.GetTimestamp(), traceLength));
                }
            }
            catch (IOException)
            {
                // The listener deleted its file: the job is over.
                traceLength = long.MaxValue;
            }

            try
            {
                path ??= Directory.EnumerateFiles(root, "output.log", Search).FirstOrDefault(p => !before.Contains(p));
                if (path is not null)
                {
                    length = new FileInfo(path).Length;
                    samples.Add((Stopwatch.GetTimestamp(), length));
                    if (length > 0 && first == 0) first = Stopwatch.GetTimestamp();
                    if (length >= bytes && complete == 0) complete = Stopwatch.GetTimestamp();
                }
            }
            catch (IOException)
            {
                // The pod's directory went away under the search.
            }

            try
            {
                await Task.Delay(path is null ? 20 : 2, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return new LogTimeline(queued, first, complete, length, samples, traceSamples);
    }

    /// <summary>When the pod's log, the runner's trace file (read, masked, handed to the listener) and GitLab each held 1 %, a
    /// quarter, half, three quarters and all of the job's bytes (seconds after the job was queued): the reader's lag and the
    /// upload's apart; a lag that stays the same points at a start, one that grows at a rate.</summary>
    public string Progress(long bytes, DateTime queuedUtc, IReadOnlyList<RecordedRequest> patches)
    {
        string Log(long length) => Samples.FirstOrDefault(s => s.Length >= length) is { At: > 0 } sample
            ? $"{Stopwatch.GetElapsedTime(Queued, sample.At).TotalSeconds:F2}"
            : "-";
        // The trace file begins with the runner's header (a few hundred bytes), so it lags the log by at most that much.
        string Read(long length) => TraceFileSamples.FirstOrDefault(s => s.Length >= length) is { At: > 0 } sample
            ? $"{Stopwatch.GetElapsedTime(Queued, sample.At).TotalSeconds:F2}"
            : "-";
        var atGitLab = patches.Where(p => p.Status == 202).OrderBy(p => p.ReceivedAt).ToList();
        string GitLab(long length)
        {
            long sum = 0;
            foreach (var patch in atGitLab)
            {
                sum += patch.Body.Length;
                if (sum >= length) return $"{(patch.ReceivedAt - queuedUtc).TotalSeconds:F2}";
            }

            return "-";
        }

        // GitLab's trace begins with the runner's header: the job's bytes are at most that much behind the log's.
        return string.Join(", ", new[] { 1, 25, 50, 75, 100 }.Select(percent =>
        {
            var length = bytes * percent / 100;
            return $"{percent} %: log {Log(length)} s, runner's trace file {Read(length)} s, GitLab {GitLab(length)} s";
        }));
    }

    /// <summary>Each moment in seconds after the job was queued.</summary>
    public string Describe(long bytes, long firstAtGitLab, long allAtGitLab)
    {
        string At(long timestamp) => $"{Stopwatch.GetElapsedTime(Queued, timestamp).TotalSeconds:F2} s";
        if (LogFirstByte == 0) return "the pod's output log was not found on the node";
        if (LogComplete == 0) return $"the pod's output log reached only {LogLength / 1048576.0:F1} of {bytes / 1048576.0:F0} MiB";
        var writing = Stopwatch.GetElapsedTime(LogFirstByte, LogComplete).TotalSeconds;
        return $"after the job was queued: the pod's log began at {At(LogFirstByte)} and held every byte at {At(LogComplete)} " +
               $"({bytes / 1048576.0 / Math.Max(1e-3, writing):F0} MiB/s); GitLab had its first byte at {At(firstAtGitLab)} " +
               $"and every byte at {At(allAtGitLab)}, {Stopwatch.GetElapsedTime(LogComplete, allAtGitLab).TotalSeconds:F2} s after the log";
    }
}

/// <summary>
/// With RUN_BENCH_PERF_CONTROL naming perf's control FIFO (<c>perf record -D -1 --control fifo:PATH</c>), perf samples only
/// the timed part of the warm trace job: first byte at GitLab → final update accepted.
/// </summary>
internal static class PerfControl
{
    private static readonly string? Fifo = Environment.GetEnvironmentVariable("RUN_BENCH_PERF_CONTROL");

    public static void Send(string command)
    {
        if (!string.IsNullOrEmpty(Fifo))
        {
            File.AppendAllText(Fifo, command + "\n");
        }
    }
}

/// <summary>When each job's pod appeared, from a pod watch on the embedded cluster (Stopwatch timestamps).</summary>
internal sealed class PodCreations : IDisposable
{
    private readonly ConcurrentDictionary<long, long> _created = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Kubernetes _client;

    public PodCreations(Scheduler.LocalCluster.LocalClusterServer cluster)
    {
        _client = new Kubernetes(cluster.ClientConfiguration());
        _ = Task.Run(WatchAsync);
    }

    public async Task<long> WaitForAsync(long jobId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_created.ContainsKey(jobId))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no pod for job {jobId}");
            }

            await Task.Delay(5);
        }

        return _created[jobId];
    }

    public void Dispose()
    {
        _stop.Cancel();
        _client.Dispose();
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var (type, pod) in _client.CoreV1.WatchListNamespacedPodAsync("default", labelSelector: "scheduler/job-id",
                                   cancellationToken: _stop.Token))
                {
                    if (type == WatchEventType.Added && pod.Metadata.Labels is { } labels && labels.TryGetValue("scheduler/job-id", out var label) &&
                        long.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                    {
                        _created.TryAdd(id, Stopwatch.GetTimestamp());
                    }
                }
            }
            catch (Exception) when (!_stop.IsCancellationRequested)
            {
                await Task.Delay(100);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

internal sealed record BenchArgs(int Jobs, int CheckIntervalSeconds, int TraceMiB, bool Ceilings, bool RunnerProcess, int RunnerWarmUps,
    bool[] RunnerJitTiers)
{
    public static BenchArgs Parse(string[] args)
    {
        var result = new BenchArgs(20, 3, 100, true, true, 4, [true, false]);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            result = args[i] switch
            {
                "--jobs" => result with { Jobs = value },
                "--check-interval" => result with { CheckIntervalSeconds = value },
                "--trace-mib" => result with { TraceMiB = value },
                "--ceilings" => result with { Ceilings = value != 0 },
                "--runner-process" => result with { RunnerProcess = value != 0 },
                "--runner-warm-ups" => result with { RunnerWarmUps = value },
                "--runner-jit-tiers" => result with { RunnerJitTiers = value switch { 0 => [false], 1 => [true], _ => [true, false] } },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }

        return result;
    }
}

/// <summary>When the trace's patches reached the fake GitLab: how long the upload waited for bytes between them, which says
/// whether reading (gaps) or uploading (patches back to back) bounded the stream.</summary>
internal static class PatchTimeline
{
    public static string Describe(IReadOnlyList<RecordedRequest> patches)
    {
        var full = patches.Where(p => p.Status == 202).OrderBy(p => p.ReceivedAt).ToList();
        if (full.Count < 3) return $"{full.Count} patches accepted";
        var gaps = full.Zip(full.Skip(1), (a, b) => (b.ReceivedAt - a.ReceivedAt).TotalMilliseconds).Order().ToList();
        var span = (full[^1].ReceivedAt - full[0].ReceivedAt).TotalSeconds;
        var mib = full.Sum(p => (long)p.Body.Length) / 1048576.0;
        return $"{full.Count} patches accepted over {span:F2} s ({mib / Math.Max(1e-3, span):F0} MiB/s between the first and the last); " +
               $"between two: p10 {gaps[gaps.Count / 10]:F1} ms, p50 {gaps[gaps.Count / 2]:F1} ms, p90 {gaps[gaps.Count * 9 / 10]:F1} ms, " +
               $"max {gaps[^1]:F1} ms";
    }
}

/// <summary>`scheduler run --config FILE --kubeconfig KCFG --host-helper` as a child process, so its CPU is its own.</summary>
internal sealed class RunnerProcess : IAsyncDisposable
{
    private readonly Stream[] _logs;
    private readonly Task[] _copies;

    private RunnerProcess(Process process, Stream[] logs, Task[] copies)
    {
        Process = process;
        _logs = logs;
        _copies = copies;
    }

    public Process Process { get; }

    public static async Task<RunnerProcess> StartAsync(string directory, string kubeconfig, string gitLabUrl, string token, int outputLimitKiB,
        bool jitTiers)
    {
        Directory.CreateDirectory(directory);
        var config = Path.Combine(directory, "config.toml");
        await File.WriteAllTextAsync(config, $"""
            concurrent = 1
            check_interval = 1
            log_level = "warn"

            [[runners]]
              name = "bench"
              url = "{gitLabUrl}"
              token = "{token}"
              executor = "kubernetes"
              output_limit = {outputLimitKiB}
              [runners.kubernetes]
                namespace = "default"
                image = "alpine:3.20"
            """);
        // RUN_BENCH_SCHEDULER_DLL runs another build's runner (e.g. main's, for a before/after in the same conditions).
        var dll = Environment.GetEnvironmentVariable("RUN_BENCH_SCHEDULER_DLL") is { Length: > 0 } other
            ? other
            : Path.Combine(AppContext.BaseDirectory, "scheduler.dll");
        var info = new ProcessStartInfo(Scheduler.Helper.HelperLocation.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // RUN_BENCH_RUNNER_JIT_LIST names a file: the runner lists there every method the JIT compiles, with its tier.
        if (!jitTiers)
        {
            // Every method compiled once, fully optimised, when first called: none is recompiled during the timed trace,
            // as in a runner that has been up for many jobs (without the last tier's profile-guided code).
            info.Environment["DOTNET_TieredCompilation"] = "0";
        }

        if (Environment.GetEnvironmentVariable("RUN_BENCH_RUNNER_JIT_LIST") is { Length: > 0 } jitList)
        {
            info.Environment["DOTNET_JitDisasmSummary"] = "1";
            info.Environment["DOTNET_JitStdOutFile"] = jitList;
        }

        foreach (var argument in new[] { dll, "run", "--config", config, "--kubeconfig", kubeconfig, "--host-helper" })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("scheduler run did not start");
        Stream[] logs = [File.Create(Path.Combine(directory, "runner.out")), File.Create(Path.Combine(directory, "runner.err"))];
        Task[] copies = [process.StandardOutput.BaseStream.CopyToAsync(logs[0]), process.StandardError.BaseStream.CopyToAsync(logs[1])];
        return new RunnerProcess(process, logs, copies);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        await Task.WhenAll(_copies);
        foreach (var log in _logs)
        {
            await log.DisposeAsync();
        }

        Process.Dispose();
    }
}

/// <summary>`perf record -g -p PID` over the runner process while it runs the timed trace; stopped (SIGINT) on dispose.</summary>
internal sealed class RunnerProfile : IDisposable
{
    private readonly Process? _perf;

    private RunnerProfile(Process? perf) => _perf = perf;

    public static RunnerProfile Start(string? output, int pid)
    {
        if (string.IsNullOrEmpty(output))
        {
            return new RunnerProfile(null);
        }

        var info = new ProcessStartInfo("perf") { RedirectStandardError = true };
        foreach (var argument in new[] { "record", "-F", "999", "-g", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", output })
        {
            info.ArgumentList.Add(argument);
        }

        var perf = Process.Start(info);
        Thread.Sleep(500); // perf attaches before the trace starts
        return new RunnerProfile(perf);
    }

    public void Dispose()
    {
        if (_perf is null || _perf.HasExited)
        {
            return;
        }

        Process.Start("kill", ["-INT", _perf.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
        _perf.WaitForExit(30_000);
        _perf.Dispose();
    }
}
