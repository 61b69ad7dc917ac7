using Akka.Actor;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>The root of the job-running tree: the node's pod watcher and the job coordinator. RunJob and CancelJob
/// are handed to the coordinator.</summary>
public sealed class RunnerSupervisor : ReceiveActor
{
    public RunnerSupervisor(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options)
    {
        var podWatcher = Context.ActorOf(PodWatcher.Props(options.WatchRestartDelay), "pod-watch");
        var coordinator = Context.ActorOf(JobCoordinator.Props(settings, gateways, options, podWatcher), "coordinator");

        Receive<RunJob>(run => coordinator.Forward(run));
        Receive<CancelJob>(cancel => coordinator.Forward(cancel));
    }

    public static Props Props(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options) =>
        Akka.Actor.Props.Create(() => new RunnerSupervisor(settings, gateways, options));

    // The watcher and the coordinator hold only what they can rebuild; restart them, a few times at most.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
