using System.Text.Json.Nodes;
using Scheduler.Messages.Kubernetes;

namespace Scheduler.LocalCluster.Validation;

/// <summary>The resources of a pod's containers, read with <see cref="KubernetesQuantity"/> as the API server reads them.</summary>
public static class QuantityRules
{
    /// <summary>
    /// Checks <c>resources.requests/limits</c> of every container in a raw pod (before it is parsed, since an invalid
    /// quantity cannot be parsed): syntax, non-negative, a request no larger than its limit. Each valid quantity is
    /// written back in its canonical form (<c>1.5Gi</c> → <c>1536Mi</c>), as the API server stores it; the client models
    /// the runtime reads the pod with then never meet a form their own parser refuses (such as <c>.</c>).
    /// </summary>
    public static List<FieldError> ValidatePodResources(JsonObject rawPod)
    {
        var errors = new List<FieldError>();
        foreach (var listName in new[] { "initContainers", "containers" })
        {
            if (rawPod["spec"]?[listName] is not JsonArray containers) continue;
            for (var i = 0; i < containers.Count; i++)
            {
                if (containers[i]?["resources"] is not JsonObject resources) continue;
                var parsed = new Dictionary<string, Dictionary<string, KubernetesQuantity>>();
                foreach (var kind in new[] { "limits", "requests" })
                {
                    parsed[kind] = new Dictionary<string, KubernetesQuantity>();
                    if (resources[kind] is not JsonObject values) continue;
                    var canonical = new Dictionary<string, string>();
                    foreach (var (name, node) in values)
                    {
                        var field = $"spec.{listName}[{i}].resources.{kind}[{name}]";
                        var text = node is JsonValue v && v.TryGetValue<string>(out var s) ? s : node?.ToJsonString() ?? "";
                        // As the API server decodes JSON: surrounding spaces are trimmed, then the quantity's own grammar.
                        if (!KubernetesQuantity.TryParse(text.Trim(), out var value, out var error)) errors.Add(FieldError.Invalid(field, text, error!));
                        else if (value.IsNegative) errors.Add(FieldError.Invalid(field, text, "must be greater than or equal to 0"));
                        else
                        {
                            parsed[kind][name] = value;
                            canonical[name] = value.ToString();
                        }
                    }
                    foreach (var (name, text) in canonical) values[name] = text;
                }
                foreach (var (name, request) in parsed["requests"])
                    if (parsed["limits"].TryGetValue(name, out var limit) && request > limit)
                        errors.Add(FieldError.Invalid($"spec.{listName}[{i}].resources.requests", (string?)resources["requests"]?[name]?.ToString(),
                            $"must be less than or equal to {name} limit of {resources["limits"]?[name]}"));
            }
        }
        return errors;
    }
}
