using System.Diagnostics;
using System.Globalization;
using Scheduler.FakeGitLab;
using Scheduler.Fleet.Tests.Harness;

// Usage: fleet-bench [--runs N] [--jobs N] [--concurrent N] [--single-node-only | --failover-only]
// Each figure starts its own embedded cluster process and `scheduler run` node processes (the fleet tests' harness):
//   failover: a job that prints a line every 0.25 s runs on a three-node fleet; once it prints, its owner gets kill -9;
//     the time until the fake GitLab sees the job's next trace PATCH (from the adopting node), and until a PATCH is
//     accepted (202), over --runs runs (the killed node is replaced by a new one between runs); with the phases it went
//     through, from the surviving nodes' output lines as they arrived: unreachable, downed, removed (the adopter's fleet
//     actor heard MemberRemoved), claimed, the job restarted from its pod;
//   throughput: --jobs short jobs drained by one node, then by three nodes, each with `concurrent = --concurrent`, then by one
//     node with three times the slots.
var options = BenchOptions.Parse(args);
Console.WriteLine($"fleet-bench: {Environment.ProcessorCount} cores, scheduler {SchedulerBinary.Dll}");

if (!options.SingleNodeOnly)
{
    await Failover(options);
}

if (options.FailoverOnly)
{
    return 0;
}

var one = await Throughput(options, nodes: 1, options.Concurrent, fleet: !options.SingleNodeOnly);
if (!options.SingleNodeOnly)
{
    var three = await Throughput(options, nodes: 3, options.Concurrent, fleet: true);
    Console.WriteLine($"throughput: three nodes / one node = {three / one:F2}");
    // The same number of slots on one node: tells the cost of more nodes from the cost of more jobs at once.
    var oneWide = await Throughput(options, nodes: 1, 3 * options.Concurrent, fleet: true);
    Console.WriteLine($"throughput: three nodes / one node with as many slots = {three / oneWide:F2}");
}

return 0;

