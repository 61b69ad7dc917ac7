using Scheduler.FakeGitLab;
using Scheduler.Fleet.Tests.Harness;
using static Scheduler.Fleet.Tests.JobAssertions;

namespace Scheduler.Fleet.Tests;

/// <summary>
/// Three <c>scheduler run</c> nodes in one fleet (Akka.Cluster, static seed) sharing a GitLab runner and the embedded
/// cluster. A node dies, is cut off, or is asked to leave while its jobs are in their build stage; the other nodes carry
/// those jobs to the end with complete traces.
/// </summary>
public sealed class FleetFailoverTests
{
    private static readonly TimeSpan JobsTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Killing_a_node_mid_build_moves_its_jobs_to_the_others_with_the_traces_of_an_uninterrupted_run()
    {
        await using var harness = await FleetHarness.StartAsync("kill");
        // Six slots for three jobs: the busiest node runs at least one, and the two others have room for all of its jobs.
        var nodes = await harness.StartFleetAsync(3, concurrent: 2);
        string[] names = ["slow-1", "slow-2", "slow-3"];

        // The same definitions first without interruption: the traces to compare with.
        var uninterrupted = names.Select(name => harness.Enqueue(SlowJobs.Define(name))).ToArray();
        await harness.WaitFinishedAsync(uninterrupted, JobsTimeout);
        Assert.All(uninterrupted, job => AssertFinal(job, "success"));
        var expected = uninterrupted.ToDictionary(job => job.Name, job => TraceNormaliser.Normalise(job.TraceText()));

        await using var pods = new PodWatchRecorder(harness.Kube, "default");
        var jobs = names.Select(name => harness.Enqueue(SlowJobs.Define(name))).ToArray();
        await harness.WaitUntilAsync(() => jobs.All(SlowJobs.IsInBuild), JobsTimeout, () => "every job to be in its build stage");
        var owners = await harness.OwnersAsync();
        var victim = nodes.OrderByDescending(node => owners.Values.Count(owner => harness.NodeOf(owner) == node)).First();
        var moved = jobs.Where(job => harness.NodeOf(owners.GetValueOrDefault(job.Id)) == victim).ToArray();
        Assert.NotEmpty(moved);

        victim.Process.Signal(ChildProcess.SigKill);
        Assert.True(await victim.Process.WaitForExitAsync(TimeSpan.FromSeconds(10)), $"{victim.Name} survived kill -9");
        await harness.WaitFinishedAsync(jobs, JobsTimeout);

        foreach (var job in jobs)
        {
            AssertFinal(job, "success");
            Assert.Equal(expected[job.Name], TraceNormaliser.Normalise(job.TraceText()));
            Assert.Equal(1, pods.PodsCreatedFor(job.Id));
        }

        foreach (var job in moved)
        {
            var jobOwners = pods.OwnersOf(job.Id);
            Assert.True(jobOwners.Count >= 2 && harness.NodeOf(jobOwners[^1]) is { } adopter && adopter != victim,
                $"job {job.Id} was owned by {string.Join(" then ", jobOwners)}; expected {victim.Name} then a live node");
        }
    }

