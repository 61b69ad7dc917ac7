using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>A call the fake gateway received, reported to the test's probe so tests can wait for it.</summary>
internal sealed record GatewayCall(string Kind, string Detail);

/// <summary>
/// An in-memory Kubernetes behind <see cref="IKubernetesGateway"/> that models the stage protocol: Run launches the stage
/// idempotently (a lock per stage; a launched stage appends its output to the pod's log and ends with a scripted exit
/// code, or when the test finishes it) and then blocks until the stage ends, printing the exit code and the log's size
/// then; ReadLog streams the log from an offset.
/// Faults: drop the next Run of a stage after it launched (while it waits), drop the log reader after some bytes, and for
/// any call kind (the names that <see cref="History"/> records: "create-pod", "create-secret", "own-secret", "read-pod",
/// "list-pods", "claim-pod", …, and the exec verbs "run", "kill", "read-log") fail it N times with an HTTP status (<see cref="FailNext"/>), make it "time out" (an
/// <see cref="OperationCanceledException"/> while the caller's token is not cancelled, as the client's own timeout does:
/// <see cref="TimeOutNext"/>) or hold it until the test releases it (<see cref="HoldNext"/>). Every call is counted and
/// reported to <see cref="Probe"/> before its fault applies.
/// </summary>
internal sealed class FakeCluster : IKubernetesGateway, IKubernetesGatewayFactory
{
    private sealed class StageState
    {
        public readonly TaskCompletionSource<int> Exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The log's size when the stage ended, as the stage runner writes it into the marker.</summary>
        public long LogSizeAtExit { get; private set; }

        public void End(int code, long logSize)
        {
            if (!Exit.Task.IsCompleted)
            {
                LogSizeAtExit = logSize;
            }

            Exit.TrySetResult(code);
        }
    }

    private sealed record PodState(V1Pod Pod, Dictionary<string, StageState> Stages, List<byte> Log)
    {
        public TaskCompletionSource LogGrew { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly object _gate = new();
    private readonly Dictionary<string, PodState> _pods = [];
    private readonly Dictionary<(string Pod, string Stage), int> _finishOnLaunch = [];
    private readonly List<Channel<(WatchEventType, V1Pod)>> _watchers = [];
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentDictionary<string, int> _waitDrops = new();
    private readonly ConcurrentDictionary<(string Pod, string Stage), int> _runs = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Fault>> _faults = new();
    private readonly Dictionary<string, V1Secret> _secrets = [];
    private long? _dropLogAfterBytes;
    private int _uid;

    private abstract record Fault;
    private sealed record StatusFault(HttpStatusCode Status, TimeSpan? RetryAfter) : Fault;
    private sealed record TimeoutFault : Fault;
    private sealed record HoldFault(Task Release) : Fault;
    private sealed record LostAnswerFault : Fault;
    private sealed record NoFault : Fault;

    /// <summary>The next <paramref name="times"/> calls of <paramref name="kind"/> work (queued before later faults).</summary>
    public void PassNext(string kind, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            Faults(kind).Enqueue(new NoFault());
        }
    }

    /// <summary>The next call of <paramref name="kind"/> takes effect, but its answer is lost: the caller sees a timeout.</summary>
    public void LoseNextAnswer(string kind) => Faults(kind).Enqueue(new LostAnswerFault());

    /// <summary>The next <paramref name="times"/> calls of <paramref name="kind"/> fail with <paramref name="status"/> (an
    /// <see cref="HttpOperationException"/> as KubernetesClient throws it, with Retry-After when given).</summary>
    public void FailNext(string kind, int times, HttpStatusCode status, TimeSpan? retryAfter = null)
    {
        for (var i = 0; i < times; i++)
        {
            Faults(kind).Enqueue(new StatusFault(status, retryAfter));
        }
    }

    /// <summary>The next <paramref name="times"/> calls of <paramref name="kind"/> time out on the client's side.</summary>
    public void TimeOutNext(string kind, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            Faults(kind).Enqueue(new TimeoutFault());
        }
    }

