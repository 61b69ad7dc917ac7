using Akka.Actor;
using Akka.Cluster;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Hosting;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Fleet nodes on loopback in this process, with timings fast enough for tests. The split brain resolver never downs
/// anyone here (stable-after 60 s): tests down members themselves, so "unreachable" and "removed" are separate steps.</summary>
internal static class FleetTestCluster
{
    public const string FastTimings = """
        akka.loglevel = WARNING
        akka.cluster.gossip-interval = 200ms
        akka.cluster.leader-actions-interval = 200ms
        akka.cluster.unreachable-nodes-reaper-interval = 200ms
        akka.cluster.periodic-tasks-initial-delay = 100ms
        akka.cluster.failure-detector.heartbeat-interval = 200ms
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 1s
        akka.cluster.failure-detector.expected-response-after = 200ms
        akka.cluster.split-brain-resolver.stable-after = 60s
        akka.cluster.down-removal-margin = 0s
        akka.cluster.singleton.hand-over-retry-interval = 200ms
        akka.cluster.singleton-proxy.singleton-identification-interval = 200ms
        """;

    /// <summary>A node that vanishes on Terminate without leaving: what a killed process looks like to the others.</summary>
    public const string DiesWithoutLeaving = """
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        akka.cluster.run-coordinated-shutdown-when-down = off
        """;

    public static ActorSystem StartNode(ActorSystem? seed = null, string extra = "") =>
        SchedulerActorSystem.CreateClustered(new global::Scheduler.Messages.Settings.ClusterSettings
        {
            Port = 0,
            SeedNodes = seed is null ? [] : [Cluster.Get(seed).SelfAddress.ToString()],
        }, extra + "\n" + FastTimings);

    public static int UpCount(ActorSystem system) => Cluster.Get(system).State.Members.Count(m => m.Status == MemberStatus.Up);

    public static void Shutdown(params ActorSystem[] systems)
    {
        foreach (var system in systems)
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(15));
        }
    }
}

/// <summary>Answers GetCapacity with a fixed status, as the supervisor does.</summary>
internal sealed class CapacityStub : ReceiveActor
{
    public CapacityStub(CapacityStatus status) => Receive<GetCapacity>(_ => Sender.Tell(status));

    public static Props Props(int concurrent, IReadOnlyDictionary<string, int> running) =>
        Akka.Actor.Props.Create(() => new CapacityStub(new CapacityStatus(concurrent, running, 0)));
}

/// <summary>An in-memory namespace of job pods and their Secrets with the API server's optimistic concurrency on claims.
/// Only what the fleet calls is here; anything else is a test error.</summary>
internal sealed class InMemoryPods : IKubernetesGateway, IKubernetesGatewayFactory
{
    private readonly object _gate = new();
    private readonly Dictionary<string, V1Pod> _pods = new();
    private readonly Dictionary<string, V1Secret> _secrets = new();
    private int _version = 100;

    public int ListCalls { get; private set; }

    public int ClaimCalls { get; private set; }

    /// <summary>How many of the next LISTs time out on the client's side (an OperationCanceledException while the caller's
    /// token is not cancelled).</summary>
    public int ListTimeouts { get; set; }

    /// <summary>How many of the next claims time out before they reach the server.</summary>
    public int ClaimTimeouts { get; set; }

    /// <summary>The next claim lands, but its answer is lost (the caller sees a timeout).</summary>
    public bool LoseNextClaimAnswer { get; set; }

    /// <summary>When above 1, a pod read is answered only once this many reads are in flight together (a read that waits
    /// 5 s for company times out): claims made one after another never get an answer.</summary>
    public int ReadsAnsweredTogether { get; set; }

