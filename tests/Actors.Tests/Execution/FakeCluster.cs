using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>A call the fake gateway received, reported to the test's probe so tests can wait for it.</summary>
internal sealed record GatewayCall(string Kind, string Detail);

/// <summary>
/// An in-memory Kubernetes behind <see cref="IKubernetesGateway"/> that models the stage protocol: Launch is
/// idempotent (a lock per stage), a launched stage appends its output to the pod's log and ends with a scripted exit
/// code (or when the test finishes it), Wait blocks until the stage ends, ReadLog streams the log from an offset.
/// Faults: drop the next Wait of a stage, drop the log reader after some bytes. Every call is counted and reported
/// to <see cref="Probe"/>.
/// </summary>
internal sealed class FakeCluster : IKubernetesGateway, IKubernetesGatewayFactory
{
    private sealed class StageState
    {
        public readonly TaskCompletionSource<int> Exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record PodState(V1Pod Pod, Dictionary<string, StageState> Stages, List<byte> Log)
    {
        public TaskCompletionSource LogGrew { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly object _gate = new();
    private readonly Dictionary<string, PodState> _pods = [];
    private readonly List<Channel<(WatchEventType, V1Pod)>> _watchers = [];
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentDictionary<string, int> _waitDrops = new();
    private readonly ConcurrentDictionary<(string Pod, string Stage), int> _runs = new();
    private long? _dropLogAfterBytes;
    private int _uid;

    public IActorRef Probe { get; set; } = ActorRefs.Nobody;

    /// <summary>Per stage: what it prints and its exit code; null exit code = runs until <see cref="FinishStage"/> or Kill.</summary>
    public ConcurrentDictionary<string, (string Output, int? ExitCode)> StageBehaviour { get; } = new();

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

    public void FinishStage(string pod, string stage, int exitCode)
    {
        lock (_gate)
        {
            _pods[pod].Stages[stage].Exit.TrySetResult(exitCode);
        }
    }

    public string LogText(string pod)
    {
        lock (_gate)
        {
            return Encoding.UTF8.GetString(_pods[pod].Log.ToArray());
        }
    }

    public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
    {
        Record("create-pod", pod.Metadata.Name);
        lock (_gate)
        {
            if (_pods.TryGetValue(pod.Metadata.Name, out var existing))
            {
                return Task.FromResult(Copy(existing.Pod));
            }

            var created = Copy(pod);
            created.Metadata.Uid = "uid-" + Interlocked.Increment(ref _uid);
            created.Metadata.ResourceVersion = "1";
            created.Status = new V1PodStatus { Phase = InitialPhase };
            _pods[pod.Metadata.Name] = new PodState(created, [], []);
            return Task.FromResult(Copy(created));
        }
    }

    public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
    {
        Record("create-secret", secret.Metadata.Name);
        CreatedSecrets.Add(secret);
        return Task.FromResult(secret);
    }

    public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        Record("read-pod", name);
        if (FailPodReads)
        {
            return Task.FromException<V1Pod?>(new HttpRequestException("the API server is unavailable (fault)"));
        }

        lock (_gate)
        {
            return Task.FromResult(_pods.TryGetValue(name, out var state) ? Copy(state.Pod) : null);
        }
    }

    public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        Record("list-pods", labelSelector);
        lock (_gate)
        {
            IReadOnlyList<V1Pod> matching = _pods.Values.Select(p => p.Pod)
                .Where(p => p.Metadata.NamespaceProperty == ns && Matches(p.Metadata.Labels, labelSelector)).Select(Copy).ToList();
            return Task.FromResult(matching);
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

    public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        Record("claim-pod", $"{name} {owner}");
        V1Pod claimed;
        lock (_gate)
        {
            if (!_pods.TryGetValue(name, out var state) || state.Pod.Metadata.ResourceVersion != expectedResourceVersion)
            {
                return Task.FromResult<V1Pod?>(null);
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

        return Task.FromResult<V1Pod?>(Copy(claimed));
    }

    public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        Record("read-secret", name);
        return Task.FromResult(CreatedSecrets.FirstOrDefault(s => s.Metadata.Name == name && s.Metadata.NamespaceProperty == ns));
    }

    public Task DeletePodAsync(string ns, string name, CancellationToken ct)
    {
        Record("delete-pod", name);
        lock (_gate)
        {
            if (_pods.Remove(name, out var state))
            {
                foreach (var stage in state.Stages.Values)
                {
                    stage.Exit.TrySetResult(137);
                }
            }
        }

        DeletedPods.Add(name);
        return Task.CompletedTask;
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
        Record(verb, $"{pod} {string.Join(' ', command.Skip(1))}");
        switch (verb)
        {
            case "launch":
                Launch(pod, command[1]);
                return 0;
            case "wait":
            {
                var stage = StageOf(pod, command[1]);
                if (_waitDrops.TryGetValue(command[1], out var left) && left > 0)
                {
                    _waitDrops[command[1]] = left - 1;
                    throw new ExecConnectionLostException("connection dropped (fault)");
                }

                var code = await stage.Exit.Task.WaitAsync(ct);
                await onStdout!(Encoding.UTF8.GetBytes(code.ToString(CultureInfo.InvariantCulture) + "\n"));
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
            _runs.AddOrUpdate((pod, stage), 1, (_, n) => n + 1);
        }

        var (output, exit) = StageBehaviour.GetValueOrDefault(stage, ("", 0));
        Append(pod, output);
        if (exit is { } code)
        {
            state.Exit.TrySetResult(code);
        }
    }

    private void Kill(string pod, string stage)
    {
        lock (_gate)
        {
            if (_pods.TryGetValue(pod, out var podState) && podState.Stages.TryGetValue(stage, out var state))
            {
                state.Exit.TrySetResult(143);
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

                chunk = state.Log.Skip((int)offset).ToArray();
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

    private void Record(string kind, string detail)
    {
        History.Enqueue(new GatewayCall(kind, detail));
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

        var planned = stages.Select(s => new PlannedStage(s.Name, s.Container, s.When, ["launch", s.Name], ["wait", s.Name],
            ["kill", s.Name], s.IgnoreFailure, s.Timeout)).ToList();
        return new JobPlanResult(new JobExecutionPlan(pod.Plan, planned, artifacts ?? [], PodBuilder.HelperContainer,
            (offset, follow) => ["read-log", offset.ToString(CultureInfo.InvariantCulture), follow ? "follow" : "once"],
            path => ["read-file", path]), null);
    }
}
