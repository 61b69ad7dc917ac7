using Serilog.Core;
using Serilog.Events;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Installs a Serilog logger that keeps every event (Debug and up) for the life of the object, then puts the previous
/// logger back.</summary>
internal sealed class CapturedLog : ILogEventSink, IDisposable
{
    private readonly object _gate = new();
    private readonly List<LogEvent> _events = [];
    private readonly Serilog.ILogger _previous = Serilog.Log.Logger;

    public CapturedLog() =>
        Serilog.Log.Logger = new Serilog.LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(this).CreateLogger();

    public IReadOnlyList<LogEvent> Events { get { lock (_gate) { return _events.ToArray(); } } }

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            _events.Add(logEvent);
        }
    }

    public void Dispose() => Serilog.Log.Logger = _previous;

    /// <summary>A property's scalar value rendered as text (strings without quotes), or null when the event lacks it.</summary>
    public static string? Property(LogEvent e, string name) =>
        e.Properties.TryGetValue(name, out var value) ? value is ScalarValue { Value: var scalar } ? Convert.ToString(scalar, System.Globalization.CultureInfo.InvariantCulture) : value.ToString() : null;
}
