using k8s;
using k8s.Models;

namespace Scheduler.Actors.Execution;

/// <summary>The number of Kubernetes API requests made for one job. Shared by the job's gateways across restarts of its
/// JobActor; calls come from many threads.</summary>
public sealed class KubernetesRequestCount
{
    private int _requests;

    public int Requests => Volatile.Read(ref _requests);

    public void Add() => Interlocked.Increment(ref _requests);
}

/// <summary>
/// A job's view of the gateway that counts every request it makes: creates, reads (the fencing checks too), the Secrets' owner patches, the deletes and
/// each exec (launch, wait, log reads, kill). The namespace watch is passed through uncounted: it is the node's, shared by
/// every job in the namespace.
/// </summary>
public sealed class CountingKubernetesGateway(IKubernetesGateway inner, KubernetesRequestCount count) : IKubernetesGateway
{
    public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
    {
        count.Add();
        return inner.CreatePodAsync(pod, ct);
    }

    public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
    {
        count.Add();
        return inner.CreateSecretAsync(secret, ct);
    }

    public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct)
    {
        count.Add();
        return inner.CreatePodDisruptionBudgetAsync(budget, ct);
    }

    public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        count.Add();
        return inner.ReadPodAsync(ns, name, ct);
    }

    public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        count.Add();
        return inner.ListPodsAsync(ns, labelSelector, ct);
    }

    public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        count.Add();
        return inner.ClaimPodAsync(ns, name, expectedResourceVersion, owner, ct);
    }

    public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        count.Add();
        return inner.ReadSecretAsync(ns, name, ct);
    }

    public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct)
    {
        count.Add();
        return inner.SetSecretOwnerAsync(ns, name, owner, ct);
    }

    public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        count.Add();
        return inner.DeleteSecretAsync(ns, name, gracePeriodSeconds, ct);
    }

    public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        count.Add();
        return inner.DeletePodAsync(ns, name, gracePeriodSeconds, ct);
    }

    public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct)
    {
        count.Add();
        return inner.ListWarningEventsAsync(ns, podName, limit, ct);
    }

    public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct)
    {
        count.Add();
        return inner.ServiceAccountExistsAsync(ns, name, ct);
    }

    public Task CreateNamespaceAsync(string name, CancellationToken ct)
    {
        count.Add();
        return inner.CreateNamespaceAsync(name, ct);
    }

    public Task DeleteNamespaceAsync(string name, CancellationToken ct)
    {
        count.Add();
        return inner.DeleteNamespaceAsync(name, ct);
    }

    public IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector, CancellationToken ct) =>
        inner.WatchPodsAsync(ns, labelSelector, ct);

    public Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
    {
        count.Add();
        return inner.ExecAsync(ns, pod, container, command, onStdout, ct);
    }

    public Task<int> ExecStreamingAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task> onStdout, CancellationToken ct)
    {
        count.Add();
        return inner.ExecStreamingAsync(ns, pod, container, command, onStdout, ct);
    }
}
