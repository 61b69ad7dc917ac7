using k8s.Models;

namespace Scheduler.Actors.Pods;

/// <summary>
/// <c>pod_disruption_budget</c>, as GitLab Runner makes it: one policy/v1 PodDisruptionBudget per job pod, named
/// <c>&lt;pod&gt;-pdb</c>, with <c>minAvailable: 1</c> and a selector on the pod's own job label, so that voluntary evictions
/// (a node drain, the cluster autoscaler) cannot take the running job's pod. The pod is its owner, so Kubernetes' garbage
/// collector deletes it with the pod; it never outlives the job.
/// </summary>
public static class PodDisruptionBudgets
{
    public const string ApiVersion = "policy/v1";
    public const string Kind = "PodDisruptionBudget";

    public static string NameOf(string podName) => podName + "-pdb";

    /// <summary>The budget of <paramref name="created"/> (the pod as the API server returned it, with its uid and labels).</summary>
    public static V1PodDisruptionBudget For(V1Pod created)
    {
        var metadata = created.Metadata ?? throw new ArgumentException("the pod has no metadata", nameof(created));
        if (metadata.Labels?.TryGetValue(PodMetadata.JobIdLabel, out var jobId) != true || string.IsNullOrEmpty(jobId))
        {
            throw new ArgumentException($"the pod has no {PodMetadata.JobIdLabel} label", nameof(created));
        }

        return new V1PodDisruptionBudget
        {
            ApiVersion = ApiVersion,
            Kind = Kind,
            Metadata = new V1ObjectMeta
            {
                Name = NameOf(metadata.Name),
                NamespaceProperty = metadata.NamespaceProperty,
                Labels = new Dictionary<string, string>(StringComparer.Ordinal) { [PodMetadata.JobIdLabel] = jobId },
                OwnerReferences = [JobPodPlan.OwnerReferenceOf(created)],
            },
            Spec = new V1PodDisruptionBudgetSpec
            {
                MinAvailable = 1,
                Selector = new V1LabelSelector
                {
                    MatchLabels = new Dictionary<string, string>(StringComparer.Ordinal) { [PodMetadata.JobIdLabel] = jobId },
                },
            },
        };
    }
}
