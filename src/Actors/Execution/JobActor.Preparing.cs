using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

// Phase 1: the pod. The PodActor creates it (or reads an adopted one) and waits for Running; it always reports
// (PodCreated, then PodReady or PodNotStarted). A cancel or the job timeout here finishes the job, after the PodActor has
// reported whether a pod was made, so that none is left behind.
public sealed partial class JobActor
{
    private IActorRef? _podActor;
    private bool _podCreated;

    private void Preparing(object message)
    {
        switch (message)
        {
            case TraceText text:
                OnTraceText(text);
                break;
            case PodUpdated update:
                OnPodUpdated(update);
                break;
            case PodCreated created:
                OnPodCreated(created);
                break;
            case PodReady ready:
                OnPodReady(ready);
                break;
            case PodNotStarted notStarted:
                _podActor = null;
                Finish(JobDecisions.Failed(notStarted.FailureReason, null, notStarted.Message), drain: false);
                break;
            case CancelRequested cancel:
                Warn(cancel.Graceful ? "Job canceled: stopping the script, after_script still runs" : "Job canceled");
                _progress = _progress with { Canceled = true };
                Finish(JobDecisions.Canceled, drain: false);
                break;
            case JobTimedOut:
                OnJobTimeout();
                break;
            case HandOverRequested handOver:
                HandOver(handOver.Reason);
                break;
            case CrashForTest:
                throw new InjectedCrashException();
            default:
                Dropped(message, "preparing");
                break;
        }
    }

    private void StartPreparing(bool announce)
    {
        if (_planResult.Plan is not { } plan)
        {
            Finish(JobDecisions.Failed(FailureReasons.RunnerConfigurationError, null, _planResult.Refusal ?? "the job cannot run"),
                drain: false);
            return;
        }

        if (announce)
        {
            var image = plan.Pod.Pod.Spec.Containers.FirstOrDefault(c => c.Name == PodBuilder.BuildContainer)?.Image;
            var helperImage = plan.Pod.Pod.Spec.Containers.FirstOrDefault(c => c.Name == PodBuilder.HelperContainer)?.Image;
            // No image of the job's own: it runs in the runner's image, which the embedded cluster runs on the host.
            var imageLine = image is null ? ""
                : image == helperImage ? $"Using Kubernetes executor with no job image: the job runs in the runner's own image {image} " +
                                         "(on the embedded cluster: this machine's filesystem) ...\n"
                : $"Using Kubernetes executor with image {image} ...\n";
            _log.Tell(new TraceText($"Using Kubernetes namespace: {plan.Pod.Namespace}\n" + imageLine));
        }

        // The shared watch follows the pod while this actor drives it: the node's pod-phase counts come from it, and in a
        // fleet a claim by another node stops this actor at once. Subscribed before the PodActor, so the namespace's watch
        // runs on without a restart when the PodActor unsubscribes. On a single node this actor only joins the watch: it
        // starts when the PodActor waits for the pod.
        _podWatcher.Tell(new WatchPod(ClusterKey(_runner), plan.Pod.Namespace, plan.Pod.PodName, _gateway!,
            StartsWatch: _options.OwnerId is not null), Self);

        _podActor = Context.ActorOf(PodActor.Props(plan.Pod, _gateway!, _runner.Kubernetes, _podWatcher, ClusterKey(_runner),
            _budget, adopt: _adopted is not null), PodChildName);
    }

    private void OnPodCreated(PodCreated created)
    {
        _podCreated = true;
        _knownResourceVersion = created.Pod.Metadata?.ResourceVersion;
        _logger.Info(_adopted is null ? "job {JobId} of runner {Runner}: pod {Pod} created" : "job {JobId} of runner {Runner}: pod {Pod} adopted",
            _job.Id, _runner.Name, PodName);
    }

    private void OnPodReady(PodReady ready)
    {
        _podActor = null;
        _podReady = true;
        // The PodActor has stopped; only names are needed from here on (a restart plans the job again).
        _planResult = _planResult with { Plan = Plan.WithoutPodContent() };
        _log.Tell(new TraceText($"Running on {Plan.Pod.PodName} via {_adopted?.StartedVia ?? _options.StartedVia}...\n"));
        _log.Tell(new StartReading(_gateway!, Plan.Pod.Namespace, Plan.Pod.PodName, Plan.LogContainer, Plan.ReadLog));
        Become(RunningStages);
        RunNextStage();
    }

    private void OnJobTimeout()
    {
        var timeout = TimeSpan.FromSeconds(_job.RunnerInfo.EffectiveTimeoutSeconds);
        KillCurrentStage();
        Finish(JobDecisions.TimedOut(timeout), drain: _podReady);
    }
}
