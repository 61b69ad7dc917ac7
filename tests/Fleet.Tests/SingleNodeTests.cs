using System.Globalization;
using Scheduler.FakeGitLab;
using Scheduler.Fleet.Tests.Harness;
using static Scheduler.Fleet.Tests.JobAssertions;

namespace Scheduler.Fleet.Tests;

/// <summary>One <c>scheduler run</c> process against a standalone <c>scheduler local-cluster</c> process, through a
/// kubeconfig and <c>--host-helper</c>: the harness the fleet tests build on, and the proof that this combination runs
/// jobs (their pods need the helper binary from the host).</summary>
public sealed class SingleNodeTests
{
    private const int BigTraceLines = 430_000; // `seq 1 430000`: 2.9 MB

    [Fact]
    public async Task One_node_drains_a_queue_of_passing_failing_and_big_jobs_with_the_right_states_and_traces()
    {
        await using var harness = await FleetHarness.StartAsync("single-node");
        var passing = Enumerable.Range(1, 3)
            .Select(i => harness.Enqueue(FleetHarness.Job($"pass-{i}", $"echo pass-{i}-first", $"echo pass-{i}-second")))
            .ToArray();
        var exit3 = harness.Enqueue(FleetHarness.Job("fail-3", "echo before-exit-3", "exit 3", "echo never-printed"));
        var exit42 = harness.Enqueue(FleetHarness.Job("fail-42", "sh -c 'exit 42'"));
        var big = harness.Enqueue(FleetHarness.Job("big", $"seq 1 {BigTraceLines}"));
        FakeJob[] all = [.. passing, exit3, exit42, big];

        await harness.StartNodeAsync(harness.NodeSettings("node1", concurrent: 3));
        await harness.WaitFinishedAsync(all, TimeSpan.FromSeconds(100));

        foreach (var (job, i) in passing.Select((job, i) => (job, i + 1)))
        {
            AssertFinal(job, "success");
            var lines = Lines(job.TraceText());
            Assert.Contains($"pass-{i}-first", lines);
            Assert.Contains($"pass-{i}-second", lines);
            Assert.Contains(lines, line => line.Contains("Job succeeded", StringComparison.Ordinal));
        }

        AssertFinal(exit3, "failed", "script_failure", 3);
        Assert.Contains("before-exit-3", Lines(exit3.TraceText()));
        Assert.DoesNotContain("never-printed", Lines(exit3.TraceText()));
        AssertFinal(exit42, "failed", "script_failure", 42);

        AssertFinal(big, "success");
        var numbers = Lines(big.TraceText()).Where(line => line.Length > 0 && line.All(char.IsAsciiDigit)).ToArray();
        Assert.True(numbers.Length == BigTraceLines, $"expected {BigTraceLines} numbered lines, got {numbers.Length}");
        for (var n = 1; n <= BigTraceLines; n++)
        {
            if (numbers[n - 1] != n.ToString(CultureInfo.InvariantCulture))
            {
                Assert.Fail($"line {n} of the big trace is {numbers[n - 1]}");
            }
        }

        Assert.True(big.TraceBytes().Length > 2_800_000, $"the big trace has {big.TraceBytes().Length} bytes");
        await harness.WaitUntilAsync(async () => (await harness.JobPodsAsync()).Count == 0, TimeSpan.FromSeconds(30),
            () => "every job pod to be deleted");
    }
}
