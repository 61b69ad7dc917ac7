using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using LogEventLevel = Serilog.Events.LogEventLevel;

namespace Scheduler.Hosting;

/// <summary>
/// Akka's logger that hands its events to Serilog's static logger, so actor logs follow the process's Serilog setup (for
/// exec: stderr, warnings and up) instead of Akka's stdout logger, which would mix with the job's trace.
/// Events stay structured: the template and its arguments go to Serilog as they are (never a pre-formatted string), so the
/// named placeholders of Akka's semantic logging (<c>"job {JobId}: …"</c>) become the event's properties, with
/// <c>ActorPath</c> and, where the actor path tells them, <c>JobId</c> and <c>Runner</c> (<see cref="ActorLogContext"/>).
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
        var logger = Serilog.Log.Logger;
        if (!logger.IsEnabled(level))
        {
            return;
        }

        // Context properties only fill what the template does not name itself.
        logger = logger.ForContext("SourceContext", e.LogClass?.FullName ?? e.LogSource)
            .ForContext(ActorLogContext.ActorPath, e.LogSource);
        foreach (var (name, value) in ActorLogContext.FromPath(e.LogSource))
        {
            logger = logger.ForContext(name, value);
        }

        var cause = e is Error error ? error.Cause : null;
        if (e.Message is LogMessage message)
        {
            logger.Write(level, cause, message.Format, message.Parameters().ToArray());
        }
        else
        {
            logger.Write(level, cause, "{AkkaMessage}", e.Message?.ToString() ?? "");
        }
    }
}
