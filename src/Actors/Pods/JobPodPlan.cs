using k8s;
using k8s.Models;

namespace Scheduler.Actors.Pods;

/// <summary>Labels and annotations that identify a job's pod, so a runner can find and adopt it.</summary>
public static class PodMetadata
{
    public const string PodLabel = "pod";
    public const string JobIdLabel = "scheduler/job-id";
    public const string ProjectIdLabel = "scheduler/project-id";
    public const string RunnerLabel = "scheduler/runner";
    public const string ConcurrentIdLabel = "scheduler/concurrent-id";

    public const string JobNameAnnotation = "scheduler/job-name";
    public const string JobStageAnnotation = "scheduler/job-stage";
    public const string PipelineIdAnnotation = "scheduler/pipeline-id";
    public const string ProjectNameAnnotation = "scheduler/project-name";
    public const string ProjectPathAnnotation = "scheduler/project-path";
    public const string RefAnnotation = "scheduler/ref";
    public const string ShaAnnotation = "scheduler/sha";
    public const string RunnerNameAnnotation = "scheduler/runner-name";
    public const string TimeoutAnnotation = "scheduler/timeout-seconds";
    public const string JobSecretAnnotation = "scheduler/job-secret";
    /// <summary>The node that drives the job (its cluster UniqueAddress); changed only by a resourceVersion-conditional update.</summary>
    public const string OwnerAnnotation = "scheduler/owner";
    /// <summary>The host name of the node that created the pod; the trace's "Running on … via …" line names it.</summary>
    public const string StartedViaAnnotation = "scheduler/started-via";
}

/// <summary>Every object the runner creates for one job, each garbage-collected with the pod (its ownerReference,
/// <see cref="OwnerReferenceOf"/>). The registry Secret is created first (kubelet does not wait for a missing pull
/// Secret), then the pod, then the job Secret with the pod as its owner in the create's body (<see cref="JobSecretOwnedBy"/>;
/// the pod waits for that mount), then the registry Secret gets the pod as its owner.</summary>
public sealed record JobPodPlan(V1Pod Pod, V1Secret JobSecret, V1Secret? RegistrySecret, ResolvedOverwrites Overwrites)
{
    public string Namespace => Pod.Metadata.NamespaceProperty;
    public string PodName => Pod.Metadata.Name;

    public IReadOnlyList<V1Secret> Secrets => RegistrySecret is null ? [JobSecret] : [JobSecret, RegistrySecret];

    /// <summary>The pod, then the Secrets (how the plan is shown; the runner creates the registry Secret first).</summary>
    public IReadOnlyList<IKubernetesObject<V1ObjectMeta>> AllObjects => [Pod, .. Secrets];

    /// <summary>The ownerReference that ties a Secret to <paramref name="created"/> (the pod as the API server returned it,
    /// with its uid).</summary>
    public static V1OwnerReference OwnerReferenceOf(V1Pod created)
    {
        if (string.IsNullOrEmpty(created.Metadata?.Uid))
        {
            throw new ArgumentException("the created pod has no uid", nameof(created));
        }

        return new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = created.Metadata.Name, Uid = created.Metadata.Uid };
    }

    /// <summary>The job Secret as it is created: a copy whose ownerReference names <paramref name="created"/> (the pod as
    /// the API server returned it, with its uid). The copy shares the data (never changed); the plan itself is not changed.</summary>
    public V1Secret JobSecretOwnedBy(V1Pod created) => new()
    {
        ApiVersion = JobSecret.ApiVersion,
        Kind = JobSecret.Kind,
        Type = JobSecret.Type,
        Immutable = JobSecret.Immutable,
        Data = JobSecret.Data,
        StringData = JobSecret.StringData,
        Metadata = new V1ObjectMeta
        {
            Name = JobSecret.Metadata.Name,
            NamespaceProperty = JobSecret.Metadata.NamespaceProperty,
            Labels = JobSecret.Metadata.Labels,
            Annotations = JobSecret.Metadata.Annotations,
            OwnerReferences = [OwnerReferenceOf(created)],
        },
    };

    /// <summary>Whether <paramref name="existing"/> (the job Secret a create met, after a 409) is the one made for
    /// <paramref name="created"/>: it names that pod's uid as its owner and is not being deleted. A Secret left by an earlier
    /// pod of the same name (a restarted job) names the old uid, and the garbage collector would delete it under the new pod.</summary>
    public static bool IsJobSecretOf(V1Secret existing, V1Pod created) =>
        existing.Metadata?.DeletionTimestamp is null
        && !string.IsNullOrEmpty(created.Metadata?.Uid)
        && existing.Metadata?.OwnerReferences?.Any(owner => owner.Kind == "Pod" && owner.Uid == created.Metadata.Uid) == true;

    /// <summary>Copies of the Secrets whose ownerReference names <paramref name="created"/> (the pod as the API server
    /// returned it, with its uid). The plan itself is not changed.</summary>
    public IReadOnlyList<V1Secret> SecretsOwnedBy(V1Pod created)
    {
        var owner = OwnerReferenceOf(created);
        return Secrets.Select(secret =>
        {
            var copy = KubernetesJson.Deserialize<V1Secret>(KubernetesJson.Serialize(secret));
            copy.Metadata.OwnerReferences = [owner];
            return copy;
        }).ToList();
    }
}

/// <summary>The plan, or why the job is refused (a rejected overwrite, no image, an invalid value).</summary>
public sealed record PodBuildResult(JobPodPlan? Plan, string? Refusal)
{
    public bool IsRefused => Refusal is not null;
}
