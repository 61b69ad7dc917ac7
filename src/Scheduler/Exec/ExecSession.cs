using Akka.Actor;
using Scheduler.Actors.Execution;
using Scheduler.Hosting;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Exec;

/// <summary>An ActorSystem with a RunnerSupervisor, ready to run jobs one call at a time (or several at once: each
/// call has its own listener).</summary>
public sealed class ExecSession : IAsyncDisposable
{
    private ExecSession(ActorSystem system, IActorRef supervisor)
    {
        System = system;
        Supervisor = supervisor;
    }

    public ActorSystem System { get; }
    public IActorRef Supervisor { get; }

    /// <param name="hoconOverrides">HOCON over the base file (tests and benchmarks tune timings here).</param>
    public static ExecSession Start(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options,
        string hoconOverrides = "", string systemName = "scheduler-exec")
    {
        var system = SchedulerActorSystem.Create(systemName, hoconOverrides);
        var supervisor = system.ActorOf(RunnerSupervisor.Props(settings, gateways, options), "runner");
        return new ExecSession(system, supervisor);
    }

    public Task<JobResult> RunAsync(JobPayload job, string runnerName, ConsoleTraceSink sink,
        CancellationToken graceful = default, CancellationToken abort = default) =>
        ExecJobRun.RunAsync(System, Supervisor, job, runnerName, sink, graceful, abort);

    public async ValueTask DisposeAsync()
    {
        await System.Terminate();
    }
}
