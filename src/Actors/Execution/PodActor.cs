// PodActor is one actor whose steps (Secrets, pod, owner reference, PodDisruptionBudget, start checks, cleanup) share
// one retry budget and its timers; each step is a short handler, and the pure rules live in Pods/ and Faults/.
using Akka.Actor;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Starts the job's pod: with <c>namespace_per_job</c> creates the job's namespace first; waits for the service account and
/// the configured imagePullSecrets to exist (<c>resource_availability_check_max_attempts</c> more checks, 5 s apart, as GitLab
/// Runner); creates the registry Secret (an imagePullSecret must exist before the pod: kubelet pulls without a missing
/// one and fails), then the pod (a fixed name: one that exists already, after a lost answer or for a restarted JobActor, is
/// read instead), then the job Secret with the pod as its owner in the create's body (after a 409 the existing Secret is
/// kept only when it names this pod's uid; one left by an earlier pod of the same name, or being deleted, is deleted and
/// made again, within the job's retry budget), then makes the pod the registry Secret's owner. The job Secret comes
/// after the pod so that it needs no owner patch: one write fewer per job than GitLab Runner's order (Secrets, pod,
/// patches); the pod waits for its mount meanwhile (kubelet: a FailedMount event and a retry from about 0.5 s on a node
/// faster than the create's round trip). With <c>pod_disruption_budget</c> then creates the pod's PodDisruptionBudget (owned by the pod; a budget
/// that cannot be made is a warning in the trace, the job runs unprotected). With <c>adopt</c> it only reads the existing pod of an adopted job (a pod that is gone is not created
/// again). Then it waits for Running: the node's shared watch tells it of changes, a poll_interval timer reads the pod when
/// the watch said nothing about it since the last tick (else the tick's waiting line comes from the watch's event), and a
/// poll_timeout timer gives up. Reports PodCreated, then PodReady or PodNotStarted to its parent, then stops.
/// Every call comes back as a message. A transient fault (429, 5xx, a timeout, a reset) is retried after a backoff taken
/// from the job's <see cref="RetryBudget"/>; so is any error whose text matches a <c>retry_limits</c> fragment, up to that
/// fragment's limit. A failed poll read waits for the next poll. A permanent one, or a spent budget, fails at once, after
/// deleting what this actor made (the pod, which would wait for ever for a job Secret that cannot be made, and the Secrets;
/// with cleanup_grace_period_seconds and within cleanup_resources_timeout). A pod whose create may have landed without an
/// answer (a timeout, a 5xx, a stop while it was out) is deleted by its name.
/// </summary>
public sealed class PodActor : UntypedActor, IWithTimers
{
    private const string PollTimer = "poll";
    private const string TimeoutTimer = "poll-timeout";
    private const string RetryTimer = "retry";

    /// <summary>GitLab Runner's pause between two checks of a resource the pod needs.</summary>
    internal static readonly TimeSpan ResourceCheckInterval = TimeSpan.FromSeconds(5);

    // The calls that start the pod, in order; Index is the check's for CheckResource.
    private enum Step
    {
        CreateNamespace, CheckResource, CreatePullSecret, CreatePod, CreateJobSecret, DeleteStaleJobSecret, OwnPullSecret, CreateBudget,
        FindPod, OwnAdoptedPullSecret,
    }

    /// <summary>A resource the pod refers to but does not bring: its service account or an imagePullSecret of the config.</summary>
    private sealed record ResourceCheck(string Kind, string Name);

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
    private ILoggingAdapter? _log;
    private int _attempt;
    private bool _pullSecretMade;
    private bool _jobSecretMade;
    private V1Pod? _pod;

    /// <summary>Whether a pod create was sent and its outcome is unknown (no answer, or a transient error): the pod may exist.</summary>
    private bool _podMayExist;

    /// <summary>How many times an earlier pod's job Secret was found and replaced (each takes from the retry budget).</summary>
    private int _staleSecretRounds;
    private TimeSpan _recreateDelay;

    /// <summary>The job Secret with the made pod as its owner (the body of every create try).</summary>
    private V1Secret? _ownedJobSecret;
    private bool _readInFlight;

