using System.Text.RegularExpressions;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>
/// What may differ between two runs of the same job definition, and nothing else:
/// the pod's name in "Running on &lt;pod&gt; via …" (its concurrent id and random suffix),
/// the Unix timestamps of <c>section_start:</c>/<c>section_end:</c> markers,
/// and the "Waiting for pod … to be running" lines (one per pod status seen while the pod starts: a matter of timing; an
/// adopted job regenerates only its header lines, then the pod's output).
/// </summary>
public static partial class TraceNormaliser
{
    public static string Normalise(string trace)
    {
        var lines = trace.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n')
            .Where(line => !WaitingLine().IsMatch(line))
            .Select(line => RunningOnLine().Replace(line, "Running on <pod> via "))
            .Select(line => SectionMarker().Replace(line, "section_$1:<time>:"));
        return string.Join('\n', lines);
    }

    [GeneratedRegex(@"^Waiting for pod \S+ to be running")]
    private static partial Regex WaitingLine();

    [GeneratedRegex(@"^Running on \S+ via ")]
    private static partial Regex RunningOnLine();

    [GeneratedRegex(@"section_(start|end):\d+:")]
    private static partial Regex SectionMarker();
}
