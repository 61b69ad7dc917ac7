using Akka.Actor;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Starts the job's pod: creates its Secrets (no owner yet, so the pod finds its mounts at once), then the pod (a fixed name:
/// one that exists already, after a lost answer or for a restarted JobActor, is read instead), then makes the pod the owner
/// of each Secret. With <c>adopt</c> it only reads the existing pod of an adopted job (a pod that is gone is not created
/// again). Then it waits for Running: a poll_interval timer reads the pod, a poll_timeout timer gives up, and the node's
/// shared watch only makes it react sooner. Reports PodCreated, then PodReady or PodNotStarted to its parent, then stops.
/// Every call comes back as a message. A transient fault (429, 5xx, a timeout, a reset) is retried after a backoff taken
/// from the job's <see cref="RetryBudget"/>; a failed poll read waits for the next poll. A permanent one, or a spent budget,
/// fails at once, after deleting what this actor made (the Secrets, and the pod when it cannot own them).
/// </summary>
public sealed class PodActor : ReceiveActor, IWithTimers
{
    private const string PollTimer = "poll";
    private const string TimeoutTimer = "poll-timeout";
    private const string RetryTimer = "retry";

    // The calls that start the pod, in order; Index is the Secret's for the Secret steps.
    private enum Step { CreateSecret, CreatePod, OwnSecret, FindPod }

    private sealed record StepDone(Step Step, int Index, object? Result);
    private sealed record StepFailed(Step Step, int Index, Exception Error);
    private sealed record RetryStep(Step Step, int Index);
    private sealed record Read(V1Pod? Pod);
    private sealed record ReadFailed(Exception Error);
    private sealed record CleanedUp(string Message);
    private sealed record PollTick;
    private sealed record PollTimedOut;

    private readonly JobPodPlan _plan;
    private readonly IKubernetesGateway _gateway;
    private readonly KubernetesSettings _settings;
    private readonly IActorRef _podWatcher;
    private readonly string _cluster;
    private readonly bool _adopt;
    private readonly RetryBudget _budget;
    private readonly CancellationTokenSource _cancel = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _attempt;
    private int _secretsMade;
    private V1Pod? _pod;
    private bool _readInFlight;
    private bool _failing;
    private bool _callInFlight;
    private string? _stopReason;
    private string _lastPhase = "Pending";
    private string? _lastReadError;

    public ITimerScheduler Timers { get; set; } = null!;

