using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

// Creating objects: validation, defaults, admission and the pod runtime.
internal sealed partial class Cluster
{
    public JsonObject Create(ResourceKind kind, string? ns, JsonObject raw, bool dryRun)
    {
        var meta = ObjectStore.Meta(raw);
        var bodyNamespace = JsonText.Str(meta["namespace"]);
        if (kind.Namespaced)
        {
            if (!string.IsNullOrEmpty(bodyNamespace) && bodyNamespace != ns)
                throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        CheckKind(kind, raw);
        if (string.IsNullOrEmpty(JsonText.Str(meta["name"])) && meta["generateName"] is JsonValue generate && JsonText.Str(generate) is { Length: > 0 } prefix)
            meta["name"] = prefix + RandomSuffix();

        if (kind == ResourceKind.Pods)
        {
            var quantityErrors = QuantityRules.ValidatePodResources(raw);
            if (quantityErrors.Count > 0) throw ApiException.Invalid(kind, JsonText.Str(meta["name"]) ?? "", quantityErrors);
        }
        var obj = kind.Normalize(raw);
        meta = ObjectStore.Meta(obj);
        foreach (var field in new[] { "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields" })
            meta.Remove(field);
        if (kind.Namespaced) meta["namespace"] = ns;
        else meta.Remove("namespace");
        var name = JsonText.Str(meta["name"]) ?? "";

        obj = Admit(kind, obj, name);
        if (kind.Namespaced) RequireNamespace(ns!, forCreate: true);
        if (kind == ResourceKind.Pods) RequireServiceAccount(ns!, obj);

        if (dryRun)
        {
            if (Store.Get(kind, ns ?? "", name) is not null) throw ApiException.AlreadyExists(kind, name);
            ObjectStore.Meta(obj)["uid"] = Guid.NewGuid().ToString();
            ObjectStore.Meta(obj)["creationTimestamp"] = ObjectStore.Now();
            return obj;
        }
        var created = Store.Create(kind, ns ?? "", obj);
        if (kind == ResourceKind.Namespaces) CreateDefaultServiceAccount(name);
        if (kind == ResourceKind.Pods) Runtime.PodCreated(ResourceKind.To<V1Pod>(created));
        return created;
    }

    private static void CheckKind(ResourceKind kind, JsonObject raw)
    {
        if (raw["kind"] is JsonValue k && JsonText.Str(k) is { Length: > 0 } given && given != kind.Kind)
            throw ApiException.BadRequest($"the kind in the data ({given}) does not match the expected kind ({kind.Kind})");
        if (raw["apiVersion"] is JsonValue v && JsonText.Str(v) is { Length: > 0 } version && version != kind.GroupVersion)
            throw ApiException.BadRequest($"the API version in the data ({version}) does not match the expected API version ({kind.GroupVersion})");
    }

    private static string RandomSuffix() =>
        new(Enumerable.Range(0, 5).Select(_ => GenerateNameAlphabet[Random.Shared.Next(GenerateNameAlphabet.Length)]).ToArray());

    /// <summary>Defaults and validation of a new object, per kind.</summary>
    private JsonObject Admit(ResourceKind kind, JsonObject obj, string name)
    {
        List<FieldError> errors;
        if (kind == ResourceKind.Pods)
        {
            var pod = ResourceKind.To<V1Pod>(obj);
            PodDefaults.Apply(pod);
            errors = PodValidation.ValidateCreate(pod);
            pod.Status = new V1PodStatus { Phase = "Pending", QosClass = PodDefaults.QosClass(pod) };
            obj = ResourceKind.From(pod);
        }
        else if (kind == ResourceKind.Secrets)
        {
            var secret = ResourceKind.To<V1Secret>(obj);
            errors = ConfigValidation.ValidateSecret(secret);
            // stringData is write-only: it is merged into data, as kube-apiserver does.
            if (secret.StringData is { Count: > 0 })
            {
                secret.Data ??= new Dictionary<string, byte[]>();
                foreach (var (key, value) in secret.StringData) secret.Data[key] = System.Text.Encoding.UTF8.GetBytes(value ?? "");
                secret.StringData = null;
            }
            if (string.IsNullOrEmpty(secret.Type)) secret.Type = "Opaque";
            obj = ResourceKind.From(secret);
        }
        else if (kind == ResourceKind.ConfigMaps)
        {
            errors = ConfigValidation.ValidateConfigMap(ResourceKind.To<V1ConfigMap>(obj));
        }
        else if (kind == ResourceKind.Namespaces)
        {
            errors = MetadataValidation.Validate(ResourceKind.To<V1Namespace>(obj).Metadata, false, NameRule.Dns1123Label);
            var labels = ObjectStore.Meta(obj)["labels"] as JsonObject ?? new JsonObject();
            labels["kubernetes.io/metadata.name"] = name;
            ObjectStore.Meta(obj)["labels"] = labels;
            obj["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") };
            obj["status"] = new JsonObject { ["phase"] = "Active" };
        }
        else if (kind == ResourceKind.PersistentVolumeClaims)
        {
            var claim = ResourceKind.To<V1PersistentVolumeClaim>(obj);
            errors = MetadataValidation.Validate(claim.Metadata, true, NameRule.Dns1123Subdomain);
            if (claim.Spec?.AccessModes is not { Count: > 0 }) errors.Add(FieldError.Required("spec.accessModes", "at least 1 access mode is required"));
            if (claim.Spec?.Resources?.Requests?.ContainsKey("storage") != true) errors.Add(FieldError.Required("spec.resources[storage]"));
            // Bound at once: the node's StateDir holds the claim's directory.
            claim.Spec ??= new V1PersistentVolumeClaimSpec();
            claim.Spec.VolumeName ??= "pvc-" + Guid.NewGuid().ToString("N")[..12];
            claim.Spec.VolumeMode ??= "Filesystem";
            claim.Status = new V1PersistentVolumeClaimStatus
            {
                Phase = "Bound", AccessModes = claim.Spec.AccessModes,
                Capacity = claim.Spec.Resources?.Requests is { } requests && requests.TryGetValue("storage", out var storage)
                    ? new Dictionary<string, ResourceQuantity> { ["storage"] = storage } : null,
            };
            obj = ResourceKind.From(claim);
        }
        else if (kind == ResourceKind.Services)
        {
            var service = ResourceKind.To<V1Service>(obj);
            errors = MetadataValidation.Validate(service.Metadata, true, NameRule.Dns1123Label);
            service.Spec ??= new V1ServiceSpec();
            service.Spec.Type ??= "ClusterIP";
            service.Spec.SessionAffinity ??= "None";
            if (service.Spec.ClusterIP is null or "")
            {
                var n = Interlocked.Increment(ref _nextServiceIp);
                service.Spec.ClusterIP = $"10.96.{n / 250 % 250}.{n % 250 + 1}";
            }
            service.Spec.ClusterIPs ??= service.Spec.ClusterIP == "None" ? ["None"] : [service.Spec.ClusterIP];
            foreach (var port in service.Spec.Ports ?? [])
            {
                port.Protocol ??= "TCP";
                port.TargetPort ??= port.Port;
            }
            service.Status = new V1ServiceStatus { LoadBalancer = new V1LoadBalancerStatus() };
            obj = ResourceKind.From(service);
        }
        else if (kind == ResourceKind.Nodes)
        {
            errors = [];
        }
        else if (kind == ResourceKind.PodDisruptionBudgets)
        {
            var budget = ResourceKind.To<V1PodDisruptionBudget>(obj);
            errors = MetadataValidation.Validate(budget.Metadata, true, NameRule.Dns1123Subdomain);
            if (budget.Spec?.MinAvailable is not null && budget.Spec.MaxUnavailable is not null)
                errors.Add(FieldError.Invalid("spec", "", "minAvailable and maxUnavailable cannot be both set"));
        }
        else
        {
            var meta = ResourceKind.To<V1ObjectMeta>(obj["metadata"] ?? new JsonObject());
            errors = MetadataValidation.Validate(meta, kind.Namespaced, NameRule.Dns1123Subdomain);
        }
        if (errors.Count > 0) throw ApiException.Invalid(kind, name, errors);
        return obj;
    }

