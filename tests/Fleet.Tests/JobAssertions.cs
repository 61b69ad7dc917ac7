using Scheduler.FakeGitLab;
using Scheduler.GitLab;

namespace Scheduler.Fleet.Tests;

public static class JobAssertions
{
    /// <summary>The job's final state on GitLab, and a final checksum that covers exactly the trace GitLab holds (no gap,
    /// no duplicate).</summary>
    public static void AssertFinal(FakeJob job, string status, string? failureReason = null, int? exitCode = null)
    {
        Assert.True(job.Status == status,
            $"job {job.Id} ({job.Name}): expected {status}, got {job.Status} ({job.FailureReason})\n--- trace ---\n{Tail(job.TraceText())}");
        Assert.Equal(failureReason, job.FailureReason);
        if (exitCode is not null)
        {
            Assert.Equal(exitCode, job.ExitCode);
        }

        Assert.Equal(TraceChecksum.Of(job.TraceBytes()), job.Checksum);
    }

    /// <summary>The lines of a trace without carriage returns.</summary>
    public static IReadOnlyList<string> Lines(string trace) =>
        trace.Split('\n').Select(line => line.TrimEnd('\r')).ToArray();

    public static string Tail(string text, int characters = 4000) =>
        text.Length <= characters ? text : "…" + text[^characters..];
}
