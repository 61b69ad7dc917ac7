using Serilog;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;

namespace Scheduler.Hosting;

/// <summary>
/// How the process writes its log lines, per <c>log_format</c>: <c>json</c> is one JSON object per line (Serilog's compact
/// format with the rendered message: <c>@t</c>, <c>@m</c>, <c>@l</c> above Information, <c>@x</c>, then every property such as
/// <c>JobId</c>, <c>Runner</c>, <c>Pod</c>, <c>ActorPath</c>); anything else (<c>runner</c>, <c>text</c>, unset) is text.
/// Always on stderr: stdout is a job's trace for <c>exec</c>.
/// </summary>
public static class LogOutput
{
    public const string TextTemplate = "{Timestamp:HH:mm:ss} [{Level:u3}] {Message:lj}{NewLine}{Exception}";

    public static bool IsJson(string? logFormat) => string.Equals(logFormat?.Trim(), "json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The formatter for <paramref name="logFormat"/>.</summary>
    public static ITextFormatter Formatter(string? logFormat) =>
        IsJson(logFormat) ? new RenderedCompactJsonFormatter() : new MessageTemplateTextFormatter(TextTemplate);

    /// <summary><paramref name="configuration"/> writing to stderr in <paramref name="logFormat"/>.</summary>
    public static LoggerConfiguration WriteToStderr(this LoggerConfiguration configuration, string? logFormat) =>
        configuration.WriteTo.Console(Formatter(logFormat), standardErrorFromLevel: LogEventLevel.Verbose);
}
