using Scheduler.Fleet.Tests.Harness;

namespace Scheduler.Fleet.Tests;

public sealed class TraceNormaliserTests
{
    [Theory]
    [InlineData("Running on runner-ab-project-1-concurrent-0-7veefrv7 via vm...", "Running on <pod> via vm...")]
    [InlineData("section_start:1795886696:get_sources\r\u001b[0KGetting source", "section_start:<time>:get_sources\r\u001b[0KGetting source")]
    [InlineData("section_end:1795886699:step_script\r\u001b[0K", "section_end:<time>:step_script\r\u001b[0K")]
    [InlineData("Waiting for pod default/runner-x to be running, status is Pending\nnext", "next")]
    [InlineData("a\r\nb", "a\nb")]
    // Script output that only looks alike stays as it is.
    [InlineData("echo Running on my laptop via ssh", "echo Running on my laptop via ssh")]
    [InlineData("  Waiting for pod default/x to be running", "  Waiting for pod default/x to be running")]
    [InlineData("line 7 of job-3", "line 7 of job-3")]
    [InlineData("section_start:abc:x", "section_start:abc:x")]
    public void Normalises_only_pod_names_section_times_and_pod_waiting_lines(string trace, string expected) =>
        Assert.Equal(expected, TraceNormaliser.Normalise(trace));

    [Fact]
    public void Two_runs_that_differ_in_their_script_output_stay_different()
    {
        var one = "Running on p-1 via vm...\nsection_start:1:step_script\r\u001b[0K\nline 1\nline 2\n";
        var two = "Running on p-2 via vm...\nsection_start:2:step_script\r\u001b[0K\nline 1\nline 2\nline 2\n";
        Assert.NotEqual(TraceNormaliser.Normalise(one), TraceNormaliser.Normalise(two));
        Assert.Equal(TraceNormaliser.Normalise(one), TraceNormaliser.Normalise(one.Replace("p-1", "p-9", StringComparison.Ordinal)));
    }
}