    public PodActor(JobPodPlan plan, IKubernetesGateway gateway, KubernetesSettings settings, IActorRef podWatcher, string cluster,
        bool adopt, RetryBudget budget)
    {
        _adopt = adopt;
        _plan = plan;
        _gateway = gateway;
        _settings = settings;
        _podWatcher = podWatcher;
        _cluster = cluster;
        _budget = budget;

        Receive<StepDone>(done =>
        {
            _callInFlight = false;
            if (_stopReason is null || done.Step == Step.FindPod)
            {
                OnStepDone(done);
                return;
            }

            // Asked to stop while the call was out: note what it made, then give it all back.
            if (done.Step == Step.CreateSecret)
            {
                _secretsMade = done.Index + 1;
            }
            else if (done.Step == Step.CreatePod)
            {
                _pod = (V1Pod)done.Result!;
            }

            Fail(_stopReason);
        });
        Receive<StepFailed>(failed =>
        {
            _callInFlight = false;
            if (_stopReason is not null && KubernetesFaults.Classify(failed.Error, _cancel.Token) != FaultKind.Stopped)
            {
                Fail(_stopReason);
                return;
            }

            OnStepFailed(failed);
        });
        Receive<RetryStep>(retry => Run(retry.Step, retry.Index));
        Receive<StopStartingPod>(stop =>
        {
            // The job ended (canceled, timed out) before its pod was made: stop retrying and delete what was made, after
            // the call in flight (if any) answers, so that it cannot leave something behind.
            _stopReason ??= stop.Reason;
            Timers.Cancel(RetryTimer);
            if (!_callInFlight && !_failing && _pod is null)
            {
                Fail(_stopReason);
            }
        });
        Receive<CleanedUp>(cleaned => Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, cleaned.Message)));
        Receive<Read>(read =>
        {
            _readInFlight = false;
            _lastReadError = null;
            if (read.Pod is not null)
            {
                TellParentTrace(read.Pod);
            }

            Check(read.Pod);
        });
        Receive<ReadFailed>(OnReadFailed);
        Receive<PodUpdated>(update => Check(update.Pod));
        Receive<PollTick>(_ => StartRead());
        Receive<PollTimedOut>(_ => Report(new PodNotStarted(FailureReasons.RunnerSystemFailure,
            $"timed out waiting for pod to start (last phase: {_lastPhase}" +
            (_lastReadError is null ? ")" : $"; the last read of the pod failed: {_lastReadError})"))));
    }

    public static Props Props(JobPodPlan plan, IKubernetesGateway gateway, KubernetesSettings settings, IActorRef podWatcher, string cluster,
        RetryBudget budget, bool adopt = false) =>
        Akka.Actor.Props.Create(() => new PodActor(plan, gateway, settings, podWatcher, cluster, adopt, budget));

    protected override void PreStart()
    {
        if (_adopt)
        {
            Run(Step.FindPod, 0);
        }
        else if (_plan.Secrets.Count > 0)
        {
            Run(Step.CreateSecret, 0);
        }
        else
        {
            Run(Step.CreatePod, 0);
        }
    }

    protected override void PostStop()
    {
        _cancel.Cancel();
        _cancel.Dispose();
        _podWatcher.Tell(new UnwatchPod(_cluster, _plan.Namespace, _plan.PodName), Self);
    }

    private void Run(Step step, int index)
    {
        _callInFlight = true;
        var (gateway, plan, pod, ct) = (_gateway, _plan, _pod, _cancel.Token);
        CallAsync().PipeTo(Self);
        return;

        async Task<object> CallAsync()
        {
            try
            {
                object? result = step switch
                {
                    Step.CreateSecret => await gateway.CreateSecretAsync(plan.Secrets[index], ct),
                    Step.CreatePod => await gateway.CreatePodAsync(plan.Pod, ct),
                    Step.OwnSecret => await gateway.SetSecretOwnerAsync(plan.Namespace, plan.Secrets[index].Metadata.Name,
                        JobPodPlan.OwnerReferenceOf(pod!), ct),
                    _ => await gateway.ReadPodAsync(plan.Namespace, plan.PodName, ct),
                };
                return new StepDone(step, index, result);
            }
            catch (Exception e)
            {
                return new StepFailed(step, index, e);
            }
        }
    }

    private void OnStepDone(StepDone done)
    {
        _attempt = 0;
        switch (done.Step)
        {
            case Step.CreateSecret:
                _secretsMade = done.Index + 1;
                Next(done.Index + 1 < _plan.Secrets.Count ? (Step.CreateSecret, done.Index + 1) : (Step.CreatePod, 0));
                break;
            case Step.CreatePod:
                _pod = (V1Pod)done.Result!;
                if (_plan.Secrets.Count > 0)
                {
                    Next((Step.OwnSecret, 0));
                }
                else
                {
                    OnCreated(_pod);
                }

                break;
            case Step.OwnSecret when done.Result is null:
                Fail($"could not create the pod {Where}: its Secret {_plan.Secrets[done.Index].Metadata.Name} is gone");
                break;
            case Step.OwnSecret:
                if (done.Index + 1 < _plan.Secrets.Count)
                {
                    Next((Step.OwnSecret, done.Index + 1));
                }
                else
                {
                    OnCreated(_pod!);
                }

                break;
            case Step.FindPod when done.Result is V1Pod existing:
                OnCreated(existing);
                break;
            case Step.FindPod:
                Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, $"the adopted pod {Where} is gone"));
                break;
        }
    }

    private void Next((Step Step, int Index) next) => Run(next.Step, next.Index);

    private void OnStepFailed(StepFailed failed)
    {
        var what = failed.Step switch
        {
            Step.CreateSecret => $"could not create the Secret {_plan.Secrets[failed.Index].Metadata.Name} of the pod {Where}",
            Step.CreatePod => $"could not create the pod {Where}",
            Step.OwnSecret => $"could not make the pod {Where} the owner of its Secret {_plan.Secrets[failed.Index].Metadata.Name}",
            _ => $"could not read the adopted pod {Where}",
        };
        switch (KubernetesFaults.Classify(failed.Error, _cancel.Token))
        {
            case FaultKind.Stopped:
                return;
            case FaultKind.Transient:
                _attempt++;
                if (_budget.TryTake(_attempt, KubernetesFaults.RetryAfter(failed.Error), out var delay))
                {
                    _log.Warning("{0}: {1}; retry {2} in {3:0.0} s", what, KubernetesFaults.Describe(failed.Error), _attempt,
                        delay.TotalSeconds);
                    Timers.StartSingleTimer(RetryTimer, new RetryStep(failed.Step, failed.Index), delay);
                    return;
                }

                Fail($"{what}: {KubernetesFaults.Describe(failed.Error)} (the job's {_budget.Settings.MaxRetriesPerJob} retries " +
                     "of Kubernetes calls are spent)");
                return;
            default:
                Fail($"{what}: {KubernetesFaults.Describe(failed.Error)}");
                return;
        }
    }

    // Deletes what this actor made before it reports: Secrets without an owner, and a pod that does not own its Secrets,
    // would outlive the job. An adopted pod is never deleted here.
    private void Fail(string message)
    {
        if (_failing)
        {
            return;
        }

        _failing = true;
        Timers.CancelAll();
        if (_adopt || (_pod is null && _secretsMade == 0))
        {
            Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, message));
            return;
        }

        var (gateway, plan, podMade, secrets) = (_gateway, _plan, _pod is not null, _plan.Secrets.Take(_secretsMade).ToList());
        var ct = _cancel.Token;
        CleanUpAsync().PipeTo(Self);
        return;

        async Task<object> CleanUpAsync()
        {
            var left = new List<string>();
            if (podMade)
            {
                await TryAsync($"pod {plan.PodName}", () => gateway.DeletePodAsync(plan.Namespace, plan.PodName, ct));
            }

            foreach (var secret in secrets)
            {
                await TryAsync($"Secret {secret.Metadata.Name}", () => gateway.DeleteSecretAsync(plan.Namespace, secret.Metadata.Name, ct));
            }

            return new CleanedUp(left.Count == 0 ? message : $"{message} (could not delete {string.Join(", ", left)})");

            async Task TryAsync(string name, Func<Task> delete)
            {
                try
                {
                    await delete();
                }
                catch (Exception e)
                {
                    left.Add($"{name}: {KubernetesFaults.Describe(e)}");
                }
            }
        }
    }

    private string Where => $"{_plan.Namespace}/{_plan.PodName}";

    private void OnCreated(V1Pod created)
    {
        Context.Parent.Tell(new PodCreated(created));
        var interval = TimeSpan.FromSeconds(_settings.PollInterval > 0 ? _settings.PollInterval : 3);
        var timeout = TimeSpan.FromSeconds(_settings.PollTimeout > 0 ? _settings.PollTimeout : 180);
        Timers.StartPeriodicTimer(PollTimer, new PollTick(), interval);
        Timers.StartSingleTimer(TimeoutTimer, new PollTimedOut(), timeout);
        _podWatcher.Tell(new WatchPod(_cluster, _plan.Namespace, _plan.PodName, _gateway));
        if (PodStatus.Judge(created) is PodVerdict.Waiting)
        {
            TellParentTrace(created);
        }

        Check(created);
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
            catch (Exception e)
            {
                return new ReadFailed(e);
            }
        }
    }

    // A transient failure of a poll read waits for the next poll (poll_timeout bounds the wait); a permanent one fails now.
    private void OnReadFailed(ReadFailed failed)
    {
        _readInFlight = false;
        switch (KubernetesFaults.Classify(failed.Error, _cancel.Token))
        {
            case FaultKind.Stopped:
                return;
            case FaultKind.Transient:
                _lastReadError = KubernetesFaults.Describe(failed.Error);
                _log.Warning("could not read the pod {0}: {1}; reading again at the next poll", Where, _lastReadError);
                return;
            default:
                Report(new PodNotStarted(FailureReasons.RunnerSystemFailure,
                    $"could not read the pod {Where}: {KubernetesFaults.Describe(failed.Error)}"));
                return;
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
