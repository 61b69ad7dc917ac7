using Akka.Actor;
using Akka.Hosting;
using Scheduler.Actors.Execution;
using Scheduler.Hosting;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Exec;

/// <summary>An ActorSystem (built by Akka.Hosting, <see cref="SchedulerHost"/>) with a RunnerSupervisor, ready to run jobs one call at a time (or several at once: each
/// call has its own listener).</summary>
public sealed class ExecSession : IAsyncDisposable
{
    private readonly SchedulerHost _host;

    private ExecSession(SchedulerHost host)
    {
        _host = host;
        Supervisor = host.Registry.Get<RunnerSupervisor>();
    }

    public ActorSystem System => _host.System;

    /// <summary>The top-level actors by type: <c>RunnerSupervisor</c>.</summary>
    public ActorRegistry Registry => _host.Registry;

    public IActorRef Supervisor { get; }

    /// <param name="hoconOverrides">HOCON over the base file (tests and benchmarks tune timings here).</param>
    public static ExecSession Start(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options,
        string hoconOverrides = "", string systemName = "scheduler-exec")
    {
        var host = SchedulerHost.Start(systemName, builder => builder
            .WithSchedulerDefaults(SchedulerActorSystem.LevelOf(hoconOverrides, Akka.Event.LogLevel.WarningLevel))
            .WithActors((system, registry) =>
                registry.Register<RunnerSupervisor>(system.ActorOf(RunnerSupervisor.Props(settings, gateways, options), "runner")))
            .WithOverrides(hoconOverrides));
        return new ExecSession(host);
    }

    public Task<JobResult> RunAsync(JobPayload job, string runnerName, ConsoleTraceSink sink,
        CancellationToken graceful = default, CancellationToken abort = default) =>
        ExecJobRun.RunAsync(System, Supervisor, job, runnerName, sink, graceful, abort);

    public async ValueTask DisposeAsync()
    {
        // Stops the host: Akka.Hosting runs the system's coordinated shutdown.
        await _host.DisposeAsync();
    }
}
