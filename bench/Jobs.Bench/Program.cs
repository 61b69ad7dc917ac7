using System.Diagnostics;
using Akka.Actor;
using Scheduler.Actors.Execution;
using Scheduler.Config;
using Scheduler.Exec;
using Scheduler.Hosting;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

// Usage: jobs-bench [--jobs N] [--concurrent N] [--inflight N (0: skip)] [--sleep SECONDS]
// Starts the embedded cluster in-process and runs jobs through the actor tree (RunnerSupervisor), printing:
//   a baseline: `sh -c true` and a `git clone` of the bench repository, bare on this machine;
//   throughput of --jobs trivial jobs (`true`) with `concurrent = --concurrent`: jobs per second, wall time per job,
//   time in stages vs. scheduler overhead per job, time per stage, Kubernetes API requests per job;
//   --inflight jobs sleeping --sleep seconds at once: the runner's memory per job in flight.
var settings = BenchArgs.Parse(args);
var root = Directory.CreateTempSubdirectory("jobs-bench-").FullName;
// The pods, as the embedded cluster's non-root user, clone the repository below by its path.
if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
try
{
    var repoDir = Directory.CreateDirectory(Path.Combine(root, "repo")).FullName;
    Git(repoDir, "init", "-q", "-b", "main");
    await File.WriteAllTextAsync(Path.Combine(repoDir, "README"), "bench\n");
    Git(repoDir, "add", "README");
    Git(repoDir, "commit", "-q", "-m", "bench");
    var repository = (await GitRepository.ReadAsync(repoDir, CancellationToken.None)).Info!;

    await using var server = await EmbeddedCluster.StartAsync(Path.Combine(root, "cluster"), CancellationToken.None);
    Console.WriteLine($"embedded cluster at {server.Url}; {Environment.ProcessorCount} cores");

    // 0. Baseline: what a trivial job's stages do at the least, run bare on this machine (no pod, no exec): a shell that
    //    does nothing, and a clone of the same repository.
    {
        var clones = Directory.CreateDirectory(Path.Combine(root, "baseline")).FullName;
        var shell = Enumerable.Range(0, 10).Select(_ => Timed("sh", ["-c", "true"], clones)).ToList();
        var clone = Enumerable.Range(0, 10).Select(i => Timed("git", ["clone", "-q", repoDir, Path.Combine(clones, $"c{i}")], clones)).ToList();
        Console.WriteLine($"baseline, bare on this machine, p50 of 10: sh -c true {Percentile(shell, 50):F0} ms, " +
                          $"git clone of the bench repository {Percentile(clone, 50):F0} ms");
    }

    // 1. Throughput, overhead and API cost of trivial jobs.
    {
        await using var session = Start(settings.Concurrent, server);
        var trivial = Job(repository, "job: { script: [\"true\"] }", "job");
        server.Requests.Reset();
        var clock = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, settings.Jobs).Select(_ => TimedRun.RunAsync(session, trivial())));
        var elapsed = clock.Elapsed;
        var requests = server.Requests.Snapshot();
        var failed = runs.Count(r => r.Result.State != JobState.Success);
        Console.WriteLine($"{settings.Jobs} trivial jobs, concurrent = {settings.Concurrent}: {elapsed.TotalSeconds:F1} s, " +
                          $"{settings.Jobs / elapsed.TotalSeconds:F2} jobs/s{(failed > 0 ? $", {failed} FAILED: {runs.First(r => r.Result.State != JobState.Success).Result.Message}" : "")}");
        Console.WriteLine($"  per job: wall p50 {Percentile(runs.Select(r => r.Wall.TotalMilliseconds), 50):F0} ms, " +
                          $"in stages p50 {Percentile(runs.Select(r => r.InStages.TotalMilliseconds), 50):F0} ms, " +
                          $"overhead (wall - stages) p50 {Percentile(runs.Select(r => (r.Wall - r.InStages).TotalMilliseconds), 50):F0} ms, " +
                          $"p99 {Percentile(runs.Select(r => (r.Wall - r.InStages).TotalMilliseconds), 99):F0} ms");
        var stageNames = runs.SelectMany(r => r.PerStage.Keys).Distinct().ToList();
        Console.WriteLine("  per stage p50 (p90): " + string.Join(", ", stageNames.Select(name =>
        {
            var times = runs.Where(r => r.PerStage.ContainsKey(name)).Select(r => r.PerStage[name].TotalMilliseconds).ToList();
            return $"{name} {Percentile(times, 50):F0} ({Percentile(times, 90):F0}) ms";
        })));
        var resourceRequests = requests.Where(kv => !kv.Key.Contains("discovery", StringComparison.Ordinal)).Sum(kv => kv.Value);
        Console.WriteLine($"  Kubernetes API requests per job: {resourceRequests / (double)settings.Jobs:F1} " +
                          $"({string.Join(", ", requests.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value / (double)settings.Jobs:F1}"))})");
    }

    // 2. Memory per job in flight (--inflight 0 skips it).
    if (settings.InFlight > 0)
    {
        await using var session = Start(settings.InFlight, server);
        var sleeping = Job(repository, $"job: {{ script: [\"sleep {settings.SleepSeconds}\"] }}", "job");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var process = Process.GetCurrentProcess();
        var heapBefore = GC.GetTotalMemory(true);
        process.Refresh();
        var workingSetBefore = process.WorkingSet64;
        var started = new CountdownEvent(settings.InFlight);
        var clock = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, settings.InFlight)
            .Select(_ => TimedRun.RunAsync(session, sleeping(), stage => { if (stage == "step_script") started.Signal(); }))
            .ToList();
        var allStarted = await Task.Run(() => started.Wait(TimeSpan.FromSeconds(settings.SleepSeconds * 2 + 120)));
        var heapDuring = GC.GetTotalMemory(true);
        process.Refresh();
        var workingSetDuring = process.WorkingSet64;
        Console.WriteLine($"{settings.InFlight} sleeping jobs in flight ({(allStarted ? "all" : settings.InFlight - started.CurrentCount + "")} in step_script after {clock.Elapsed.TotalSeconds:F1} s): " +
                          $"runner managed heap +{(heapDuring - heapBefore) / 1024.0 / settings.InFlight:F0} KiB per job, " +
                          $"process working set +{(workingSetDuring - workingSetBefore) / 1024.0 / settings.InFlight:F0} KiB per job " +
                          "(the embedded cluster shares the process: its per-pod state is included)");
        var results = await Task.WhenAll(runs);
        Console.WriteLine($"  all {results.Length} ended after {clock.Elapsed.TotalSeconds:F1} s; {results.Count(r => r.Result.State == JobState.Success)} succeeded");
    }
}
finally
{
    try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static ExecSession Start(int concurrent, Scheduler.LocalCluster.LocalClusterServer server)
{
    var config = ConfigLoader.LoadText($"""
        concurrent = {concurrent}
        [[runners]]
        name = "bench"
        url = "{ExecJobPayloadBuilder.ServerUrl}"
        token = "bench-runner-token"
        executor = "kubernetes"
        [runners.kubernetes]
        image = "alpine:latest"
        namespace = "default"
        poll_interval = 3
        poll_timeout = 600
        """, "bench.toml");
    if (!config.IsValid)
    {
        throw new InvalidOperationException(string.Join("\n", config.Errors));
    }
    var options = new ExecutionOptions(RunnerIdentity.Current(), ExecHelper.ForThisProcess());
    return ExecSession.Start(config.Settings!, ExecGateways.Create(server.ClientConfiguration()), options);
}

static Func<JobPayload> Job(GitRepositoryInfo repository, string yaml, string name)
{
    var job = CiFileParser.Parse(yaml, "bench.yml").File!.Job(name)!;
    return () => ExecJobPayloadBuilder.Build(job, repository,
        new ExecJobOptions(ExecJobPayloadBuilder.NewJobId(), ExecJobPayloadBuilder.NewJobToken(), [], DateTimeOffset.UtcNow));
}

static void Git(string dir, params string[] args)
{
    var start = new ProcessStartInfo("git") { WorkingDirectory = dir, RedirectStandardError = true };
    foreach (var arg in new[] { "-c", "user.name=bench", "-c", "user.email=bench@example.com" }.Concat(args))
    {
        start.ArgumentList.Add(arg);
    }
    using var process = Process.Start(start)!;
    process.WaitForExit();
}

static double Timed(string file, string[] args, string dir)
{
    var start = new ProcessStartInfo(file) { WorkingDirectory = dir, RedirectStandardError = true };
    foreach (var arg in args)
    {
        start.ArgumentList.Add(arg);
    }
    var clock = Stopwatch.StartNew();
    using var process = Process.Start(start)!;
    process.WaitForExit();
    return clock.Elapsed.TotalMilliseconds;
}

static double Percentile(IEnumerable<double> values, int percentile)
{
    var sorted = values.Order().ToList();
    if (sorted.Count == 0)
    {
        return double.NaN;
    }
    var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
    return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
}

/// <summary>One job's result, wall time (JobAdmitted to JobFinished: queueing for a slot excluded) and the time between its
/// stages' starts and ends.</summary>
internal sealed record TimedRun(JobResult Result, TimeSpan Wall, TimeSpan InStages, IReadOnlyDictionary<string, TimeSpan> PerStage)
{
    public static async Task<TimedRun> RunAsync(ExecSession session, JobPayload job, Action<string>? onStageStart = null)
    {
        var stages = new StageClock(onStageStart);
        var finished = new TaskCompletionSource<JobResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = session.System.ActorOf(Props.Create(() => new TimingListener(job.Id, stages, finished)));
        session.Supervisor.Tell(new RunJob(job, "bench", listener));
        var result = await finished.Task;
        return new TimedRun(result, stages.SinceAdmitted, stages.Total, stages.PerStage);
    }
}

internal sealed class StageClock(Action<string>? onStageStart)
{
    private readonly Dictionary<string, TimeSpan> _starts = [];
    private readonly Dictionary<string, TimeSpan> _perStage = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _admitted;
    public TimeSpan Total { get; private set; }
    public IReadOnlyDictionary<string, TimeSpan> PerStage => _perStage;
    public TimeSpan SinceAdmitted => _clock.Elapsed - (_admitted ?? TimeSpan.Zero);

    public void Admitted() => _admitted ??= _clock.Elapsed;

    public void Started(string stage)
    {
        _starts[stage] = _clock.Elapsed;
        onStageStart?.Invoke(stage);
    }

    public void Finished(string stage)
    {
        if (_starts.Remove(stage, out var start))
        {
            Total += _clock.Elapsed - start;
            _perStage[stage] = _perStage.GetValueOrDefault(stage) + (_clock.Elapsed - start);
        }
    }
}

internal sealed class TimingListener : ReceiveActor
{
    public TimingListener(long jobId, StageClock stages, TaskCompletionSource<JobResult> finished)
    {
        Receive<JobAdmitted>(a => a.JobId == jobId, _ => stages.Admitted());
        Receive<JobStageChanged>(s => s.JobId == jobId, s =>
        {
            if (s.Finished) stages.Finished(s.Stage); else stages.Started(s.Stage);
        });
        Receive<JobFinished>(f => f.JobId == jobId, f =>
        {
            finished.TrySetResult(f.Result);
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }
}

internal sealed record BenchArgs(int Jobs, int Concurrent, int InFlight, int SleepSeconds)
{
    public static BenchArgs Parse(string[] args)
    {
        var result = new BenchArgs(40, 4, 50, 20);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1]);
            result = args[i] switch
            {
                "--jobs" => result with { Jobs = value },
                "--concurrent" => result with { Concurrent = value },
                "--inflight" => result with { InFlight = value },
                "--sleep" => result with { SleepSeconds = value },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return result;
    }
}
