using Akka.Actor;
using Akka.Event;
using Akka.Dispatch;
using LogEventLevel = Serilog.Events.LogEventLevel;

namespace Scheduler.Hosting;

/// <summary>
/// Akka's logger that hands its events to Serilog's static logger, so actor logs follow the process's Serilog setup (for
/// exec: stderr, warnings and up) instead of Akka's stdout logger, which would mix with the job's trace.
/// </summary>
public sealed class SerilogAkkaLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public SerilogAkkaLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<Akka.Event.LogEvent>(Write);
    }

    private static void Write(Akka.Event.LogEvent e)
    {
        var level = e.LogLevel() switch
        {
            Akka.Event.LogLevel.DebugLevel => LogEventLevel.Debug,
            Akka.Event.LogLevel.InfoLevel => LogEventLevel.Information,
            Akka.Event.LogLevel.WarningLevel => LogEventLevel.Warning,
            _ => LogEventLevel.Error,
        };
        var cause = e is Error error ? error.Cause : null;
        Serilog.Log.Logger
            .ForContext("SourceContext", e.LogSource)
            .Write(level, cause, "{AkkaMessage}", e.Message?.ToString() ?? "");
    }
}
