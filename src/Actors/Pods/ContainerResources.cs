using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>The requests and limits of each container kind and of the pod, after the job's overwrites.</summary>
public sealed record ResolvedResources(
    V1ResourceRequirements? Build,
    V1ResourceRequirements? Helper,
    V1ResourceRequirements? Service,
    V1ResourceRequirements? Pod)
{
    /// <summary>Services whose own <c>variables</c> set <c>KUBERNETES_SERVICE_*</c>: their resources, by index in the pod's
    /// service list; the others get <see cref="Service"/>.</summary>
    public IReadOnlyDictionary<int, V1ResourceRequirements?> ExplicitServices { get; init; } = new Dictionary<int, V1ResourceRequirements?>();

    public V1ResourceRequirements? ForService(int index) => ExplicitServices.TryGetValue(index, out var own) ? own : Service;
}

/// <summary>
/// Per-job resource overwrites as GitLab Runner applies them: for each container kind (build, helper, service) and the
/// pod, each of cpu, memory and ephemeral storage (the pod: cpu and memory), request and limit, the config value
/// (<c>cpu_limit</c>, <c>helper_ephemeral_storage_request</c>, <c>pod_memory_limit</c>, …) is replaced by the job variable
/// (<c>KUBERNETES_CPU_LIMIT</c>, <c>KUBERNETES_HELPER_EPHEMERAL_STORAGE_REQUEST</c>, <c>KUBERNETES_POD_MEMORY_LIMIT</c>, …)
/// only when its <c>*_overwrite_max_allowed</c> key is set, and a value above that maximum refuses the job with GitLab
/// Runner's reason. A service's own <c>variables</c> may carry the <c>KUBERNETES_SERVICE_*</c> keys for that service
/// alone, under the same maxima. Pure: no I/O.
/// </summary>
public static class ContainerResources
{
    private static readonly string[] Kinds = ["request", "limit"];
    private static readonly string[] AllResources = ["cpu", "memory", "ephemeral_storage"];
    private static readonly string[] PodResources = ["cpu", "memory"];

    /// <summary>The config key, its maximum's key, GitLab Runner's field name and the job variable of one (prefix, resource,
    /// kind).</summary>
    private sealed record Names(string Key, string MaxKey, string Field, string Variable);

    // The same for every job: made once (per job they were a fifth of the strings a pod's plan allocated).
    private static readonly Dictionary<(string Prefix, string Resource, string Kind), Names> NameTable = BuildNames();

    /// <summary>The config.toml keys beyond the 12.5 ones that this class reads from
    /// <see cref="KubernetesSettings.Resources"/>: <c>ephemeral_storage_*</c>, every <c>*_overwrite_max_allowed</c> and
    /// <c>pod_cpu_*</c>/<c>pod_memory_*</c>.</summary>
    public static IReadOnlyList<string> ConfigKeys { get; } = BuildConfigKeys();

    public static (ResolvedResources? Resources, string? Refusal) Resolve(KubernetesSettings settings, IReadOnlyList<JobService> services,
        JobVariableLookup lookup)
    {
        try
        {
            var build = Container(settings, "", "build", lookup);
            var service = Container(settings, "service_", "service", lookup);
            var helper = Container(settings, "helper_", "helper", lookup);
            var pod = Container(settings, "pod_", "Pod", lookup);
            var explicitServices = new Dictionary<int, V1ResourceRequirements?>();
            for (var i = 0; i < services.Count; i++)
            {
                var own = new JobVariableLookup(services[i].Variables.Select(v => new JobVariable { Key = v.Key, Value = v.Value, Public = true }));
                if (Kinds.Any(kind => AllResources.Any(resource => !string.IsNullOrEmpty(own.Find(VariableName("service_", resource, kind))?.Value))))
                {
                    explicitServices[i] = Container(settings, "service_", "service", own, defaults: service);
                }
            }

            return (new ResolvedResources(build, helper, service, pod) { ExplicitServices = explicitServices }, null);
        }
        catch (ResourceRefusal refusal)
        {
            return (null, refusal.Message);
        }
    }

    private static V1ResourceRequirements? Container(KubernetesSettings settings, string prefix, string what, JobVariableLookup lookup,
        V1ResourceRequirements? defaults = null)
    {
        var requests = List(settings, prefix, "request", $"invalid {what} requests specified", lookup, defaults?.Requests);
        var limits = List(settings, prefix, "limit", $"invalid {what} limits specified", lookup, defaults?.Limits);
        return requests is null && limits is null ? null : new V1ResourceRequirements { Requests = requests, Limits = limits };
    }

    private static Dictionary<string, ResourceQuantity>? List(KubernetesSettings settings, string prefix, string kind, string context,
        JobVariableLookup lookup, IDictionary<string, ResourceQuantity>? defaults)
    {
        var list = new Dictionary<string, ResourceQuantity>();
        foreach (var resource in prefix == "pod_" ? PodResources : AllResources)
        {
            var names = NameTable[(prefix, resource, kind)];
            var key = names.Key;
            var current = defaults is not null
                ? defaults.TryGetValue(ResourceName(resource), out var inherited) ? inherited.ToString() : null
                : ConfigValue(settings, key);
            var value = Evaluate(names.Field, current, settings.Resources.GetValueOrDefault(names.MaxKey), names.Variable, lookup, context);
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            // Config values were checked at load; a bad one (a settings object built elsewhere) refuses the job rather than crash.
            list[ResourceName(resource)] = ResourceQuantities.TryParse(value, out var error)
                                           ?? throw new ResourceRefusal($"invalid {key} \"{value}\": {error}");
        }

        return list.Count > 0 ? list : null;
    }

