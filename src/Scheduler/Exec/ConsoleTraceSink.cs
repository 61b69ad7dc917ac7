using System.Diagnostics;
using System.Globalization;

namespace Scheduler.Exec;

/// <summary>
/// Where exec shows a job: the trace bytes go to <c>trace</c> (stdout) untouched and as they come; with <c>showProgress</c>
/// (stderr is a terminal) a line per finished stage with its elapsed time goes to <c>status</c>; the final outcome is one
/// line on <c>status</c>. Not thread-safe: one caller (the exec listener) drives it.
/// </summary>
public sealed class ConsoleTraceSink(Stream trace, TextWriter status, bool showProgress, Func<TimeSpan>? clock = null)
{
    private readonly Func<TimeSpan> _clock = clock ?? Stopwatch.StartNew().GetElapsedTimeFunc();
    private readonly Dictionary<string, TimeSpan> _stageStarts = new(StringComparer.Ordinal);
    private long _traceBytes;

    /// <summary>Bytes of trace written so far.</summary>
    public long TraceBytes => _traceBytes;

    public void WriteTrace(ReadOnlySpan<byte> bytes)
    {
        trace.Write(bytes);
        trace.Flush();
        _traceBytes += bytes.Length;
    }

    public void StageStarted(string stage) => _stageStarts[stage] = _clock();

    public void StageFinished(string stage, int? exitCode)
    {
        if (!showProgress)
        {
            return;
        }

        var elapsed = _stageStarts.TryGetValue(stage, out var start) ? _clock() - start : TimeSpan.Zero;
        status.WriteLine(ProgressLine(stage, elapsed, exitCode));
        status.Flush();
    }

    public void Finished(bool succeeded, string reason)
    {
        status.WriteLine(succeeded ? "Job succeeded" : $"Job failed: {reason}");
        status.Flush();
    }

    /// <summary>"── step_script (build) …… 2.4s", with the exit code when it is not 0.</summary>
    public static string ProgressLine(string stage, TimeSpan elapsed, int? exitCode)
    {
        var seconds = elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        var outcome = exitCode is null or 0 ? "" : $", exit {exitCode}";
        return $"── {stage} ({ContainerOf(stage)}) …… {seconds}s{outcome}";
    }

    /// <summary>The container a stage runs in (docs/execution.md): the job's own script in build, the rest in helper.</summary>
    public static string ContainerOf(string stage) => stage is "step_script" or "after_script" ? "build" : "helper";
}

internal static class StopwatchExtensions
{
    public static Func<TimeSpan> GetElapsedTimeFunc(this Stopwatch stopwatch) => () => stopwatch.Elapsed;
}
