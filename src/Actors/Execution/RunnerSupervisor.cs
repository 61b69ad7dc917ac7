using Akka.Actor;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>The root of the job-running tree: the node's pod watcher and the job coordinator. RunJob and CancelJob
/// are handed to the coordinator, and so are AdoptJob, HandOverJobs, UpdateAdmissionLimits and GetCapacity.</summary>
public sealed class RunnerSupervisor : ReceiveActor
{
    public RunnerSupervisor(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options)
    {
        var podWatcher = Context.ActorOf(PodWatcher.Props(options.WatchRestartDelay, options.Observer), "pod-watch");
        var coordinator = Context.ActorOf(JobCoordinator.Props(settings, gateways, options, podWatcher), "coordinator");

        Receive<ReserveSlot>(reserve => coordinator.Forward(reserve));
        Receive<ReleaseSlotReservation>(release => coordinator.Forward(release));
        Receive<RunJob>(run => coordinator.Forward(run));
        Receive<CancelJob>(cancel => coordinator.Forward(cancel));
        Receive<AdoptJob>(adopt => coordinator.Forward(adopt));
        Receive<HandOverJobs>(handOver => coordinator.Forward(handOver));
        Receive<UpdateAdmissionLimits>(update => coordinator.Forward(update));
        Receive<GetCapacity>(query => coordinator.Forward(query));
    }

    public static Props Props(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options) =>
        Akka.Actor.Props.Create(() => new RunnerSupervisor(settings, gateways, options));

    // The watcher and the coordinator hold only what they can rebuild; restart them, a few times at most.
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(10, TimeSpan.FromMinutes(1), _ => Directive.Restart);
}
