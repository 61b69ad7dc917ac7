using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// The root of the node's job tree: the pod watcher, the job coordinator (the slot pool) and, started through
/// <see cref="StartIntake"/>, one intake per runner entry. Slot reservations, jobs, cancels, adoptions, hand-overs, new limits
/// and capacity queries go to the coordinator.
/// Supervision: a crash of the coordinator or of an intake resumes it — the message that crashed it is dropped, its state
/// and its children (the slots and their jobs; the GitLab listeners) go on untouched, so no running job and no trace byte is
/// lost. A restart would do worse here: Akka restarts the children that survive a parent's restart, and a listener keeps
/// its trace in memory. The pod watcher restarts (its watches are started again by the next subscribers; the PodActors' poll
/// timers are the guarantee).
/// </summary>
public sealed class RunnerSupervisor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _podWatcher;

    public RunnerSupervisor(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options)
    {
        _podWatcher = Context.ActorOf(PodWatcher.Props(options.WatchRestartDelay, options.Observer, options.WatchIdleLinger), "pod-watch");
        var coordinator = Context.ActorOf(JobCoordinator.Props(settings, gateways, options, _podWatcher), "coordinator");

        Receive<ReserveSlot>(reserve => coordinator.Forward(reserve));
        Receive<ReleaseSlotReservation>(release => coordinator.Forward(release));
        Receive<RunJob>(run => coordinator.Forward(run));
        Receive<CancelJob>(cancel => coordinator.Forward(cancel));
        Receive<AdoptJob>(adopt => coordinator.Forward(adopt));
        Receive<HandOverJobs>(handOver => coordinator.Forward(handOver));
        Receive<UpdateAdmissionLimits>(update => coordinator.Forward(update));
        Receive<UpdateRunnerEntries>(update => coordinator.Forward(update));
        Receive<GetCapacity>(query => coordinator.Forward(query));
        Receive<StartIntake>(start => Sender.Tell(Context.ActorOf(start.Props, start.Name)));
    }

    public static Props Props(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options) =>
        Akka.Actor.Props.Create(() => new RunnerSupervisor(settings, gateways, options));

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(-1, TimeSpan.FromMinutes(1), error =>
        {
            if (Sender.Equals(_podWatcher))
            {
                return Directive.Restart;
            }

            _log.Error(error, "{Child} failed; resumed with its state and children", Sender.Path.Name);
            return Directive.Resume;
        });
}
