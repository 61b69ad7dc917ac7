using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Scheduler.Actors.Pods;

public enum RenderFormat
{
    Json,
    Yaml,
}

/// <summary>A plan as a <c>v1 List</c> for people to read (<c>scheduler render-pod</c>): the pod first, then its Secrets
/// with their ownerReference (the pod uid shown as a placeholder) and every value redacted, because this output ends up
/// in terminals and CI logs; with <paramref name="podDisruptionBudget"/> last the pod's PodDisruptionBudget, owned by the
/// pod the same way.</summary>
public static class PodPlanRendering
{
    public const string RedactedValue = "<redacted>";
    public const string PodUidPlaceholder = "<pod-uid-assigned-at-creation>";

    public static string Render(JobPodPlan plan, RenderFormat format, bool podDisruptionBudget = false)
    {
        var placeholderPod = new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = plan.PodName, NamespaceProperty = plan.Namespace, Uid = PodUidPlaceholder, Labels = plan.Pod.Metadata.Labels,
            },
        };
        var secrets = plan.SecretsOwnedBy(placeholderPod).Select(Redacted);
        object[] budget = podDisruptionBudget ? [PodDisruptionBudgets.For(placeholderPod)] : [];
        var list = new Dictionary<string, object>
        {
            ["apiVersion"] = "v1",
            ["kind"] = "List",
            ["items"] = new List<object> { plan.Pod }.Concat(secrets).Concat(budget).ToList(),
        };

        return format switch
        {
            RenderFormat.Json => Indented(KubernetesJson.Serialize(list)),
            RenderFormat.Yaml => KubernetesYaml.Serialize(list),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
    }

    /// <summary>The keys stay visible; every value becomes <see cref="RedactedValue"/>.</summary>
    public static V1Secret Redacted(V1Secret secret)
    {
        var keys = (secret.Data?.Keys ?? []).Concat(secret.StringData?.Keys ?? []).Distinct(StringComparer.Ordinal);
        secret.StringData = keys.ToDictionary(key => key, _ => RedactedValue, StringComparer.Ordinal);
        secret.Data = null;
        return secret;
    }

    // For terminals, not HTML: "<" and "+" stay readable.
    private static readonly JsonSerializerOptions ReadableJson = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static string Indented(string json) => JsonNode.Parse(json)!.ToJsonString(ReadableJson);
}
