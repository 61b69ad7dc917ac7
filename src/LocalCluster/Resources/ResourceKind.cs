using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Scheduler.LocalCluster.Resources;

/// <summary>A resource the server serves: its names, scope, verbs and .NET model; core/v1 unless
/// <see cref="GroupVersion"/> names an API group.</summary>
internal sealed record ResourceKind(
    string Plural,
    string Singular,
    string Kind,
    bool Namespaced,
    IReadOnlyList<string> ShortNames,
    IReadOnlyList<string> Verbs,
    Type ModelType,
    IReadOnlyList<string> Subresources,
    IReadOnlyList<string> FieldLabels)
{
    public string ListKind => Kind + "List";

    /// <summary>The apiVersion of its objects: <c>v1</c> (the core group, under /api/v1) or <c>group/version</c> (under /apis).</summary>
    public string GroupVersion { get; init; } = "v1";

    public bool IsCore => GroupVersion == "v1";

    private static readonly string[] AllVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    private static readonly string[] CommonFields = ["metadata.name", "metadata.namespace"];

    public static readonly ResourceKind Pods = new("pods", "pod", "Pod", true, ["po"], AllVerbs, typeof(V1Pod),
        ["status", "log", "exec"],
        [.. CommonFields, "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "status.phase", "status.podIP", "status.nominatedNodeName"]);

    public static readonly ResourceKind Secrets = new("secrets", "secret", "Secret", true, [], AllVerbs, typeof(V1Secret),
        [], [.. CommonFields, "type"]);

    public static readonly ResourceKind ConfigMaps = new("configmaps", "configmap", "ConfigMap", true, ["cm"], AllVerbs,
        typeof(V1ConfigMap), [], CommonFields);

    public static readonly ResourceKind ServiceAccounts = new("serviceaccounts", "serviceaccount", "ServiceAccount", true,
        ["sa"], AllVerbs, typeof(V1ServiceAccount), [], CommonFields);

    public static readonly ResourceKind PersistentVolumeClaims = new("persistentvolumeclaims", "persistentvolumeclaim",
        "PersistentVolumeClaim", true, ["pvc"], AllVerbs, typeof(V1PersistentVolumeClaim), ["status"], CommonFields);

    public static readonly ResourceKind Services = new("services", "service", "Service", true, ["svc"],
        ["create", "delete", "get", "list", "patch", "update", "watch"], typeof(V1Service), ["status"], CommonFields);

    public static readonly ResourceKind Events = new("events", "event", "Event", true, ["ev"], AllVerbs,
        typeof(Corev1Event), [],
        [.. CommonFields, "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
            "reportingComponent", "source", "type"]);

    public static readonly ResourceKind Namespaces = new("namespaces", "namespace", "Namespace", false, ["ns"],
        ["create", "delete", "get", "list", "patch", "update", "watch"], typeof(V1Namespace), ["status"],
        ["metadata.name", "status.phase"]);

    public static readonly ResourceKind Nodes = new("nodes", "node", "Node", false, ["no"],
        ["get", "list", "patch", "update", "watch"], typeof(V1Node), ["status"], ["metadata.name", "spec.unschedulable"]);

    /// <summary>policy/v1: the runner's <c>pod_disruption_budget</c> makes one per job pod.</summary>
    public static readonly ResourceKind PodDisruptionBudgets = new("poddisruptionbudgets", "poddisruptionbudget",
        "PodDisruptionBudget", true, ["pdb"], AllVerbs, typeof(V1PodDisruptionBudget), [], CommonFields) { GroupVersion = "policy/v1" };

    public static readonly IReadOnlyList<ResourceKind> All =
        [Pods, Secrets, ConfigMaps, ServiceAccounts, PersistentVolumeClaims, Services, Events, Namespaces, Nodes, PodDisruptionBudgets];

    /// <summary>The API groups the server serves beside core/v1, each with one version.</summary>
    public static readonly IReadOnlyList<string> GroupVersions = ["policy/v1"];

    public static ResourceKind? ByPlural(string plural, string groupVersion = "v1") =>
        All.FirstOrDefault(k => k.Plural == plural && k.GroupVersion == groupVersion);

    /// <summary>KubernetesClient's own JSON options: its converters for quantities, int-or-string and timestamps.</summary>
    public static JsonSerializerOptions Json { get; } = CaptureJsonOptions();

    private static JsonSerializerOptions CaptureJsonOptions()
    {
        JsonSerializerOptions? captured = null;
        KubernetesJson.AddJsonOptions(o => captured = o);
        return captured ?? throw new InvalidOperationException("KubernetesJson did not expose its options");
    }

    /// <summary>Parses into the model and back: unknown fields are dropped, as kube-apiserver prunes them.</summary>
    public JsonObject Normalize(JsonObject raw)
    {
        object? typed;
        try
        {
            typed = raw.Deserialize(ModelType, Json);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException
                                      or OverflowException or NotSupportedException)
        {
            throw ApiException.BadRequest($"{Kind} in version \"{GroupVersion}\" cannot be handled as a {Kind}: {e.Message}");
        }
        var node = JsonSerializer.SerializeToNode(typed, ModelType, Json) as JsonObject
                   ?? throw ApiException.BadRequest($"{Kind} in version \"{GroupVersion}\" cannot be handled as a {Kind}");
        node["apiVersion"] = GroupVersion;
        node["kind"] = Kind;
        return node;
    }

    public static T To<T>(JsonNode node) =>
        node.Deserialize<T>(Json) ?? throw new InvalidOperationException($"cannot read {typeof(T).Name}");

    public static JsonObject From<T>(T value) =>
        JsonSerializer.SerializeToNode(value, Json) as JsonObject ?? throw new InvalidOperationException("not an object");
}
