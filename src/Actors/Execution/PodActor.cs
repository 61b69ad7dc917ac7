using Akka.Actor;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Creates the job's pod (or finds it, when a restarted JobActor adopts it) and its Secrets owned by it, or with
/// <c>adopt</c> only reads the existing pod of an adopted job (a pod that is gone is not created again), then waits
/// for Running: a poll_interval timer reads the pod, a poll_timeout timer gives up, and the node's shared watch
/// only makes it react sooner. Reports PodCreated, then PodReady or PodNotStarted to its parent, then stops.
/// </summary>
public sealed class PodActor : ReceiveActor, IWithTimers
{
    private const string PollTimer = "poll";
    private const string TimeoutTimer = "poll-timeout";

    private sealed record Created(V1Pod Pod);
    private sealed record Read(V1Pod? Pod);
    private sealed record CallFailed(string Message);
    private sealed record PollTick;
    private sealed record PollTimedOut;

    private readonly JobPodPlan _plan;
    private readonly IKubernetesGateway _gateway;
    private readonly KubernetesSettings _settings;
    private readonly IActorRef _podWatcher;
    private readonly string _cluster;
    private readonly bool _adopt;
    private readonly CancellationTokenSource _cancel = new();
    private bool _readInFlight;
    private string _lastPhase = "Pending";

    public ITimerScheduler Timers { get; set; } = null!;

    public PodActor(JobPodPlan plan, IKubernetesGateway gateway, KubernetesSettings settings, IActorRef podWatcher, string cluster,
        bool adopt)
    {
        _adopt = adopt;
        _plan = plan;
        _gateway = gateway;
        _settings = settings;
        _podWatcher = podWatcher;
        _cluster = cluster;

        Receive<Created>(OnCreated);
        Receive<CallFailed>(failed => Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, failed.Message)));
        Receive<Read>(read =>
        {
            _readInFlight = false;
            if (read.Pod is not null)
            {
                TellParentTrace(read.Pod);
            }

            Check(read.Pod);
        });
        Receive<PodUpdated>(update => Check(update.Pod));
        Receive<PollTick>(_ => StartRead());
        Receive<PollTimedOut>(_ => Report(new PodNotStarted(FailureReasons.RunnerSystemFailure,
            $"timed out waiting for pod to start (last phase: {_lastPhase})")));
    }

    public static Props Props(JobPodPlan plan, IKubernetesGateway gateway, KubernetesSettings settings, IActorRef podWatcher, string cluster,
        bool adopt = false) =>
        Akka.Actor.Props.Create(() => new PodActor(plan, gateway, settings, podWatcher, cluster, adopt));

    protected override void PreStart()
    {
        var plan = _plan;
        var gateway = _gateway;
        var ct = _cancel.Token;
        (_adopt ? FindAsync() : CreateAsync()).PipeTo(Self);
        return;

        async Task<object> FindAsync()
        {
            try
            {
                var existing = await gateway.ReadPodAsync(plan.Namespace, plan.PodName, ct);
                return existing is null
                    ? new CallFailed($"the adopted pod {plan.Namespace}/{plan.PodName} is gone")
                    : new Created(existing);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new CallFailed($"could not read the adopted pod {plan.Namespace}/{plan.PodName}: {e.Message}");
            }
        }

        async Task<object> CreateAsync()
        {
            try
            {
                var created = await gateway.CreatePodAsync(plan.Pod, ct);
                foreach (var secret in plan.SecretsOwnedBy(created))
                {
                    await gateway.CreateSecretAsync(secret, ct);
                }

                return new Created(created);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new CallFailed($"could not create the pod {plan.Namespace}/{plan.PodName}: {e.Message}");
            }
        }
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        _podWatcher.Tell(new UnwatchPod(_cluster, _plan.Namespace, _plan.PodName), Self);
    }

    private void OnCreated(Created created)
    {
        Context.Parent.Tell(new PodCreated(created.Pod));
        var interval = TimeSpan.FromSeconds(_settings.PollInterval > 0 ? _settings.PollInterval : 3);
        var timeout = TimeSpan.FromSeconds(_settings.PollTimeout > 0 ? _settings.PollTimeout : 180);
        Timers.StartPeriodicTimer(PollTimer, new PollTick(), interval);
        Timers.StartSingleTimer(TimeoutTimer, new PollTimedOut(), timeout);
        _podWatcher.Tell(new WatchPod(_cluster, _plan.Namespace, _plan.PodName, _gateway));
        if (PodStatus.Judge(created.Pod) is PodVerdict.Waiting)
        {
            TellParentTrace(created.Pod);
        }

        Check(created.Pod);
    }

    private void StartRead()
    {
        if (_readInFlight)
        {
            return;
        }

        _readInFlight = true;
        var gateway = _gateway;
        var (ns, name) = (_plan.Namespace, _plan.PodName);
        var ct = _cancel.Token;
        ReadAsync().PipeTo(Self);
        return;

        async Task<object> ReadAsync()
        {
            try
            {
                return new Read(await gateway.ReadPodAsync(ns, name, ct));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new CallFailed($"could not read the pod {ns}/{name}: {e.Message}");
            }
        }
    }

    private void Check(V1Pod? pod)
    {
        switch (PodStatus.Judge(pod))
        {
            case PodVerdict.Running:
                Report(new PodReady(pod!));
                break;
            case PodVerdict.Failed failed:
                Report(new PodNotStarted(failed.FailureReason, failed.Message));
                break;
            case PodVerdict.Waiting waiting:
                _lastPhase = waiting.Phase;
                break;
        }
    }

    private void TellParentTrace(V1Pod pod)
    {
        if (PodStatus.Judge(pod) is PodVerdict.Waiting)
        {
            Context.Parent.Tell(new TraceText(PodStatus.WaitingLine(pod)));
        }
    }

    private void Report(object outcome)
    {
        Timers.CancelAll();
        Context.Parent.Tell(outcome);
        Context.Stop(Self);
    }
}