    /// <summary>The next call of <paramref name="kind"/> waits until the returned source is completed (or its token cancelled),
    /// then runs as usual.</summary>
    public TaskCompletionSource HoldNext(string kind)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Faults(kind).Enqueue(new HoldFault(release.Task));
        return release;
    }

    private ConcurrentQueue<Fault> Faults(string kind) => _faults.GetOrAdd(kind, _ => new ConcurrentQueue<Fault>());

    // Records the call, then applies the kind's next fault, if any. True: do the call, then lose its answer.
    private async Task<bool> CallAsync(string kind, string detail, CancellationToken ct)
    {
        Record(kind, detail);
        if (!_faults.TryGetValue(kind, out var queue) || !queue.TryDequeue(out var fault))
        {
            return false;
        }

        switch (fault)
        {
            case StatusFault status:
                var response = new HttpResponseMessage(status.Status);
                if (status.RetryAfter is { } after)
                {
                    response.Headers.TryAddWithoutValidation("Retry-After", ((int)after.TotalSeconds).ToString(CultureInfo.InvariantCulture));
                }

                // A metav1.Status as the API server sends it (KubernetesJson does not write V1Status).
                var content = new System.Text.Json.Nodes.JsonObject
                {
                    ["kind"] = "Status", ["apiVersion"] = "v1", ["status"] = "Failure", ["code"] = (int)status.Status,
                    ["message"] = $"{kind} refused (fault {(int)status.Status})",
                }.ToJsonString();
                throw new HttpOperationException($"Operation returned an invalid status code '{status.Status}'")
                {
                    Response = new HttpResponseMessageWrapper(response, content),
                };
            case TimeoutFault:
                throw new TaskCanceledException($"{kind}: the request timed out (fault)");
            case HoldFault hold:
                await hold.Release.WaitAsync(ct);
                return false;
            case NoFault:
                return false;
            default:
                return true;
        }
    }

    private static TaskCanceledException LostAnswer(string kind) => new($"{kind}: the answer was lost (fault)");

    public IActorRef Probe { get; set; } = ActorRefs.Nobody;

    /// <summary>Per stage: what it prints and its exit code; null exit code = runs until <see cref="FinishStage"/> or Kill.</summary>
    public ConcurrentDictionary<string, (string Output, int? ExitCode)> StageBehaviour { get; } = new();

    /// <summary>Per stage: what its run exec sends instead of the exit marker (a hostile pod), given the stdout callback.</summary>
    public ConcurrentDictionary<string, Func<Func<ReadOnlyMemory<byte>, Task>, CancellationToken, Task>> WaitOutput { get; } = new();

    /// <summary>Per stage: its next run exec does not wait for the stage: it ignores cancellation and sends what the task gives,
    /// once it completes (a connection the runner gave up on that answers after all).</summary>
    public ConcurrentDictionary<string, Task<string>> LateRunAnswer { get; } = new();

    /// <summary>Per stage: told the token of each of its run execs as it starts (a client that registers its own cancel
    /// callbacks on it, which may throw).</summary>
    public ConcurrentDictionary<string, Action<CancellationToken>> RunExecStarted { get; } = new();

    /// <summary>Whether every call, created Secret, deleted pod and stage run is kept for the test to inspect (on, the
    /// default). Off (benchmarks): only the counts, and a deleted pod's Secrets go with it as Kubernetes collects owned
    /// objects, so that the fake's memory stays flat however many jobs pass.</summary>
    public bool KeepHistory { get; init; } = true;

    /// <summary>The phase a new pod starts in.</summary>
    public string InitialPhase { get; set; } = "Pending";

    public ConcurrentBag<string> DeletedPods { get; } = [];
    public ConcurrentBag<V1Secret> CreatedSecrets { get; } = [];
    public ConcurrentDictionary<string, byte[]> Files { get; } = new();

    /// <summary>Whether the watches hear of a claim (off: only a read of the pod sees the new owner).</summary>
    public bool NotifyClaims { get; set; } = true;

    /// <summary>Reads of the pod fail (an API error) while set.</summary>
    public bool FailPodReads { get; set; }

    /// <summary>The pod as stored (a copy), or null.</summary>
    public V1Pod? Pod(string name)
    {
        lock (_gate)
        {
            return _pods.TryGetValue(name, out var state) ? Copy(state.Pod) : null;
        }
    }

    public IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite) => this;

    public int Count(string kind) => _counts.GetValueOrDefault(kind);

    /// <summary>How often the stage really ran (Launch calls past the lock are not runs).</summary>
    public int Runs(string pod, string stage) => _runs.GetValueOrDefault((pod, stage));

    public int LiveRunsOfAnyPod(string stage)
    {
        lock (_gate)
        {
            return _pods.Values.Sum(p => p.Stages.TryGetValue(stage, out var s) && !s.Exit.Task.IsCompleted ? 1 : 0);
        }
    }

    /// <summary>The name of the job's pod (by its job-id label), or null.</summary>
    public string? PodOf(long jobId)
    {
        lock (_gate)
        {
            return _pods.Values.Select(p => p.Pod.Metadata)
                .FirstOrDefault(m => m.Labels is not null && m.Labels.TryGetValue(PodMetadata.JobIdLabel, out var id) && id == jobId.ToString(CultureInfo.InvariantCulture))?.Name;
        }
    }

    public IReadOnlyList<string> PodNames()
    {
        lock (_gate)
        {
            return _pods.Keys.ToList();
        }
    }

    /// <summary>The next Run execs of the stage drop their connection once the stage is launched (while they wait).</summary>
    public void DropNextWait(string stage, int times = 1) => _waitDrops[stage] = times;

    public void DropLogReaderAfter(long bytes) => _dropLogAfterBytes = bytes;

    /// <summary>Sets the pod's phase and a waiting reason of its build container; with <paramref name="notify"/> the
    /// watches hear of it (else only a read sees it).</summary>
    public void SetPodStatus(string name, string phase, string? waitingReason = null, string? message = null, bool notify = true,
        V1PodCondition? condition = null)
    {
        V1Pod pod;
        lock (_gate)
        {
            pod = _pods[name].Pod;
            pod.Status = new V1PodStatus
            {
                Phase = phase,
                Conditions = condition is null ? null : [condition],
                ContainerStatuses = waitingReason is null
                    ? null
                    : [new V1ContainerStatus { Name = PodBuilder.BuildContainer, State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = waitingReason, Message = message } } }],
            };
            pod = Copy(pod);
        }

        if (notify)
        {
            Notify(WatchEventType.Modified, pod);
        }
    }

    /// <summary>Ends the stage with <paramref name="exitCode"/>. A test sees a stage's run exec when it is called, which may be
    /// just before the stage is launched: such a stage ends as soon as it is launched.</summary>
    public void FinishStage(string pod, string stage, int exitCode)
    {
        lock (_gate)
        {
            if (_pods[pod].Stages.TryGetValue(stage, out var state))
            {
                state.End(exitCode, _pods[pod].Log.Count);
            }
            else
            {
                _finishOnLaunch[(pod, stage)] = exitCode;
            }
        }
    }

    public string LogText(string pod)
    {
        lock (_gate)
        {
            return Encoding.UTF8.GetString(_pods[pod].Log.ToArray());
        }
    }

    /// <summary>A pod that exists already is returned as it is, as the real gateway does after a 409.</summary>
    public async Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
    {
        var loseAnswer = await CallAsync("create-pod", pod.Metadata.Name, ct);
        var created = Copy(pod); // outside the lock: the copies are the slow part
        created.Metadata.ResourceVersion = "1";
        created.Status = new V1PodStatus { Phase = InitialPhase };
        V1Pod answer;
        lock (_gate)
        {
            if (_pods.TryGetValue(pod.Metadata.Name, out var existing))
            {
                answer = existing.Pod;
            }
            else
            {
                created.Metadata.Uid = "uid-" + Interlocked.Increment(ref _uid);
                _pods[pod.Metadata.Name] = new PodState(created, [], []);
                answer = created;
            }

            answer = Copy(answer);
        }

        return loseAnswer ? throw LostAnswer("create-pod") : answer;
    }

    /// <summary>Every Secret create: the Secret as stored (so a later owner patch shows here too); <see cref="Secret"/> is
    /// what exists now. One that exists already is answered as it is stored, as the real gateway reads it after a 409.</summary>
    public async Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
    {
        var loseAnswer = await CallAsync("create-secret", secret.Metadata.Name, ct);
        var copy = KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret)); // outside the lock: it is the slow part
        V1Secret? existing = null;
        lock (_gate)
        {
            if (_secrets.TryGetValue(secret.Metadata.Name, out var stored))
            {
                existing = KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(stored));
            }
            else
            {
                stored = _secrets[secret.Metadata.Name] = copy;
            }

            if (KeepHistory)
            {
                CreatedSecrets.Add(stored);
            }
        }

        return loseAnswer ? throw LostAnswer("create-secret") : existing ?? secret;
    }

    /// <summary>Marks the stored Secret as being deleted (a finalizer holds it), as the API server shows it then.</summary>
    public void MarkSecretDeleting(string name)
    {
        lock (_gate)
        {
            _secrets[name].Metadata.DeletionTimestamp = DateTime.UtcNow;
        }
    }

    private readonly Dictionary<string, V1PodDisruptionBudget> _budgets = [];

    /// <summary>A budget that exists already is success, as the real gateway makes a 409.</summary>
    public async Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct)
    {
        var loseAnswer = await CallAsync("create-pdb", budget.Metadata.Name, ct);
        lock (_gate)
        {
            _budgets.TryAdd(budget.Metadata.Name, KubernetesJson.Deserialize<V1PodDisruptionBudget>(KubernetesJson.Serialize(budget)));
        }

        return loseAnswer ? throw LostAnswer("create-pdb") : budget;
    }

    /// <summary>The PodDisruptionBudget as it exists now (a copy), or null.</summary>
    public V1PodDisruptionBudget? PodDisruptionBudget(string name)
    {
        lock (_gate)
        {
            return _budgets.TryGetValue(name, out var budget)
                ? KubernetesJson.Deserialize<V1PodDisruptionBudget>(KubernetesJson.Serialize(budget))
                : null;
        }
    }

    /// <summary>The Secret as it exists now (a copy), or null.</summary>
    public V1Secret? Secret(string name)
    {
        lock (_gate)
        {
            return _secrets.TryGetValue(name, out var secret) ? KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret)) : null;
        }
    }

    public IReadOnlyList<string> SecretNames()
    {
        lock (_gate)
        {
            return _secrets.Keys.ToList();
        }
    }

    public async Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct)
    {
        await CallAsync("own-secret", name, ct);
        lock (_gate)
        {
            if (!_secrets.TryGetValue(name, out var secret))
            {
                return null;
            }

            secret.Metadata.OwnerReferences = [owner];
            return KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret));
        }
    }

    public ConcurrentBag<string> DeletedSecrets { get; } = [];

    /// <summary>The grace period each delete asked for, by kind ("delete-pod", "delete-secret") and name, in call order.</summary>
    public ConcurrentQueue<(string Kind, string Name, long? GracePeriodSeconds)> DeleteGracePeriods { get; } = new();

    public async Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        DeleteGracePeriods.Enqueue(("delete-secret", name, gracePeriodSeconds));
        await CallAsync("delete-secret", name, ct);
        lock (_gate)
        {
            _secrets.Remove(name);
        }

        DeletedSecrets.Add(name);
    }

    public async Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        await CallAsync("read-pod", name, ct);
        if (FailPodReads)
        {
            throw new HttpRequestException("the API server is unavailable (fault)");
        }

        lock (_gate)
        {
            return _pods.TryGetValue(name, out var state) ? Copy(state.Pod) : null;
        }
    }

    public async Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        await CallAsync("list-pods", labelSelector, ct);
        lock (_gate)
        {
            return _pods.Values.Select(p => p.Pod)
                .Where(p => p.Metadata.NamespaceProperty == ns && Matches(p.Metadata.Labels, labelSelector)).Select(Copy).ToList();
        }
    }

    // Equality (k=v) and existence (k) terms, comma-separated: what the runner's selectors use.
    private static bool Matches(IDictionary<string, string>? labels, string selector) =>
        selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(term =>
        {
            var eq = term.IndexOf('=');
            return eq < 0
                ? labels?.ContainsKey(term) == true
                : labels?.TryGetValue(term[..eq], out var value) == true && value == term[(eq + 1)..];
        });

    public async Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        await CallAsync("claim-pod", $"{name} {owner}", ct);
        V1Pod claimed;
        lock (_gate)
        {
            if (!_pods.TryGetValue(name, out var state) || state.Pod.Metadata.ResourceVersion != expectedResourceVersion)
            {
                return null;
            }

            state.Pod.Metadata.Annotations ??= new Dictionary<string, string>();
            state.Pod.Metadata.Annotations[PodMetadata.OwnerAnnotation] = owner;
            state.Pod.Metadata.ResourceVersion = (long.Parse(state.Pod.Metadata.ResourceVersion, CultureInfo.InvariantCulture) + 1)
                .ToString(CultureInfo.InvariantCulture);
            claimed = Copy(state.Pod);
        }

        if (NotifyClaims)
        {
            Notify(WatchEventType.Modified, claimed);
        }

        return Copy(claimed);
    }

    public async Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        // The answer is what the cluster held when the call was recorded: a test that sees the call and then adds the
        // Secret knows this read did not find it.
        V1Secret? found;
        lock (_gate)
        {
            found = _secrets.TryGetValue(name, out var secret) && secret.Metadata.NamespaceProperty == ns
                ? KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret))
                : null;
        }

        await CallAsync("read-secret", name, ct);
        return found;
    }

    public async Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        if (KeepHistory)
        {
            DeleteGracePeriods.Enqueue(("delete-pod", name, gracePeriodSeconds));
        }

        await CallAsync("delete-pod", name, ct);
        lock (_gate)
        {
            if (_pods.Remove(name, out var state))
            {
                foreach (var stage in state.Stages.Values)
                {
                    stage.End(137, state.Log.Count);
                }
            }

            if (!KeepHistory)
            {
                foreach (var owned in _secrets.Where(s => s.Value.Metadata.OwnerReferences?.Any(o => o.Name == name) == true)
                             .Select(s => s.Key).ToList())
                {
                    _secrets.Remove(owned);
                }
            }
        }

        if (KeepHistory)
        {
            DeletedPods.Add(name);
        }
    }

    /// <summary>Events of the cluster, as the API server would list them (any type; the list call filters).</summary>
    public ConcurrentQueue<Corev1Event> Events { get; } = new();

    /// <summary>Service accounts and namespaces that exist ("default" always does).</summary>
    public ConcurrentDictionary<string, bool> ServiceAccounts { get; } = new() { ["default"] = true };
    public ConcurrentDictionary<string, bool> Namespaces { get; } = new() { ["default"] = true };

    /// <summary>Every namespace this gateway deleted, in order.</summary>
    public ConcurrentQueue<string> DeletedNamespaces { get; } = new();

    /// <summary>A Secret that exists before any job (e.g. an imagePullSecret the operator made).</summary>
    public void AddSecret(string name)
    {
        lock (_gate)
        {
            _secrets[name] = new V1Secret { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" } };
        }
    }

    public async Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct)
    {
        await CallAsync("list-events", podName, ct);
        return Events.Where(e => e.InvolvedObject?.Name == podName && e.Type == "Warning").Take(limit).ToList();
    }

    public async Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct)
    {
        var exists = ServiceAccounts.ContainsKey(name); // as when the call was recorded (see ReadSecretAsync)
        await CallAsync("read-service-account", name, ct);
        return exists;
    }

    public async Task CreateNamespaceAsync(string name, CancellationToken ct)
    {
        await CallAsync("create-namespace", name, ct);
        Namespaces[name] = true;
    }

    public async Task DeleteNamespaceAsync(string name, CancellationToken ct)
    {
        await CallAsync("delete-namespace", name, ct);
        Namespaces.TryRemove(name, out _);
        DeletedNamespaces.Enqueue(name);
    }

    public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var channel = Channel.CreateUnbounded<(WatchEventType, V1Pod)>();
        lock (_gate)
        {
            _watchers.Add(channel);
        }

        Record("watch", ns);

        try
        {
            while (true)
            {
                (WatchEventType, V1Pod) item;
                try
                {
                    item = await channel.Reader.ReadAsync(ct);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }

                yield return item;
            }
        }
        finally
        {
            lock (_gate)
            {
                _watchers.Remove(channel);
            }
        }
    }

    public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
    {
        var verb = command[0];
        await CallAsync(verb, $"{pod} {string.Join(' ', command.Skip(1))}", ct);
        switch (verb)
        {
            case "run":
            {
                Launch(pod, command[1]);
                var stage = StageOf(pod, command[1]);
                if (RunExecStarted.TryGetValue(command[1], out var started))
                {
                    started(ct);
                }

                if (_waitDrops.TryGetValue(command[1], out var left) && left > 0)
                {
                    _waitDrops[command[1]] = left - 1;
                    throw new ExecConnectionLostException("connection dropped (fault)");
                }

                if (LateRunAnswer.TryRemove(command[1], out var late))
                {
                    await onStdout!(Encoding.UTF8.GetBytes(await late));
                    return 0;
                }

                var code = await stage.Exit.Task.WaitAsync(ct);
                if (WaitOutput.TryGetValue(command[1], out var send))
                {
                    await send(onStdout!, ct);
                    return 0;
                }

                await onStdout!(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{code} {stage.LogSizeAtExit}\n")));
                return 0;
            }
            case "kill":
                Kill(pod, command[1]);
                return 0;
            case "read-log":
                return await ReadLog(pod, long.Parse(command[1], CultureInfo.InvariantCulture), command[2] == "follow", onStdout!, ct);
            case "read-file":
                if (!Files.TryGetValue(command[1], out var content))
                {
                    return 1;
                }

                await onStdout!(content);
                return 0;
            default:
                return 127;
        }
    }

    private void Launch(string pod, string stage)
    {
        StageState state;
        lock (_gate)
        {
            var podState = _pods[pod];
            if (podState.Stages.ContainsKey(stage))
            {
                return; // the lock exists: launched before
            }

            state = podState.Stages[stage] = new StageState();
            if (KeepHistory)
            {
                _runs.AddOrUpdate((pod, stage), 1, (_, n) => n + 1);
            }
        }

        var (output, exit) = StageBehaviour.GetValueOrDefault(stage, ("", 0));
        Append(pod, output);
        lock (_gate)
        {
            if (_finishOnLaunch.Remove((pod, stage), out var finished))
            {
                exit = finished;
            }
        }

        if (exit is { } code)
        {
            lock (_gate)
            {
                state.End(code, _pods.TryGetValue(pod, out var podState) ? podState.Log.Count : 0);
            }
        }
    }

    private void Kill(string pod, string stage)
    {
        lock (_gate)
        {
            if (_pods.TryGetValue(pod, out var podState) && podState.Stages.TryGetValue(stage, out var state))
            {
                state.End(143, podState.Log.Count);
            }
        }
    }

    private StageState StageOf(string pod, string stage)
    {
        lock (_gate)
        {
            return _pods[pod].Stages[stage];
        }
    }

    public void Append(string pod, string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        TaskCompletionSource grew;
        lock (_gate)
        {
            var state = _pods[pod];
            state.Log.AddRange(Encoding.UTF8.GetBytes(text));
            grew = state.LogGrew;
            state.LogGrew = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        grew.TrySetResult();
    }

    private async Task<int> ReadLog(string pod, long offset, bool follow, Func<ReadOnlyMemory<byte>, Task> onStdout, CancellationToken ct)
    {
        var sent = 0L;
        while (true)
        {
            byte[] chunk;
            Task grew;
            lock (_gate)
            {
                if (!_pods.TryGetValue(pod, out var state))
                {
                    return 1;
                }

                chunk = offset < state.Log.Count ? state.Log.GetRange((int)offset, state.Log.Count - (int)offset).ToArray() : [];
                grew = state.LogGrew.Task;
            }

            if (_dropLogAfterBytes is { } dropAfter && chunk.Length > 0 && sent + chunk.Length > dropAfter)
            {
                // Deliver part of it, then drop the connection once.
                _dropLogAfterBytes = null;
                var part = (int)(dropAfter - sent);
                if (part > 0)
                {
                    await onStdout(chunk.AsMemory(0, part));
                }

                throw new ExecConnectionLostException("log reader dropped (fault)");
            }

            if (chunk.Length > 0)
            {
                await onStdout(chunk);
                offset += chunk.Length;
                sent += chunk.Length;
            }

            if (!follow)
            {
                return 0;
            }

            await grew.WaitAsync(ct);
        }
    }

    private void Notify(WatchEventType type, V1Pod pod)
    {
        List<Channel<(WatchEventType, V1Pod)>> watchers;
        lock (_gate)
        {
            watchers = _watchers.ToList();
        }

        foreach (var watcher in watchers)
        {
            watcher.Writer.TryWrite((type, pod));
        }
    }

    /// <summary>Every call in the order received.</summary>
    public ConcurrentQueue<GatewayCall> History { get; } = new();

    /// <summary>The clock each call is stamped with in <see cref="Timeline"/>: a test's virtual time (the TestScheduler's Now).</summary>
    public Func<DateTimeOffset>? Clock { get; set; }

    /// <summary>Every call with the time it was made, while <see cref="Clock"/> is set: when a timer's effect happened.</summary>
    public ConcurrentQueue<(GatewayCall Call, DateTimeOffset At)> Timeline { get; } = new();

    private void Record(string kind, string detail)
    {
        if (KeepHistory)
        {
            History.Enqueue(new GatewayCall(kind, detail));
        }

        if (KeepHistory && Clock is { } clock)
        {
            Timeline.Enqueue((new GatewayCall(kind, detail), clock()));
        }

        _counts.AddOrUpdate(kind, 1, (_, n) => n + 1);
        Probe.Tell(new GatewayCall(kind, detail));
    }

    private static V1Pod Copy(V1Pod pod) => KubernetesJson.Deserialize<V1Pod>(KubernetesJson.Serialize(pod));
}

/// <summary>A stage of <see cref="FakePlanner"/>.</summary>
internal sealed record FakeStage(string Name, string Container, StageCondition When, bool IgnoreFailure = false, TimeSpan? Timeout = null);

/// <summary>Plans with the real PodBuilder and argv that <see cref="FakeCluster"/> understands.</summary>
internal sealed class FakePlanner(IReadOnlyList<FakeStage> stages, IReadOnlyList<string>? artifacts = null) : IJobPlanner
{
    public static IReadOnlyList<FakeStage> StandardStages { get; } =
    [
        new("get_sources", PodBuilder.HelperContainer, StageCondition.OnSuccess),
        new("step_script", PodBuilder.BuildContainer, StageCondition.OnSuccess),
        new("after_script", PodBuilder.BuildContainer, StageCondition.Always, IgnoreFailure: true, Timeout: TimeSpan.FromMinutes(5)),
        new("upload_artifacts_on_failure", PodBuilder.HelperContainer, StageCondition.OnFailure),
    ];

    public JobPlanResult Plan(RunnerEntry runner, JobPayload job, int concurrentId, Func<string> podNameSuffix)
    {
        var pod = PodBuilder.Build(runner, job, concurrentId, TestData.Identity, podNameSuffix);
        if (pod.Plan is null)
        {
            return new JobPlanResult(null, pod.Refusal);
        }

        var planned = stages.Select(s => new PlannedStage(s.Name, s.Container, s.When, ["run", s.Name],
            ["kill", s.Name], s.IgnoreFailure, s.Timeout)).ToList();
        return new JobPlanResult(new JobExecutionPlan(pod.Plan, planned, artifacts ?? [], PodBuilder.HelperContainer,
            (offset, follow) => ["read-log", offset.ToString(CultureInfo.InvariantCulture), follow ? "follow" : "once"],
            path => ["read-file", path], ["mark-canceled"]), null);
    }
}