static async Task Failover(BenchOptions options)
{
    await using var harness = await FleetHarness.StartAsync("bench-failover");
    var nodes = (await harness.StartFleetAsync(3, concurrent: 2)).ToList();
    var toPatch = new List<double>();
    var toAccepted = new List<double>();
    var phases = new Dictionary<string, List<double>>();
    for (var run = 1; run <= options.Runs; run++)
    {
        var job = harness.Enqueue(FleetHarness.Job($"failover-{run}",
            "for i in $(seq 1 160); do echo \"line $i\"; sleep 0.25; done"));
        await harness.WaitUntilAsync(() => job.TraceText().Contains("line 2\n", StringComparison.Ordinal), TimeSpan.FromSeconds(90),
            () => $"job {job.Id} to print");
        var owner = (await harness.OwnersAsync()).GetValueOrDefault(job.Id);
        var victim = harness.NodeOf(owner) ?? throw new InvalidOperationException($"job {job.Id}: no node owns its pod ({owner})");

        victim.Process.Signal(ChildProcess.SigKill);
        var killedAt = DateTime.UtcNow;
        await victim.Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await harness.WaitUntilAsync(
            () => harness.GitLab.RequestsTo(FakeEndpoint.PatchTrace).Any(r => r.Path.Contains($"/{job.Id}/", StringComparison.Ordinal)
                                                                              && r.ReceivedAt > killedAt && r.Status == 202),
            TimeSpan.FromSeconds(120), () => $"job {job.Id}'s trace to be streamed again after {victim.Name} was killed");
        var patches = harness.GitLab.RequestsTo(FakeEndpoint.PatchTrace)
            .Where(r => r.Path.Contains($"/{job.Id}/", StringComparison.Ordinal) && r.ReceivedAt > killedAt).ToArray();
        var first = (patches.First().ReceivedAt - killedAt).TotalSeconds;
        var accepted = (patches.First(r => r.Status == 202).ReceivedAt - killedAt).TotalSeconds;
        toPatch.Add(first);
        toAccepted.Add(accepted);
        Console.WriteLine($"failover run {run}: killed {victim.Name}; first PATCH after {first:F2} s, first accepted PATCH after {accepted:F2} s");
        var survivors = nodes.Where(n => n != victim).ToArray();
        var runPhases = FailoverPhases(survivors, job.Id, killedAt);
        foreach (var (phase, at) in runPhases)
        {
            (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(at);
        }

        Console.WriteLine("  phases (s after kill -9): " + string.Join(", ", runPhases.Select(p => $"{p.Phase} {p.At:F2}"))
                          + $", first PATCH {first:F2}, accepted {accepted:F2}");

        await harness.WaitFinishedAsync([job], TimeSpan.FromSeconds(120));
        var mismatches = harness.GitLab.RequestsTo(FakeEndpoint.PatchTrace)
            .Count(r => r.Path.Contains($"/{job.Id}/", StringComparison.Ordinal) && r.ReceivedAt > killedAt && r.Status == 416);
        Console.WriteLine($"  job {job.Id}: {job.Status}; {mismatches} PATCH(es) answered 416 while the adopter caught up");

        // A new node in place of the killed one, joining through the live ones, so that every run starts from three.
        nodes.Remove(victim);
        var seeds = nodes.Select(n => n.Settings.Cluster!.Address).ToArray();
        var replacement = await harness.StartNodeAsync(harness.NodeSettings($"node{3 + run}", 2,
            cluster: new ClusterSection(harness.HostAddress.ToString(), FreePort.Next(), seeds)));
        nodes.Add(replacement);
        await harness.WaitMembersUpAsync(nodes);
    }

    Console.WriteLine($"failover (kill -9 → next trace PATCH), {options.Runs} runs: median {Median(toPatch):F2} s, max {toPatch.Max():F2} s");
    Console.WriteLine($"failover (kill -9 → next accepted PATCH), {options.Runs} runs: median {Median(toAccepted):F2} s, max {toAccepted.Max():F2} s");
    Console.WriteLine("failover phases, median s after kill -9: " + string.Join(", ", phases.Select(p => $"{p.Key} {Median(p.Value):F2}")));
}

// When each step of a failover showed in the survivors' output (the earliest survivor for detection and downing, the
// adopting node for the rest); a step whose line is missing is left out.
static List<(string Phase, double At)> FailoverPhases(IReadOnlyList<RunNode> survivors, long jobId, DateTime killedAt)
{
    var result = new List<(string, double)>();
    void Earliest(string phase, IEnumerable<RunNode> where, Func<string, bool> match)
    {
        var times = where.Select(n => n.Process.FirstLineAt(match, killedAt)).OfType<DateTime>().ToArray();
        if (times.Length > 0)
        {
            result.Add((phase, (times.Min() - killedAt).TotalSeconds));
        }
    }

    var claimedLine = $"fleet: adopted job {jobId} (";
    var adopter = survivors.Where(n => n.Process.FirstLineAt(l => l.Contains(claimedLine, StringComparison.Ordinal), killedAt) is not null)
        .ToArray();
    Earliest("unreachable", survivors, l => l.Contains("as UNREACHABLE", StringComparison.Ordinal));
    Earliest("downed", survivors, l => l.Contains("SBR took decision", StringComparison.Ordinal));
    Earliest("removed", adopter, l => l.Contains("left the fleet", StringComparison.Ordinal));
    Earliest("claimed", adopter, l => l.Contains(claimedLine, StringComparison.Ordinal));
    Earliest("restarted", adopter, l => l.Contains($"job {jobId} of runner ", StringComparison.Ordinal)
                                        && l.EndsWith(" adopted", StringComparison.Ordinal));
    return result;
}

static async Task<double> Throughput(BenchOptions options, int nodes, int concurrent, bool fleet)
{
    await using var harness = await FleetHarness.StartAsync($"bench-throughput-{nodes}");
    if (fleet)
    {
        await harness.StartFleetAsync(nodes, concurrent);
    }
    else
    {
        await harness.StartNodeAsync(harness.NodeSettings("node1", concurrent));
    }

    var clock = Stopwatch.StartNew();
    var jobs = Enumerable.Range(1, options.Jobs).Select(i => harness.Enqueue(FleetHarness.Job($"short-{i}", "echo short"))).ToArray();
    await harness.WaitFinishedAsync(jobs, TimeSpan.FromMinutes(10));
    var elapsed = clock.Elapsed.TotalSeconds;
    var failed = jobs.Count(j => j.Status != "success");
    var rate = options.Jobs / elapsed;
    Console.WriteLine($"throughput: {options.Jobs} short jobs on {nodes} node(s){(fleet ? " (fleet)" : "")}, concurrent = {concurrent} each: " +
                      $"{elapsed:F1} s, {rate:F2} jobs/s{(failed > 0 ? $", {failed} not successful" : "")}");
    return rate;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

internal sealed record BenchOptions(int Runs, int Jobs, int Concurrent, bool SingleNodeOnly, bool FailoverOnly)
{
    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions(5, 30, 4, false, false);
        for (var i = 0; i < args.Length; i++)
        {
            options = args[i] switch
            {
                "--runs" => options with { Runs = int.Parse(args[++i], CultureInfo.InvariantCulture) },
                "--jobs" => options with { Jobs = int.Parse(args[++i], CultureInfo.InvariantCulture) },
                "--concurrent" => options with { Concurrent = int.Parse(args[++i], CultureInfo.InvariantCulture) },
                "--single-node-only" => options with { SingleNodeOnly = true },
                "--failover-only" => options with { FailoverOnly = true },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }

        return options;
    }
}
