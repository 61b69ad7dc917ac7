using k8s;
using k8s.Models;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>Gives the gateway for a runner entry; <paramref name="bearerTokenOverwrite"/> is the job's
/// KUBERNETES_BEARER_TOKEN when the runner allows it, else null.</summary>
public interface IKubernetesGatewayFactory
{
    IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite);
}

/// <summary>The narrow port through which the actors talk to Kubernetes. Every call except the watch and exec streams is
/// bounded by the adapter's request timeout; a call that exceeds it throws while the caller's token is not cancelled
/// (see <see cref="Faults.KubernetesFaults"/>).</summary>
public interface IKubernetesGateway
{
    /// <summary>Creates the pod; when it already exists, reads and returns the existing one.</summary>
    Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct);

    /// <summary>Creates the Secret; when it already exists (409), reads and returns the existing one, whose owner and data
    /// may differ from <paramref name="secret"/>.</summary>
    Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct);

    /// <summary>Creates the policy/v1 PodDisruptionBudget; when it already exists (a retry after a lost answer), returns
    /// <paramref name="budget"/> as given.</summary>
    Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct);

    /// <summary>The pod, or null when it is gone.</summary>
    Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct);

    /// <summary>The namespace's pods that match the label selector (one LIST: for finding orphaned jobs, never per job).</summary>
    Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct);

    /// <summary>Sets the pod's owner annotation to <paramref name="owner"/> only if its resourceVersion is still
    /// <paramref name="expectedResourceVersion"/>. Returns the updated pod, or null when it changed meanwhile (409) or is gone.</summary>
    Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct);

    /// <summary>The Secret, or null when it does not exist.</summary>
    Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct);

    /// <summary>Makes <paramref name="owner"/> the Secret's only ownerReference (a merge patch; doing it twice is harmless), so the
    /// Secret is garbage-collected with its pod. Returns the updated Secret, or null when the Secret is gone.</summary>
    Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct);

    /// <summary>Deletes the Secret with <paramref name="gracePeriodSeconds"/> (null: the cluster's default); NotFound is success.</summary>
    Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct);

    /// <summary>Deletes the pod with <paramref name="gracePeriodSeconds"/> (null: the pod's own); NotFound is success.</summary>
    Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct);

    /// <summary>The Warning events of the pod (at most <paramref name="limit"/>), in the order the server lists them.</summary>
    Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct);

    /// <summary>Whether the service account exists.</summary>
    Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct);

    /// <summary>Creates the namespace; one that exists already (a retry after a lost answer) is success.</summary>
    Task CreateNamespaceAsync(string name, CancellationToken ct);

    /// <summary>Deletes the namespace and everything in it; NotFound is success.</summary>
    Task DeleteNamespaceAsync(string name, CancellationToken ct);

    /// <summary>Watches the namespace's pods that match the label selector until cancelled or the server ends the watch.</summary>
    IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector, CancellationToken ct);

    /// <summary>Runs argv in the container; stdout chunks are handed to onStdout as they arrive; returns the exit code.
    /// Throws <see cref="ExecConnectionLostException"/> when the connection drops before the exit status arrives
    /// (the command may still be running).</summary>
    Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct);

    /// <summary>As <see cref="ExecAsync"/>, for a command whose output is the bulk of a job's bytes (the followed log, an
    /// artifact archive): a gateway may give it a connection of its own instead of sharing one with the short execs.</summary>
    Task<int> ExecStreamingAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task> onStdout, CancellationToken ct) =>
        ExecAsync(ns, pod, container, command, onStdout, ct);
}

/// <summary>An exec connection ended before its exit status arrived: the command may still be running.</summary>
public sealed class ExecConnectionLostException(string message, Exception? inner = null) : Exception(message, inner);
