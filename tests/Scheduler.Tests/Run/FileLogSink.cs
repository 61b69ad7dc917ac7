using Serilog.Core;
using Serilog.Events;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Writes the process's Serilog events to a file named by SCHEDULER_TEST_LOG, for diagnosing failed runs.</summary>
internal sealed class FileLogSink(string path) : ILogEventSink
{
    private readonly object _gate = new();

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            File.AppendAllText(path, $"{logEvent.Timestamp:HH:mm:ss.fff} [{logEvent.Level}] {logEvent.RenderMessage()} {logEvent.Exception}\n");
        }
    }

    public static void ConfigureFromEnvironment()
    {
        if (Environment.GetEnvironmentVariable("SCHEDULER_TEST_LOG") is { Length: > 0 } path)
        {
            Serilog.Log.Logger = new Serilog.LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(new FileLogSink(path)).CreateLogger();
        }
    }
}
