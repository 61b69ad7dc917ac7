using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Messages.Settings;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// A Kubernetes for the dispatch bench that costs next to nothing, so that the runner is what is measured: pods are Running
/// when created, every stage (the argv of the actor tests' FakePlanner: <c>run</c>, <c>kill</c>, <c>read-log</c>) exits 0 at
/// once and prints nothing, the watch hears nothing. No JSON copies and no global lock (the actor tests' FakeCluster has
/// both, to model faults and keep a history; under load its lock convoy stalled the runner's threads); a deleted pod takes
/// its Secrets with it. Counts calls per kind.
/// </summary>
public sealed class LeanCluster : IKubernetesGateway, IKubernetesGatewayFactory
{
    private static readonly byte[] ExitZero = Encoding.ASCII.GetBytes("0 0\n");
    private readonly ConcurrentDictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, V1Secret> _secrets = new(StringComparer.Ordinal);
    private long _calls;
    private long _uid;

    /// <summary>Every gateway call so far (the watch excluded).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    public int Pods => _pods.Count;

    public IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite) => this;

    public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        var meta = pod.Metadata;
        var created = new V1Pod
        {
            ApiVersion = pod.ApiVersion,
            Kind = pod.Kind,
            Metadata = new V1ObjectMeta
            {
                Name = meta.Name,
                NamespaceProperty = meta.NamespaceProperty,
                Labels = meta.Labels,
                Annotations = meta.Annotations,
                OwnerReferences = meta.OwnerReferences,
                ResourceVersion = "1",
                Uid = "uid-" + Interlocked.Increment(ref _uid).ToString(CultureInfo.InvariantCulture),
            },
            Spec = pod.Spec,
            Status = new V1PodStatus { Phase = "Running" },
        };
        return Task.FromResult(_pods.GetOrAdd(meta.Name, created));
    }

    public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        _secrets.TryAdd(secret.Metadata.Name, secret);
        return Task.FromResult(secret);
    }

    public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(budget);
    }

    public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(_pods.GetValueOrDefault(name));
    }

    public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult<IReadOnlyList<V1Pod>>([]);
    }

    public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult<V1Pod?>(null);
    }

    public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(_secrets.GetValueOrDefault(name));
    }

    public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        if (!_secrets.TryGetValue(name, out var secret))
        {
            return Task.FromResult<V1Secret?>(null);
        }

        // The runner names a job's Secrets after its pod; the owner is kept so that the pod's delete collects them.
        secret.Metadata.OwnerReferences = [owner];
        return Task.FromResult<V1Secret?>(secret);
    }

    public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        _secrets.TryRemove(name, out _);
        return Task.CompletedTask;
    }

    public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        if (_pods.TryRemove(name, out _))
        {
            // Kubernetes collects the Secrets the pod owns; a few jobs are in flight at once, so the scan is short.
            foreach (var (key, secret) in _secrets)
            {
                if (secret.Metadata.OwnerReferences is [var owner] && owner.Name == name)
                {
                    _secrets.TryRemove(key, out _);
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult<IReadOnlyList<Corev1Event>>([]);
    }

    public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(true);
    }

    public Task CreateNamespaceAsync(string name, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.CompletedTask;
    }

    public Task DeleteNamespaceAsync(string name, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
        [EnumeratorCancellation] CancellationToken ct)
    {
        // Pods are Running when created: the watch has nothing to tell.
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
            yield break;
        }

        yield break;
    }

    public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        switch (command[0])
        {
            case "run":
                // The exit marker: exit code 0, the output log's size (nothing printed).
                await onStdout!(ExitZero);
                return 0;
            case "kill":
                return 0;
            case "read-log" when command is [_, _, "follow"]:
                // Nothing is ever printed: the reader follows until the job's end cancels it.
                await Task.Delay(Timeout.Infinite, ct);
                return 0;
            case "read-log":
                return 0;
            default:
                return 127;
        }
    }
}