    /// <summary>The pod as the latest watch event since the last poll tick showed it; null when the watch said nothing since.</summary>
    private V1Pod? _heardSinceTick;

    /// <summary>Whether the pod is made and reported (<see cref="OnCreated"/>); until then watch events are only kept.</summary>
    private bool _created;

    /// <summary>The pod as the latest watch event before <see cref="OnCreated"/> showed it (newer than the create's answer).</summary>
    private V1Pod? _heardBeforeCreated;
    private bool _failing;
    private bool _callInFlight;
    private string? _stopReason;
    private string _lastPhase = "Pending";
    private string? _lastReadError;
    private readonly IReadOnlyList<ResourceCheck> _checks;
    private int _resourceChecks;

    public ITimerScheduler Timers { get; set; } = null!;

    // Made when first needed (a warning): Akka builds the logger's source from the actor's path, a string per actor.
    private ILoggingAdapter Log => _log ??= Context.GetLogger();

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
        _checks = ResourceChecks(plan);
    }

    // A switch rather than ReceiveActor's handler table, which would be built for every job's pod.
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StepDone done:
                OnStepDoneWhileStopping(done);
                break;
            case StepFailed failed:
                _callInFlight = false;
                if (_stopReason is not null && KubernetesFaults.Classify(failed.Error, _cancel.Token) != FaultKind.Stopped)
                {
                    Fail(_stopReason);
                    break;
                }

                OnStepFailed(failed);
                break;
            case RetryStep retry:
                Run(retry.Step, retry.Index);
                break;
            case StopStartingPod stop:
                // The job ended (canceled, timed out) before its pod was made: stop retrying and delete what was made, after
                // the call in flight (if any) answers, so that it cannot leave something behind.
                _stopReason ??= stop.Reason;
                Timers.Cancel(RetryTimer);
                // Not yet reported: also between a made pod and its job Secret, whose retry was just cancelled.
                if (!_callInFlight && !_failing && !_created)
                {
                    Fail(_stopReason);
                }

                break;
            case CleanedUp cleaned:
                Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, cleaned.Message));
                break;
            case Read read:
                _readInFlight = false;
                _lastReadError = null;
                if (read.Pod is not null)
                {
                    TellParentTrace(read.Pod);
                }

                Check(read.Pod);
                break;
            case ReadFailed failed:
                OnReadFailed(failed);
                break;
            case PodUpdated update when !_created:
                // The watch follows the pod from its create on; until the pod is reported (its Secret owned, its budget
                // made) the latest event is kept for OnCreated to judge.
                _heardBeforeCreated = update.Type == k8s.WatchEventType.Deleted ? null : update.Pod;
                break;
            case PodUpdated update:
                // A deletion is for a read to confirm (the pod is gone): the next tick reads.
                _heardSinceTick = update.Type == k8s.WatchEventType.Deleted ? null : update.Pod;
                Check(update.Pod);
                break;
            case PollTick:
                OnPollTick();
                break;
            case PollTimedOut:
                Report(new PodNotStarted(FailureReasons.RunnerSystemFailure,
                    $"timed out waiting for pod to start (last phase: {_lastPhase}" +
                    (_lastReadError is null ? ")" : $"; the last read of the pod failed: {_lastReadError})")));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnStepDoneWhileStopping(StepDone done)
    {
        _callInFlight = false;
        if (_stopReason is null || done.Step is Step.FindPod or Step.OwnAdoptedPullSecret)
        {
            OnStepDone(done);
            return;
        }

        // Asked to stop while the call was out: note what it made, then give it all back.
        NoteMade(done);

        Fail(_stopReason);
    }

    public static Props Props(JobPodPlan plan, IKubernetesGateway gateway, KubernetesSettings settings, IActorRef podWatcher, string cluster,
        RetryBudget budget, bool adopt = false) =>
        DirectProps.Of(() => new PodActor(plan, gateway, settings, podWatcher, cluster, adopt, budget));

    protected override void PreStart()
    {
        if (_adopt)
        {
            Run(Step.FindPod, 0);
        }
        else if (_settings.NamespacePerJob)
        {
            Run(Step.CreateNamespace, 0);
        }
        else
        {
            StartChecks();
        }
    }

    // The service account and the imagePullSecrets the job does not create itself (its registry Secret is made below).
    private static IReadOnlyList<ResourceCheck> ResourceChecks(JobPodPlan plan)
    {
        var checks = new List<ResourceCheck>();
        if (plan.Pod.Spec.ServiceAccountName is { Length: > 0 } account)
        {
            checks.Add(new ResourceCheck("ServiceAccount", account));
        }

        var own = plan.Secrets.Select(secret => secret.Metadata.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var pullSecret in plan.Pod.Spec.ImagePullSecrets ?? [])
        {
            if (pullSecret.Name is { Length: > 0 } name && !own.Contains(name))
            {
                checks.Add(new ResourceCheck("ImagePullSecret", name));
            }
        }

        return checks;
    }

    private void StartChecks()
    {
        if (_checks.Count > 0)
        {
            Run(Step.CheckResource, 0);
        }
        else
        {
            StartCreating();
        }
    }

    private void StartCreating() => Run(_plan.RegistrySecret is null ? Step.CreatePod : Step.CreatePullSecret, 0);

    private void NoteMade(StepDone done)
    {
        switch (done.Step)
        {
            case Step.CreatePullSecret:
                _pullSecretMade = true;
                break;
            case Step.CreatePod:
                _pod = (V1Pod)done.Result!;
                _podMayExist = false;
                break;
            case Step.CreateJobSecret:
                _jobSecretMade = true;
                break;
        }
    }

    // Not there (or the read failed): look again after the interval, at most resource_availability_check_max_attempts times more.
    private void ResourceMissing(int index, string? error)
    {
        var check = _checks[index];
        _resourceChecks++;
        if (_resourceChecks > _settings.ResourceAvailabilityCheckMaxAttempts)
        {
            Fail($"Timed out while waiting for {check.Kind}/{check.Name} to be present in the cluster" +
                 (error is null ? "" : $" (the last check failed: {error})"));
            return;
        }

        Log.Info("{Kind} {Name} is not in {Namespace} yet; checking again in {Seconds:0} s (attempt {Attempt})", check.Kind, check.Name, _plan.Namespace,
            ResourceCheckInterval.TotalSeconds, _resourceChecks);
        Timers.StartSingleTimer(RetryTimer, new RetryStep(Step.CheckResource, index), ResourceCheckInterval);
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
        if (step == Step.CreatePod)
        {
            // Followed before it exists: a pod that runs within the create's round trip and the owner patch (the embedded
            // cluster starts one in milliseconds) would otherwise be Running before anyone listens, and be seen only at
            // the next poll_interval's read.
            _podWatcher.Tell(new WatchPod(_cluster, _plan.Namespace, _plan.PodName, _gateway));
            _podMayExist = true;
        }

        if (step == Step.CreateJobSecret)
        {
            // Made once: the owner is the pod as its create (or the read after a 409) answered, with its uid.
            _ownedJobSecret ??= _plan.JobSecretOwnedBy(_pod!);
        }

        var (gateway, plan, pod, ct, checks, jobSecret) = (_gateway, _plan, _pod, _cancel.Token, _checks, _ownedJobSecret);
        CallAsync().PipeTo(Self);
        return;

        async Task<object> CallAsync()
        {
            try
            {
                object? result = step switch
                {
                    Step.CreateNamespace => await CreateNamespaceAsync(),
                    Step.CheckResource when checks[index].Kind == "ServiceAccount" =>
                        await gateway.ServiceAccountExistsAsync(plan.Namespace, checks[index].Name, ct),
                    Step.CheckResource => await gateway.ReadSecretAsync(plan.Namespace, checks[index].Name, ct) is not null,
                    Step.CreatePullSecret => await gateway.CreateSecretAsync(plan.RegistrySecret!, ct),
                    Step.CreatePod => await gateway.CreatePodAsync(plan.Pod, ct),
                    Step.CreateJobSecret => await gateway.CreateSecretAsync(jobSecret!, ct),
                    Step.DeleteStaleJobSecret => await DeleteJobSecretAsync(),
                    Step.OwnPullSecret or Step.OwnAdoptedPullSecret => await gateway.SetSecretOwnerAsync(plan.Namespace,
                        plan.RegistrySecret!.Metadata.Name, JobPodPlan.OwnerReferenceOf(pod!), ct),
                    Step.CreateBudget => await gateway.CreatePodDisruptionBudgetAsync(PodDisruptionBudgets.For(pod!), ct),
                    _ => await gateway.ReadPodAsync(plan.Namespace, plan.PodName, ct),
                };
                return new StepDone(step, index, result);
            }
            catch (Exception e)
            {
                return new StepFailed(step, index, e);
            }
        }

        async Task<object?> CreateNamespaceAsync()
        {
            await gateway.CreateNamespaceAsync(plan.Namespace, ct);
            return null;
        }

        async Task<object?> DeleteJobSecretAsync()
        {
            await gateway.DeleteSecretAsync(plan.Namespace, plan.JobSecret.Metadata.Name, null, ct);
            return null;
        }
    }

    private void OnStepDone(StepDone done)
    {
        _attempt = 0;
        switch (done.Step)
        {
            case Step.CreateNamespace:
                StartChecks();
                break;
            case Step.CheckResource when done.Result is true:
                _resourceChecks = 0;
                if (done.Index + 1 < _checks.Count)
                {
                    Run(Step.CheckResource, done.Index + 1);
                }
                else
                {
                    StartCreating();
                }

                break;
            case Step.CheckResource:
                ResourceMissing(done.Index, null);
                break;
            case Step.CreatePullSecret:
                NoteMade(done);
                Run(Step.CreatePod, 0);
                break;
            case Step.CreatePod:
                NoteMade(done);
                Run(Step.CreateJobSecret, 0);
                break;
            case Step.CreateJobSecret when done.Result is V1Secret existing && !JobPodPlan.IsJobSecretOf(existing, _pod!):
                NoteMade(done);
                StaleJobSecret(existing);
                break;
            case Step.DeleteStaleJobSecret:
                Timers.StartSingleTimer(RetryTimer, new RetryStep(Step.CreateJobSecret, 0), _recreateDelay);
                break;
            case Step.CreateJobSecret when _plan.RegistrySecret is not null:
                NoteMade(done);
                Run(Step.OwnPullSecret, 0);
                break;
            case Step.CreateJobSecret:
                NoteMade(done);
                AfterPodMade();
                break;
            case Step.OwnPullSecret when done.Result is null:
                Fail($"could not create the pod {Where}: its Secret {_plan.RegistrySecret!.Metadata.Name} is gone");
                break;
            case Step.OwnPullSecret:
                AfterPodMade();
                break;
            case Step.CreateBudget:
                OnCreated(_pod!);
                break;
            case Step.FindPod when done.Result is V1Pod existing && _plan.RegistrySecret is not null:
                // A node that died between the pod's create and the registry Secret's owner patch left that Secret (registry
                // credentials) without an owner: it would outlive the job. The patch is idempotent.
                _pod = existing;
                Run(Step.OwnAdoptedPullSecret, 0);
                break;
            case Step.FindPod when done.Result is V1Pod existing:
                OnCreated(existing);
                break;
            case Step.OwnAdoptedPullSecret:
                OnCreated(_pod!);
                break;
            case Step.FindPod:
                Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, $"the adopted pod {Where} is gone"));
                break;
        }
    }

    // A 409 met a job Secret that is not this pod's (a restarted job whose earlier pod is gone, its Secret not yet collected,
    // or one being deleted): the collector would delete it under the new pod, which would then wait for its mount until
    // poll_timeout. Delete it and create it again after a backoff; each round takes from the job's retry budget.
    private void StaleJobSecret(V1Secret existing)
    {
        _staleSecretRounds++;
        var owner = existing.Metadata?.OwnerReferences?.FirstOrDefault()?.Uid ?? "none";
        var why = existing.Metadata?.DeletionTimestamp is null ? $"its owner is {owner}" : "it is being deleted";
        if (!_budget.TryTake(_staleSecretRounds, null, out _recreateDelay))
        {
            Fail($"could not create the Secret {_plan.JobSecret.Metadata.Name} of the pod {Where}: an earlier Secret of that name is " +
                 $"in the way ({why}, the pod is {_pod!.Metadata.Uid}; tried {_staleSecretRounds} times)");
            return;
        }

        Log.Info("the Secret {Name} in {Namespace} is not the pod's ({Why}): deleting it and creating it again", _plan.JobSecret.Metadata.Name,
            _plan.Namespace, why);
        Run(Step.DeleteStaleJobSecret, 0);
    }

    // The budget needs the pod's uid (its owner), so it comes once the pod exists.
    private void AfterPodMade()
    {
        if (_settings.PodDisruptionBudget)
        {
            Run(Step.CreateBudget, 0);
        }
        else
        {
            OnCreated(_pod!);
        }
    }

    // The budget protects the job from node drains; without it the job still runs: warn in the trace and go on.
    private void BudgetNotMade(string why)
    {
        var name = PodDisruptionBudgets.NameOf(_plan.PodName);
        Log.Warning("could not create the PodDisruptionBudget {Namespace}/{Name}: {Error}", _plan.Namespace, name, why);
        Context.Parent.Tell(new TraceText(
            $"\u001b[0;33mWARNING: could not create the PodDisruptionBudget {_plan.Namespace}/{name}: {why}; the job's pod is not protected from evictions\u001b[0;m\n"));
        OnCreated(_pod!);
    }

    private void OnStepFailed(StepFailed failed)
    {
        if (failed.Step == Step.OwnAdoptedPullSecret)
        {
            // The adopted job runs on: its pod has its images already. Only the Secret may outlive it.
            Log.Warning("could not make the adopted pod {Pod} the owner of its Secret {Secret}: {Error}", Where,
                _plan.RegistrySecret!.Metadata.Name, KubernetesFaults.Describe(failed.Error));
            OnCreated(_pod!);
            return;
        }

        if (failed.Step == Step.CheckResource)
        {
            // As GitLab Runner: a check that fails counts as "not there yet".
            if (KubernetesFaults.Classify(failed.Error, _cancel.Token) != FaultKind.Stopped)
            {
                ResourceMissing(failed.Index, KubernetesFaults.Describe(failed.Error));
            }

            return;
        }

        var what = failed.Step switch
        {
            Step.CreateNamespace => $"could not create the job's namespace {_plan.Namespace}",
            Step.CreatePullSecret => $"could not create the Secret {_plan.RegistrySecret!.Metadata.Name} of the pod {Where}",
            Step.CreatePod => $"could not create the pod {Where}",
            Step.CreateJobSecret => $"could not create the Secret {_plan.JobSecret.Metadata.Name} of the pod {Where}",
            Step.DeleteStaleJobSecret => $"could not delete the earlier Secret {_plan.JobSecret.Metadata.Name} of the pod {Where}",
            Step.OwnPullSecret => $"could not make the pod {Where} the owner of its Secret {_plan.RegistrySecret!.Metadata.Name}",
            Step.CreateBudget => $"could not create the PodDisruptionBudget of the pod {Where}",
            _ => $"could not read the adopted pod {Where}",
        };
        var kind = KubernetesFaults.Classify(failed.Error, _cancel.Token);
        if (kind == FaultKind.Stopped)
        {
            return;
        }

        if (failed.Step == Step.CreatePod && kind == FaultKind.Permanent)
        {
            // The server refused it: no pod (a lost answer or a 5xx leaves the flag set, the pod may exist).
            _podMayExist = false;
        }

        // retry_limits: an error whose text has a configured fragment is retried, up to that fragment's limit.
        var limit = _budget.Settings.LimitFor(KubernetesFaults.Text(failed.Error));
        if (kind != FaultKind.Transient && limit is null)
        {
            if (failed.Step == Step.CreateBudget)
            {
                BudgetNotMade(KubernetesFaults.Describe(failed.Error));
                return;
            }

            Fail($"{what}: {KubernetesFaults.Describe(failed.Error)}");
            return;
        }

        _attempt++;
        if (_budget.TryTake(_attempt, KubernetesFaults.RetryAfter(failed.Error), out var delay, limit))
        {
            Log.Warning("{Call}: {Error}; retry {Attempt} in {Seconds:0.0} s", what, KubernetesFaults.Describe(failed.Error), _attempt,
                delay.TotalSeconds);
            Timers.StartSingleTimer(RetryTimer, new RetryStep(failed.Step, failed.Index), delay);
            return;
        }

        if (failed.Step == Step.CreateBudget)
        {
            BudgetNotMade($"{KubernetesFaults.Describe(failed.Error)} (tried {_attempt} times)");
            return;
        }

        var callLimit = limit ?? _budget.Settings.MaxAttemptsPerCall;
        Fail($"{what}: {KubernetesFaults.Describe(failed.Error)} (" + (callLimit > 0 && _attempt >= callLimit
            ? $"tried {callLimit} times)"
            : $"the job's {_budget.Settings.MaxRetriesPerJob} retries of Kubernetes calls are spent)"));
    }

    // Deletes what this actor made before it reports: a registry Secret without an owner would outlive the job, and a pod
    // without its job Secret would wait for its mount until poll_timeout (a made job Secret goes with its pod, and is
    // deleted as well). An adopted pod is never deleted here.
    private void Fail(string message)
    {
        if (_failing)
        {
            return;
        }

        _failing = true;
        Timers.CancelAll();
        if (_adopt || (_pod is null && !_podMayExist && !_pullSecretMade))
        {
            Report(new PodNotStarted(FailureReasons.RunnerSystemFailure, message));
            return;
        }

        var secrets = new List<V1Secret>();
        if (_jobSecretMade)
        {
            secrets.Add(_plan.JobSecret);
        }

        if (_pullSecretMade)
        {
            secrets.Add(_plan.RegistrySecret!);
        }

        var (gateway, plan, podMade) = (_gateway, _plan, _pod is not null || _podMayExist);
        var (grace, timeout, stopped) = (_settings.CleanupGracePeriodSeconds, _settings.CleanupResourcesTimeout, _cancel.Token);
        CleanUpAsync().PipeTo(Self);
        return;

        async Task<object> CleanUpAsync()
        {
            // The whole cleanup is bounded by cleanup_resources_timeout, as GitLab Runner bounds it.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(stopped);
            bounded.CancelAfter(timeout);
            var ct = bounded.Token;
            var left = new List<string>();
            if (podMade)
            {
                await TryAsync($"pod {plan.PodName}", () => gateway.DeletePodAsync(plan.Namespace, plan.PodName, grace, ct));
            }

            foreach (var secret in secrets)
            {
                await TryAsync($"Secret {secret.Metadata.Name}",
                    () => gateway.DeleteSecretAsync(plan.Namespace, secret.Metadata.Name, grace, ct));
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
        _created = true;
        Context.Parent.Tell(new PodCreated(created));
        var interval = TimeSpan.FromSeconds(_settings.PollInterval > 0 ? _settings.PollInterval : 3);
        var timeout = TimeSpan.FromSeconds(_settings.PollTimeout > 0 ? _settings.PollTimeout : 180);
        Timers.StartPeriodicTimer(PollTimer, new PollTick(), interval);
        Timers.StartSingleTimer(TimeoutTimer, new PollTimedOut(), timeout);
        _podWatcher.Tell(new WatchPod(_cluster, _plan.Namespace, _plan.PodName, _gateway));
        // An event heard while the pod was being made is newer than the create's answer.
        var current = _heardBeforeCreated ?? created;
        _heardBeforeCreated = null;
        if (PodStatus.Judge(current) is PodVerdict.Waiting)
        {
            TellParentTrace(current);
        }

        Check(current);
    }

    // A watch that spoke since the last tick is live and has shown the pod as it is: the tick prints the waiting line from
    // that event instead of reading the pod again. A tick with no event since the last reads it, so a lost event is noticed
    // within two poll_intervals (an event just after a tick spares the next tick's read).
    private void OnPollTick()
    {
        if (_heardSinceTick is { } heard)
        {
            _heardSinceTick = null;
            TellParentTrace(heard);
            return;
        }

        StartRead();
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
                Log.Warning("could not read the pod {Pod}: {Error}; reading again at the next poll", Where, _lastReadError);
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
