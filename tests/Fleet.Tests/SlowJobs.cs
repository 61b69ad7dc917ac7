using System.Globalization;
using System.Text.RegularExpressions;
using Scheduler.FakeGitLab;
using Scheduler.Fleet.Tests.Harness;

namespace Scheduler.Fleet.Tests;

/// <summary>Jobs whose build stage prints numbered lines slowly, so that a node can be killed, cut off or stopped while
/// they run; and the check that a trace holds each of those lines exactly once, in order.</summary>
public static class SlowJobs
{
    public const int Lines = 20;
    public const string Interval = "0.5";

    /// <param name="runsFile">When given, the script first appends the job's id to this host file: one line per run.</param>
    public static FakeJobBuilder Define(string name, string? runsFile = null)
    {
        var count = $"for i in $(seq 1 {Lines}); do echo \"{name} line $i\"; sleep {Interval}; done";
        return runsFile is null
            ? FleetHarness.Job(name, count)
            : FleetHarness.Job(name, $"echo \"$CI_JOB_ID\" >> {runsFile}", count);
    }

    /// <summary>True once the job's trace on GitLab shows it in its build stage (its second line printed).</summary>
    public static bool IsInBuild(FakeJob job) => job.TraceText().Contains($"{job.Name} line 2\n", StringComparison.Ordinal);

    /// <summary>The trace holds "NAME line 1" … "NAME line 20" exactly once each, in order: no gap, no duplicate.</summary>
    public static void AssertCountedOnce(FakeJob job)
    {
        var pattern = new Regex($"^{Regex.Escape(job.Name)} line (\\d+)$");
        var numbers = JobAssertions.Lines(job.TraceText())
            .Select(line => pattern.Match(line))
            .Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .ToArray();
        Assert.True(numbers.SequenceEqual(Enumerable.Range(1, Lines)),
            $"job {job.Id} ({job.Name}): numbered lines {string.Join(",", numbers)}\n--- trace ---\n{JobAssertions.Tail(job.TraceText())}");
    }
}