    [Fact]
    public async Task A_partitioned_node_downs_itself_and_the_majority_adopts_its_jobs_which_run_once()
    {
        using var ns = NetworkNamespace.Create();
        await using var harness = await FleetHarness.StartAsync("partition", ns);
        // node3 runs inside the namespace. node1 and node2 ask GitLab only every 5 minutes (after their first, empty,
        // request), so node3 takes every job; they still adopt.
        var nodes = await harness.StartFleetAsync(3, concurrent: 4, inNamespace: 2,
            adjust: (i, settings) => i == 2 ? settings : settings with { CheckInterval = 300 });
        var victim = nodes[2];
        var runs = Path.Combine(harness.Directory, "runs.log");
        File.WriteAllText(runs, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(runs, (UnixFileMode)0b110_110_110); // the jobs, as the embedded cluster's non-root user, append
        }

        await using var pods = new PodWatchRecorder(harness.Kube, "default");
        var jobs = Enumerable.Range(1, 3).Select(i => harness.Enqueue(SlowJobs.Define($"cut-{i}", runs))).ToArray();
        await harness.WaitUntilAsync(() => jobs.All(SlowJobs.IsInBuild), JobsTimeout, () => "every job to be in its build stage");
        var owners = await harness.OwnersAsync();
        Assert.All(jobs, job => Assert.Same(victim, harness.NodeOf(owners.GetValueOrDefault(job.Id))));

        ns.Partition();
        await harness.WaitUntilAsync(() => victim.Process.HasExited, TimeSpan.FromSeconds(90),
            () => $"{victim.Name}, cut off from the majority, to down itself and exit");
        await harness.WaitFinishedAsync(jobs, JobsTimeout);

        var ranScripts = File.ReadAllLines(runs);
        foreach (var job in jobs)
        {
            AssertFinal(job, "success");
            SlowJobs.AssertCountedOnce(job);
            Assert.Equal(1, pods.PodsCreatedFor(job.Id));
            Assert.Single(ranScripts, line => line == job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var adopter = harness.NodeOf(pods.OwnersOf(job.Id)[^1]);
            Assert.True(adopter is not null && adopter != victim, $"job {job.Id} ended owned by {pods.OwnersOf(job.Id)[^1]}");
        }
    }

    [Fact]
    public async Task A_node_frozen_past_detection_is_downed_its_jobs_run_once_elsewhere_and_it_exits_when_it_thaws()
    {
        // A busy node wrongly downed: SIGSTOP freezes it (as a long stall would) until the others have adopted its jobs;
        // thawed, it must learn it is out and exit without driving, finishing or repeating any of them.
        await using var harness = await FleetHarness.StartAsync("frozen");
        // node3 takes every job: node1 and node2 ask GitLab only every 5 minutes (after their first, empty, request).
        var nodes = await harness.StartFleetAsync(3, concurrent: 4,
            adjust: (i, settings) => i == 2 ? settings : settings with { CheckInterval = 300 });
        var victim = nodes[2];
        var runs = Path.Combine(harness.Directory, "runs.log");
        File.WriteAllText(runs, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(runs, (UnixFileMode)0b110_110_110); // the jobs, as the embedded cluster's non-root user, append
        }

        await using var pods = new PodWatchRecorder(harness.Kube, "default");
        var jobs = Enumerable.Range(1, 2).Select(i => harness.Enqueue(SlowJobs.Define($"frozen-{i}", runs))).ToArray();
        await harness.WaitUntilAsync(() => jobs.All(SlowJobs.IsInBuild), JobsTimeout, () => "every job to be in its build stage");
        var owners = await harness.OwnersAsync();
        Assert.All(jobs, job => Assert.Same(victim, harness.NodeOf(owners.GetValueOrDefault(job.Id))));

        victim.Process.Signal(ChildProcess.SigStop);
        try
        {
            await harness.WaitUntilAsync(async () =>
                {
                    var now = await harness.OwnersAsync();
                    return jobs.All(job => harness.NodeOf(now.GetValueOrDefault(job.Id)) is { } owner && owner != victim);
                }, TimeSpan.FromSeconds(60), () => $"the live nodes to adopt the jobs of the frozen {victim.Name}");
        }
        finally
        {
            victim.Process.Signal(ChildProcess.SigCont);
        }

        await harness.WaitUntilAsync(() => victim.Process.HasExited, TimeSpan.FromSeconds(60),
            () => $"{victim.Name}, downed while frozen, to exit once thawed");
        await harness.WaitFinishedAsync(jobs, JobsTimeout);

        var ranScripts = File.ReadAllLines(runs);
        foreach (var job in jobs)
        {
            AssertFinal(job, "success");
            SlowJobs.AssertCountedOnce(job);
            Assert.Equal(1, pods.PodsCreatedFor(job.Id));
            Assert.Single(ranScripts, line => line == job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var adopter = harness.NodeOf(pods.OwnersOf(job.Id)[^1]);
            Assert.True(adopter is not null && adopter != victim, $"job {job.Id} ended owned by {pods.OwnersOf(job.Id)[^1]}");
        }
    }

    [Fact]
    public async Task A_node_stopped_with_SIGTERM_hands_its_running_jobs_to_the_others_which_finish_them()
    {
        await using var harness = await FleetHarness.StartAsync("sigterm");
        // Six slots for three jobs: the busiest node runs at least one, and the two others have room for all of its jobs.
        var nodes = await harness.StartFleetAsync(3, concurrent: 2);

        await using var pods = new PodWatchRecorder(harness.Kube, "default");
        var jobs = Enumerable.Range(1, 3).Select(i => harness.Enqueue(SlowJobs.Define($"leave-{i}"))).ToArray();
        await harness.WaitUntilAsync(() => jobs.All(SlowJobs.IsInBuild), JobsTimeout, () => "every job to be in its build stage");
        var owners = await harness.OwnersAsync();
        var leaving = nodes.OrderByDescending(node => owners.Values.Count(owner => harness.NodeOf(owner) == node)).First();
        var handedOver = jobs.Where(job => harness.NodeOf(owners.GetValueOrDefault(job.Id)) == leaving).ToArray();
        Assert.NotEmpty(handedOver);

        leaving.Process.Signal(ChildProcess.SigTerm);
        await harness.WaitUntilAsync(() => leaving.Process.HasExited, TimeSpan.FromSeconds(60),
            () => $"{leaving.Name} to leave the fleet and exit after SIGTERM");
        await harness.WaitFinishedAsync(jobs, JobsTimeout);

        foreach (var job in jobs)
        {
            AssertFinal(job, "success");
            SlowJobs.AssertCountedOnce(job);
            Assert.Equal(1, pods.PodsCreatedFor(job.Id));
        }

        foreach (var job in handedOver)
        {
            var adopter = harness.NodeOf(pods.OwnersOf(job.Id)[^1]);
            Assert.True(adopter is not null && adopter != leaving, $"job {job.Id} ended owned by {pods.OwnersOf(job.Id)[^1]}");
        }

        // A graceful leave is a clean stop (exit 0), not a node removed from the fleet (exit 1).
        Assert.True(leaving.Process.ExitCode == 0, $"{leaving.Name} exited {leaving.Process.ExitCode} after SIGTERM\n{leaving.Process.Tail(25)}");
    }
}
