using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using k8s;
using Scheduler.Actors.Pods;
using Scheduler.FakeGitLab;
using Scheduler.Fleet.Tests.Harness;
using Scheduler.GitLab;
using Xunit.Abstractions;
using static Scheduler.Fleet.Tests.JobAssertions;

namespace Scheduler.Fleet.Tests;

/// <summary>
/// Issue #10, "no fault hangs, strands or silently ends a job", as separate processes: a <c>scheduler local-cluster</c> that
/// answers 500 and 429, drops execs and watches and holds some calls past any client timeout; a fake GitLab that answers 5xx
/// and loses answers; one <c>scheduler run</c> node. Every job must still reach its right final state with its whole trace,
/// leave nothing in the cluster and give its slot back, within one overall bound.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Jobs = 30;
    private const int Concurrent = 4;
    private const int LinesPerJob = 12;
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan JobsBound = TimeSpan.FromMinutes(4);

    /// <summary>How long finished jobs' pods and Secrets may take to go (deletes retried, grace periods); a pod still there
    /// after it is left behind, and the slot check goes on.</summary>
    private static readonly TimeSpan CleanupBound = TimeSpan.FromSeconds(60);

    /// <summary>The cluster's faults. Hung calls are held far longer than any sane client timeout: only the runner's own
    /// timeout can end them.</summary>
    private static readonly string[] ClusterFaults =
    [
        "--fault-server-errors", "0.1", "--fault-throttle", "0.05", "--fault-retry-after", "1",
        "--fault-hang-rate", "0.01", "--fault-hang-for", "10m",
        "--fault-exec-drop-after", "512B", "--fault-exec-drop-after-time", "3s",
        "--fault-watch-max-events", "20", "--fault-watch-max-duration", "15s",
        "--fault-seed", "10",
    ];

    private static readonly FakeChaos GitLabFaults = new() { ServerErrorRate = 0.05, LostAnswerRate = 0.05, Seed = 10 };

    /// <summary>Every fifth job fails on purpose with exit 3 after its numbered lines.</summary>
    private static bool FailsOnPurpose(int i) => i % 5 == 0;

    private static FakeJobBuilder Numbered(string name, bool fail)
    {
        var count = $"for i in $(seq 1 {LinesPerJob}); do echo \"{name} line $i\"; sleep 0.05; done";
        return fail
            ? FleetHarness.Job(name, count, "exit 3", $"echo \"{name} never-printed\"")
            : FleetHarness.Job(name, count);
    }

    [Fact]
    public async Task Thirty_jobs_under_API_and_GitLab_faults_end_right_with_whole_traces_no_leftovers_and_no_leaked_slot()
    {
        var clock = Stopwatch.StartNew();
        var deadline = DateTime.UtcNow + Bound;
        await using var harness = await FleetHarness.StartAsync("chaos", clusterArguments: ClusterFaults);
        using var kube = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(harness.Cluster.KubeconfigPath));
        var secretsBefore = await RetryAsync(kube, (k, ct) => SecretNamesAsync(k, ct), deadline);
        // Every phase runs within the one bound and adds what it found here, so that one run reports every kind of failure.
        var problems = new List<string>();

        var jobs = Enumerable.Range(1, Jobs)
            .Select(i => (Job: harness.Enqueue(Numbered($"chaos-{i:00}", FailsOnPurpose(i))), Fails: FailsOnPurpose(i)))
            .ToArray();
        harness.GitLab.Chaos = GitLabFaults;
        var node = await harness.StartNodeAsync(harness.NodeSettings("node1", Concurrent));

        var all = jobs.Select(j => j.Job).ToArray();
        // The 30 get most of the bound; the rest is kept for the leftovers and the slot check, which then show what a stuck job holds.
        if (!await WaitUntilAsync(() => all.All(j => j.IsFinished), Earlier(deadline, DateTime.UtcNow + JobsBound)))
        {
            problems.Add($"{all.Count(j => !j.IsFinished)} of the {Jobs} jobs not finished within {JobsBound.TotalMinutes} min:\n{StuckReport(node, all)}");
        }

        output.WriteLine($"{all.Count(j => j.IsFinished)} jobs finished after {clock.Elapsed.TotalSeconds:0.0} s");
        foreach (var (job, fails) in jobs.Where(j => j.Job.IsFinished))
        {
            problems.AddRange(Check(job, fails));
        }

        // No leftovers: every job pod and its Secrets are gone (deleted by the runner, the Secrets with their owner pod).
        problems.AddRange(await WaitNothingLeftAsync(kube, secretsBefore, Earlier(deadline, DateTime.UtcNow + CleanupBound)));
        output.WriteLine($"cluster checked after {clock.Elapsed.TotalSeconds:0.0} s");

        // No leaked slot: `concurrent` jobs that block until released all start together.
        if (DateTime.UtcNow < deadline)
        {
            problems.AddRange(await CheckSlotsAsync(harness, kube, node, secretsBefore, deadline));
            output.WriteLine($"slots checked after {clock.Elapsed.TotalSeconds:0.0} s");
        }
        else
        {
            problems.Add("the slot check was not reached within the bound");
        }

        // The faults really happened, so that a pass proves something.
        var clusterFaults = harness.Cluster.Process.Lines.Where(l => l.StartsWith("local-cluster: fault: ", StringComparison.Ordinal)).ToArray();
        var gitLabFaults = harness.GitLab.Requests.Where(r => r.Chaos is not null).ToArray();
        output.WriteLine($"done after {clock.Elapsed.TotalSeconds:0.0} s; cluster faults: "
                         + string.Join(", ", clusterFaults.GroupBy(l => l.Split(' ')[2]).Select(g => $"{g.Key} ×{g.Count()}"))
                         + "; GitLab faults: "
                         + string.Join(", ", gitLabFaults.GroupBy(r => $"{r.Chaos} {r.Endpoint}").Select(g => $"{g.Key} ×{g.Count()}")));
        foreach (var (met, fault) in new[]
                 {
                     (clusterFaults.Any(l => l.Contains(": 500 ", StringComparison.Ordinal)), "a 500 from the cluster"),
                     (clusterFaults.Any(l => l.Contains(": 429 ", StringComparison.Ordinal)), "a 429 from the cluster"),
                     (gitLabFaults.Any(r => r.Chaos == "lost"), "a lost GitLab answer"),
                     (gitLabFaults.Any(r => r.Chaos == "5xx"), "a 5xx from GitLab"),
                 })
        {
            if (!met)
            {
                problems.Add($"the run never met {fault}, so it proves nothing about that fault");
            }
        }

        Assert.True(problems.Count == 0, $"{problems.Count} problems:\n{string.Join("\n", problems)}\n{harness.Diagnostics()}");
    }

    /// <summary>Runs `concurrent` jobs that block on a host file; a leaked slot keeps one of them queued. They must all start,
    /// then all succeed once released, and leave nothing behind.</summary>
    private async Task<IReadOnlyList<string>> CheckSlotsAsync(FleetHarness harness, k8s.Kubernetes kube, RunNode node,
        IReadOnlyList<string> secretsBefore, DateTime deadline)
    {
        var problems = new List<string>();
        var started = Path.Combine(harness.Directory, "sleepers-started");
        var release = Path.Combine(harness.Directory, "sleepers-release");
        var sleepers = Enumerable.Range(1, Concurrent).Select(i => harness.Enqueue(FleetHarness.Job($"sleeper-{i}",
            $"echo \"$CI_JOB_ID\" >> {started}",
            $"echo \"sleeper-{i} started\"",
            $"n=0; while [ ! -e {release} ]; do sleep 0.2; n=$((n+1)); if [ $n -ge 1500 ]; then echo gave-up; exit 1; fi; done",
            $"echo \"sleeper-{i} released\""))).ToArray();
        // A sleeper that ends before the release (it failed) makes "all at once" impossible: stop waiting then.
        await WaitUntilAsync(() => StartedSleepers(started).Count == Concurrent || sleepers.Any(s => s.IsFinished), deadline);
        if (StartedSleepers(started).Count != Concurrent)
        {
            var ended = sleepers.Where(s => s.IsFinished).Select(s =>
                $"== job {s.Id} ({s.Name}) ended before the release: {s.Status}/{s.FailureReason ?? "-"}, trace ends: "
                + Lines(s.TraceText()).LastOrDefault(l => l.Length > 0));
            problems.Add($"only {StartedSleepers(started).Count} of {Concurrent} sleepers ran at once "
                         + (sleepers.Any(s => s.IsFinished) ? "(some ended first)" : "(a leaked slot keeps one queued)") + ":\n"
                         + string.Join("\n", ended) + "\n" + StuckReport(node, sleepers));
        }

        await File.WriteAllTextAsync(release, "go");
        if (!await WaitUntilAsync(() => sleepers.All(j => j.IsFinished), deadline))
        {
            problems.Add($"sleepers not finished within the bound:\n{StuckReport(node, sleepers)}");
            return problems;
        }

        foreach (var sleeper in sleepers.Where(s => s.Status != "success" || !Lines(s.TraceText()).Contains($"{s.Name} released")))
        {
            problems.Add($"job {sleeper.Id} ({sleeper.Name}): {sleeper.Status}/{sleeper.FailureReason ?? "-"}; trace ends:\n{Tail(sleeper.TraceText(), 600)}");
        }

        problems.AddRange(await WaitNothingLeftAsync(kube, secretsBefore, Earlier(deadline, DateTime.UtcNow + CleanupBound)));
        return problems;
    }

    /// <summary>What is wrong with one of the 30 jobs: its state, reason, exit code, checksum, and its numbered lines (each
    /// exactly once, in order, and nothing after an <c>exit 3</c>).</summary>
    private static IEnumerable<string> Check(FakeJob job, bool fails)
    {
        var what = $"job {job.Id} ({job.Name})";
        var (status, reason, code) = fails ? ("failed", "script_failure", (int?)3) : ("success", null, null);
        if (job.Status != status || job.FailureReason != reason || (code is not null && job.ExitCode != code))
        {
            yield return $"{what}: expected {status}/{reason ?? "-"}/{code?.ToString(CultureInfo.InvariantCulture) ?? "-"}, got "
                         + $"{job.Status}/{job.FailureReason ?? "-"}/{job.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-"}; trace ends:\n"
                         + Tail(job.TraceText(), 600);
        }

        if (job.Checksum != TraceChecksum.Of(job.TraceBytes()))
        {
            yield return $"{what}: final checksum {job.Checksum ?? "none"} does not cover the {job.TraceBytes().Length} bytes GitLab holds";
        }

        var pattern = new Regex($"^{Regex.Escape(job.Name)} line (\\d+)$");
        var numbers = Lines(job.TraceText()).Select(l => pattern.Match(l)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        if (!numbers.SequenceEqual(Enumerable.Range(1, LinesPerJob)))
        {
            yield return $"{what}: numbered lines {string.Join(",", numbers)} (want 1..{LinesPerJob} once each, in order)";
        }

        if (fails && job.TraceText().Contains("never-printed", StringComparison.Ordinal))
        {
            yield return $"{what}: the script went on after exit 3";
        }
    }

    private static IReadOnlyList<string> StartedSleepers(string path) =>
        File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).Distinct().ToArray() : [];

    private static async Task<IReadOnlyList<string>> SecretNamesAsync(k8s.Kubernetes kube, CancellationToken ct) =>
        (await kube.CoreV1.ListNamespacedSecretAsync("default", cancellationToken: ct)).Items.Select(s => s.Metadata.Name).ToArray();

    private static async Task<IReadOnlyList<string>> JobPodNamesAsync(k8s.Kubernetes kube, CancellationToken ct) =>
        (await kube.CoreV1.ListNamespacedPodAsync("default", labelSelector: PodMetadata.JobIdLabel, cancellationToken: ct)).Items
        .Select(p => p.Metadata.Name).ToArray();

    /// <summary>The test's own API calls meet the same faults: each try has a short timeout (a hung call) and is retried.</summary>
    private static async Task<T> RetryAsync<T>(k8s.Kubernetes kube, Func<k8s.Kubernetes, CancellationToken, Task<T>> call, DateTime deadline)
    {
        while (true)
        {
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                return await call(kube, attempt.Token);
            }
            catch (Exception e) when (e is k8s.Autorest.HttpOperationException or HttpRequestException or OperationCanceledException
                                          or IOException && DateTime.UtcNow < deadline + TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Waits until no job pod and no job Secret is left; what is still there at the bound is a problem.</summary>
    private static async Task<IReadOnlyList<string>> WaitNothingLeftAsync(k8s.Kubernetes kube, IReadOnlyList<string> secretsBefore, DateTime deadline)
    {
        IReadOnlyList<string> pods = [];
        IReadOnlyList<string> secrets = [];
        var clean = await WaitUntilAsync(async () =>
        {
            pods = await RetryAsync(kube, JobPodNamesAsync, deadline);
            secrets = (await RetryAsync(kube, (k, ct) => SecretNamesAsync(k, ct), deadline)).Except(secretsBefore).ToArray();
            return pods.Count == 0 && secrets.Count == 0;
        }, deadline);
        return clean ? [] : [$"left in the cluster: pods [{string.Join(", ", pods)}], secrets [{string.Join(", ", secrets)}]"];
    }

    /// <summary>Each unfinished job: its GitLab state, the last line GitLab has of its trace, and the runner's last lines about it.</summary>
    private static string StuckReport(RunNode node, IEnumerable<FakeJob> jobs)
    {
        var text = new StringBuilder();
        var lines = node.Process.Lines;
        foreach (var job in jobs.Where(j => !j.IsFinished))
        {
            var trace = Lines(job.TraceText()).Where(l => l.Length > 0).ToArray();
            text.AppendLine(CultureInfo.InvariantCulture, $"== job {job.Id} ({job.Name}): GitLab status {job.Status}, updates {Runs(job.Updates)}, "
                                                          + $"{job.TraceBytes().Length} trace bytes, last: {trace.LastOrDefault() ?? "(none)"}");
            foreach (var line in lines.Where(l => l.Contains($"job {job.Id}", StringComparison.Ordinal)).TakeLast(12))
            {
                text.AppendLine("   " + line);
            }
        }

        return text.ToString();
    }

    /// <summary>"running ×40, failed" for a list of updates.</summary>
    private static string Runs(IReadOnlyList<string> updates)
    {
        var runs = new List<string>();
        for (var i = 0; i < updates.Count;)
        {
            var n = 1;
            while (i + n < updates.Count && updates[i + n] == updates[i]) n++;
            runs.Add(n == 1 ? updates[i] : $"{updates[i]} ×{n}");
            i += n;
        }

        return $"[{string.Join(", ", runs)}]";
    }

    private static DateTime Earlier(DateTime a, DateTime b) => a < b ? a : b;

    /// <summary>True once <paramref name="condition"/> holds, false if the overall bound passes first.</summary>
    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, DateTime deadline)
    {
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(250);
        }

        return true;
    }

    private static Task<bool> WaitUntilAsync(Func<bool> condition, DateTime deadline) =>
        WaitUntilAsync(() => Task.FromResult(condition()), deadline);
}