    // GitLab Runner's evaluateMaxResourceOverwrite: no maximum disables the overwrite; an empty variable keeps the config value.
    private static string? Evaluate(string field, string? current, string? max, string variable, JobVariableLookup lookup, string context)
    {
        if (string.IsNullOrEmpty(max) || lookup.Find(variable) is not { } found)
        {
            return current;
        }

        if (found.Masked || found.File)
        {
            throw new ResourceRefusal($"{context}: {variable} is a {(found.Masked ? "masked" : "file")} variable; its value never goes into the pod spec");
        }

        var overwrite = lookup.ExpandShowable(found.Value, out var hidden);
        if (hidden is not null)
        {
            throw new ResourceRefusal($"{context}: {variable} refers to the masked, non-public or file variable {hidden}; secrets never go into the pod spec");
        }

        if (overwrite.Length == 0)
        {
            return current;
        }

        var maxQuantity = ResourceQuantities.TryRead(max, out var maxRead, out var maxError) ? maxRead
                          : throw new ResourceRefusal($"{context}: parsing resource limit: \"{maxError}\"");
        var overwriteQuantity = ResourceQuantities.TryRead(overwrite, out var overwriteRead, out var overwriteError) ? overwriteRead
                                : throw new ResourceRefusal($"{context}: parsing resource limit: \"{overwriteError}\"");
        if (overwriteQuantity > maxQuantity)
        {
            throw new ResourceRefusal($"{context}: the resource \"{field}\" requested \"{overwrite}\" is higher than limit allowed \"{max}\"");
        }

        return overwrite;
    }

    private static string? ConfigValue(KubernetesSettings settings, string key) => key switch
    {
        "cpu_limit" => settings.CpuLimit,
        "memory_limit" => settings.MemoryLimit,
        "cpu_request" => settings.CpuRequest,
        "memory_request" => settings.MemoryRequest,
        "service_cpu_limit" => settings.ServiceCpuLimit,
        "service_memory_limit" => settings.ServiceMemoryLimit,
        "service_cpu_request" => settings.ServiceCpuRequest,
        "service_memory_request" => settings.ServiceMemoryRequest,
        "helper_cpu_limit" => settings.HelperCpuLimit,
        "helper_memory_limit" => settings.HelperMemoryLimit,
        "helper_cpu_request" => settings.HelperCpuRequest,
        "helper_memory_request" => settings.HelperMemoryRequest,
        _ => settings.Resources.GetValueOrDefault(key),
    };

    private static string ResourceName(string resource) => resource == "ephemeral_storage" ? "ephemeral-storage" : resource;

    /// <summary><c>KUBERNETES_[HELPER_|SERVICE_|POD_]CPU|MEMORY|EPHEMERAL_STORAGE_REQUEST|LIMIT</c>.</summary>
    public static string VariableName(string prefix, string resource, string kind) =>
        NameTable.TryGetValue((prefix, resource, kind), out var names) ? names.Variable : MakeVariableName(prefix, resource, kind);

    private static string MakeVariableName(string prefix, string resource, string kind) =>
        $"KUBERNETES_{prefix}{resource}_{kind}".ToUpperInvariant();

    // GitLab Runner's field names in its messages: CPULimit, HelperMemoryRequest, ServiceEphemeralStorageLimit, PodCPURequest.
    private static string FieldName(string prefix, string resource, string kind)
    {
        var owner = prefix switch { "helper_" => "Helper", "service_" => "Service", "pod_" => "Pod", _ => "" };
        var name = resource switch { "cpu" => "CPU", "memory" => "Memory", _ => "EphemeralStorage" };
        return owner + name + (kind == "limit" ? "Limit" : "Request");
    }

    private static Dictionary<(string Prefix, string Resource, string Kind), Names> BuildNames()
    {
        var table = new Dictionary<(string, string, string), Names>();
        foreach (var prefix in new[] { "", "service_", "helper_", "pod_" })
        {
            foreach (var resource in AllResources)
            {
                foreach (var kind in Kinds)
                {
                    var key = $"{prefix}{resource}_{kind}";
                    table[(prefix, resource, kind)] = new Names(key, key + "_overwrite_max_allowed", FieldName(prefix, resource, kind),
                        MakeVariableName(prefix, resource, kind));
                }
            }
        }

        return table;
    }

    private static List<string> BuildConfigKeys()
    {
        var keys = new List<string>();
        foreach (var prefix in new[] { "", "service_", "helper_", "pod_" })
        {
            foreach (var resource in prefix == "pod_" ? PodResources : AllResources)
            {
                foreach (var kind in Kinds)
                {
                    if (resource == "ephemeral_storage" || prefix == "pod_")
                    {
                        keys.Add($"{prefix}{resource}_{kind}");
                    }

                    keys.Add($"{prefix}{resource}_{kind}_overwrite_max_allowed");
                }
            }
        }

        return keys;
    }

    private sealed class ResourceRefusal(string message) : Exception(message);
}
