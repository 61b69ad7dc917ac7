using k8s.Models;
using Scheduler.Messages.Kubernetes;

namespace Scheduler.Actors.Pods;

/// <summary>Resource quantities for the pod spec: read as the API server reads them (<see cref="KubernetesQuantity"/>),
/// never negative, and handed to KubernetesClient's <see cref="ResourceQuantity"/> in their canonical form (its own parser
/// accepts leading spaces and garbles negative values).</summary>
public static class ResourceQuantities
{
    /// <summary>Parses <paramref name="text"/>; on failure returns null and a reason.</summary>
    public static ResourceQuantity? TryParse(string text, out string? error) =>
        TryRead(text, out var quantity, out error) ? new ResourceQuantity(quantity.ToString()) : null;

    /// <summary>Reads <paramref name="text"/> as a non-negative quantity; on failure returns false and a reason.</summary>
    public static bool TryRead(string text, out KubernetesQuantity quantity, out string? error)
    {
        if (!KubernetesQuantity.TryParse(text, out quantity, out error))
        {
            return false;
        }

        if (quantity.IsNegative)
        {
            error = "a resource quantity must not be negative";
            return false;
        }

        return true;
    }
}
