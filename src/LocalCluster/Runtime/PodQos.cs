using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>The pod's QoS class from its containers' requests and limits, as the API server computes it.</summary>
public static class PodQos
{
    private static readonly string[] ComputeResources = ["cpu", "memory"];

    public static string ClassOf(V1Pod pod)
    {
        try
        {
            return Compute(pod);
        }
        catch (Exception exception) when (exception is FormatException or OverflowException or ArgumentException)
        {
            // An unparsable quantity: the pod still runs; it is neither empty nor provably guaranteed.
            return "Burstable";
        }
    }

    private static string Compute(V1Pod pod)
    {
        var containers = (pod.Spec?.Containers ?? []).Concat(pod.Spec?.InitContainers ?? []).ToList();
        var anySet = containers.Any(c => HasAny(c.Resources?.Requests) || HasAny(c.Resources?.Limits));
        if (!anySet) return "BestEffort";
        var guaranteed = containers.All(c => ComputeResources.All(resource => IsGuaranteed(c.Resources, resource)));
        return guaranteed ? "Guaranteed" : "Burstable";
    }

    // A limit is set, and the request is either unset (it defaults to the limit) or equal to it.
    private static bool IsGuaranteed(V1ResourceRequirements? resources, string resource)
    {
        if (resources?.Limits is null || !resources.Limits.TryGetValue(resource, out var limit)) return false;
        return resources.Requests is null || !resources.Requests.TryGetValue(resource, out var request) || request.ToDecimal() == limit.ToDecimal();
    }

    private static bool HasAny(IDictionary<string, ResourceQuantity>? resources) =>
        resources is not null && ComputeResources.Any(resources.ContainsKey);
}