    private void RequireNamespace(string ns, bool forCreate)
    {
        var nsObject = Store.Get(ResourceKind.Namespaces, "", ns) ?? throw ApiException.NamespaceNotFound(ns);
        if (forCreate && ObjectStore.Meta(nsObject)["deletionTimestamp"] is not null)
            throw new ApiException(403, "Forbidden", $"unable to create new content in namespace {ns} because it is being terminated");
    }

    private void RequireServiceAccount(string ns, JsonObject pod)
    {
        var account = JsonText.Str(pod["spec"]?["serviceAccountName"]) ?? "default";
        if (Store.Get(ResourceKind.ServiceAccounts, ns, account) is null)
            throw new ApiException(403, "Forbidden",
                $"pods \"{JsonText.Str(ObjectStore.Meta(pod)["name"])}\" is forbidden: error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found");
    }

    private void CreateDefaultServiceAccount(string ns)
    {
        if (Store.Get(ResourceKind.ServiceAccounts, ns, "default") is not null) return;
        Store.Create(ResourceKind.ServiceAccounts, ns, new JsonObject
        {
            ["kind"] = "ServiceAccount", ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject { ["name"] = "default", ["namespace"] = ns },
        });
    }

    private void CreateNode()
    {
        var node = new V1Node
        {
            ApiVersion = "v1", Kind = "Node",
            Metadata = new V1ObjectMeta
            {
                Name = _node.NodeName,
                Labels = new Dictionary<string, string>(_node.EffectiveLabels),
            },
            Spec = new V1NodeSpec { Taints = _node.Taints.Count > 0 ? _node.Taints.ToList() : null },
            Status = new V1NodeStatus
            {
                Conditions = [new V1NodeCondition { Type = "Ready", Status = "True", Reason = "KubeletReady", Message = "kubelet is posting ready status", LastHeartbeatTime = DateTime.UtcNow, LastTransitionTime = DateTime.UtcNow }],
                Capacity = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = new(Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), ["pods"] = new("110"),
                },
                Allocatable = new Dictionary<string, ResourceQuantity>
                {
                    ["cpu"] = new(Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), ["pods"] = new("110"),
                },
                Addresses = [new V1NodeAddress { Type = "InternalIP", Address = "127.0.0.1" }, new V1NodeAddress { Type = "Hostname", Address = _node.NodeName }],
                NodeInfo = new V1NodeSystemInfo
                {
                    Architecture = "amd64", OperatingSystem = "linux", KubeletVersion = "v1.32.0-local", KubeProxyVersion = "v1.32.0-local",
                    ContainerRuntimeVersion = "process://local", OsImage = "local", KernelVersion = Environment.OSVersion.VersionString,
                    BootID = Guid.NewGuid().ToString(), MachineID = "local", SystemUUID = Guid.NewGuid().ToString(),
                },
            },
        };
        Store.Create(ResourceKind.Nodes, "", ResourceKind.From(node));
    }
}
