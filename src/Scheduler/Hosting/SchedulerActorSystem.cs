using Akka.Actor;
using Akka.Configuration;
using Serilog;
using Serilog.Events;

namespace Scheduler.Hosting;

/// <summary>Creates the process's ActorSystem from <c>hocon/base.hocon</c> (embedded in this assembly) plus overrides.</summary>
public static class SchedulerActorSystem
{
    public const string BaseHoconResource = "hocon/base.hocon";

    /// <summary>Actor logs go through Serilog; nothing is written to stdout by Akka itself.</summary>
    public const string SerilogLoggingHocon = """
        akka.loggers = ["Scheduler.Hosting.SerilogAkkaLogger, scheduler"]
        akka.stdout-loglevel = OFF
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        """;

    public static Akka.Configuration.Config BaseConfig()
    {
        using var stream = typeof(SchedulerActorSystem).Assembly.GetManifestResourceStream(BaseHoconResource)
                           ?? throw new InvalidOperationException($"the embedded resource {BaseHoconResource} is missing from the build");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }

    /// <summary>An ActorSystem whose config is <paramref name="overrides"/> over Serilog logging over the base file.</summary>
    public static ActorSystem Create(string name, string overrides = "", Akka.Event.LogLevel level = Akka.Event.LogLevel.WarningLevel)
    {
        var levelName = level switch
        {
            Akka.Event.LogLevel.DebugLevel => "DEBUG",
            Akka.Event.LogLevel.InfoLevel => "INFO",
            Akka.Event.LogLevel.WarningLevel => "WARNING",
            _ => "ERROR",
        };
        var config = ConfigurationFactory.ParseString(overrides)
            .WithFallback(ConfigurationFactory.ParseString($"akka.loglevel = {levelName}\n{SerilogLoggingHocon}"))
            .WithFallback(BaseConfig());
        return ActorSystem.Create(name, config);
    }

    /// <summary>Serilog on stderr at <paramref name="minimum"/> and above: stdout stays the job's trace.</summary>
    public static void ConfigureStderrLogging(LogEventLevel minimum)
    {
        Log.Logger = new LoggerConfiguration()
            .MinimumLevel.Is(minimum)
            .WriteTo.Console(standardErrorFromLevel: LogEventLevel.Verbose,
                outputTemplate: "{Timestamp:HH:mm:ss} [{Level:u3}] {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
    }
}