    private int _readsInFlight;
    private readonly TaskCompletionSource _enoughReads = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite) => this;

    public void AddJobPod(V1Pod pod, string payloadJson)
    {
        lock (_gate)
        {
            pod.Metadata.ResourceVersion = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _pods[pod.Metadata.Name] = pod;
            var secretName = pod.Metadata.Annotations[PodMetadata.JobSecretAnnotation];
            _secrets[secretName] = new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = secretName, NamespaceProperty = pod.Metadata.NamespaceProperty },
                Data = new Dictionary<string, byte[]> { [JobSecretLayout.PayloadKey] = System.Text.Encoding.UTF8.GetBytes(payloadJson) },
            };
        }
    }

    public string? OwnerOf(string pod)
    {
        lock (_gate)
        {
            return _pods[pod].Metadata.Annotations.TryGetValue(PodMetadata.OwnerAnnotation, out var owner) ? owner : null;
        }
    }

    public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        lock (_gate)
        {
            ListCalls++;
            if (ListTimeouts > 0)
            {
                ListTimeouts--;
                throw new TaskCanceledException("list: the request timed out (fault)");
            }

            IReadOnlyList<V1Pod> pods = _pods.Values.Where(p => p.Metadata.NamespaceProperty == ns && p.Metadata.Labels.ContainsKey(labelSelector))
                .Select(Copy).ToList();
            return Task.FromResult(pods);
        }
    }

    public async Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        if (ReadsAnsweredTogether > 1)
        {
            if (Interlocked.Increment(ref _readsInFlight) >= ReadsAnsweredTogether)
            {
                _enoughReads.TrySetResult();
            }

            await _enoughReads.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
        }

        lock (_gate)
        {
            return _pods.TryGetValue(name, out var pod) && pod.Metadata.NamespaceProperty == ns ? Copy(pod) : null;
        }
    }

    public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        lock (_gate)
        {
            ClaimCalls++;
            if (ClaimTimeouts > 0)
            {
                ClaimTimeouts--;
                throw new TaskCanceledException("claim: the request timed out (fault)");
            }

            if (!_pods.TryGetValue(name, out var pod) || pod.Metadata.ResourceVersion != expectedResourceVersion)
            {
                return Task.FromResult<V1Pod?>(null);
            }

            pod.Metadata.Annotations[PodMetadata.OwnerAnnotation] = owner;
            pod.Metadata.ResourceVersion = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (LoseNextClaimAnswer)
            {
                LoseNextClaimAnswer = false;
                throw new TaskCanceledException("claim: the answer was lost (fault)");
            }

            return Task.FromResult<V1Pod?>(Copy(pod));
        }
    }

    public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        lock (_gate)
        {
            return Task.FromResult(_secrets.TryGetValue(name, out var secret) ? secret : null);
        }
    }

    public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct) => throw NotUsed();
    public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct) => throw NotUsed();
    public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct) => throw NotUsed();
    /// <summary>How many of the next pod deletes fail with a 503.</summary>
    public int DeleteFailures { get; set; }

    public int DeleteCalls { get; private set; }

    public bool HasPod(string name)
    {
        lock (_gate)
        {
            return _pods.ContainsKey(name);
        }
    }

    /// <summary>Removes a job pod's Secret, as when its node stopped after making the pod and before the Secret.</summary>
    public void RemoveSecret(string name)
    {
        lock (_gate)
        {
            _secrets.Remove(name);
        }
    }

    public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        lock (_gate)
        {
            DeleteCalls++;
            if (DeleteFailures > 0)
            {
                DeleteFailures--;
                throw new k8s.Autorest.HttpOperationException("delete: 503 (fault)")
                {
                    Response = new k8s.Autorest.HttpResponseMessageWrapper(
                        new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable), ""),
                };
            }

            _pods.Remove(name);
            return Task.CompletedTask;
        }
    }
    public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct) => throw NotUsed();
    public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct) => throw NotUsed();
    public Task CreateNamespaceAsync(string name, CancellationToken ct) => throw NotUsed();
    public Task DeleteNamespaceAsync(string name, CancellationToken ct) => throw NotUsed();
    public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct) => throw NotUsed();
    public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        lock (_gate)
        {
            _secrets.Remove(name); // a Secret that is gone already is success, as on the API server
        }

        return Task.CompletedTask;
    }

    /// <summary>A Secret beside the job pods (e.g. a pod's registry Secret).</summary>
    public void AddSecret(string name)
    {
        lock (_gate)
        {
            _secrets[name] = new V1Secret { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ci" } };
        }
    }

    public bool HasSecret(string name)
    {
        lock (_gate)
        {
            return _secrets.ContainsKey(name);
        }
    }
    public IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector, CancellationToken ct) => throw NotUsed();

    public Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct) => throw NotUsed();

    private static InvalidOperationException NotUsed() => new("the fleet actor does not create, delete, watch or exec");

    private static V1Pod Copy(V1Pod pod) => KubernetesJson.Deserialize<V1Pod>(KubernetesJson.Serialize(pod));
}
