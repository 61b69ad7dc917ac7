using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

/// <summary>How a DELETE was asked for.</summary>
internal sealed record DeleteRequest(long? GracePeriodSeconds, string? PropagationPolicy, string? PreconditionUid, string? PreconditionResourceVersion, bool DryRun);

/// <summary>
/// The API semantics of the embedded cluster, independent of HTTP: admission (defaults, validation), create, replace,
/// patch, delete with graceful pod termination, ownerReference garbage collection, and the store side of the runtime seam.
/// </summary>
internal sealed class Cluster : IPodHost
{
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    private readonly ConcurrentDictionary<string, Task> _terminations = new();
    private readonly NodeSettings _node;
    private long _eventCounter;
    private int _nextServiceIp = 10;
    private IPodRuntime? _runtime;

    private readonly ConcurrentQueue<(DateTime Created, string Namespace, string Name)> _eventAges = new();
    private readonly TimeSpan _eventTimeToLive;

    public Cluster(ObjectStore store, NodeSettings node, TimeSpan eventTimeToLive)
    {
        Store = store;
        _node = node;
        _eventTimeToLive = eventTimeToLive;
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
            Create(ResourceKind.Namespaces, null, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } }, dryRun: false);
        CreateNode();
    }

    public ObjectStore Store { get; }

    /// <summary>Set once, right after construction (the runtime is built with this host).</summary>
    public IPodRuntime Runtime
    {
        get => _runtime ?? throw new InvalidOperationException("runtime not attached");
        set => _runtime = value;
    }

    // ---- create ---------------------------------------------------------------------------------

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
        if (raw["apiVersion"] is JsonValue v && JsonText.Str(v) is { Length: > 0 } version && version != "v1")
            throw ApiException.BadRequest($"the API version in the data ({version}) does not match the expected API version (v1)");
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
                Labels = new Dictionary<string, string>(_node.Labels)
                {
                    ["kubernetes.io/hostname"] = _node.NodeName, ["kubernetes.io/os"] = "linux",
                    ["kubernetes.io/arch"] = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant() switch
                    {
                        "x64" => "amd64", "arm64" => "arm64", var other => other,
                    },
                },
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

    // ---- read -----------------------------------------------------------------------------------

    public JsonObject Get(ResourceKind kind, string? ns, string name)
    {
        if (kind.Namespaced) RequireNamespaceForRead(ns!, kind, name);
        return Store.Get(kind, ns ?? "", name) ?? throw ApiException.NotFound(kind, name);
    }

    private void RequireNamespaceForRead(string ns, ResourceKind kind, string name)
    {
        if (Store.Get(ResourceKind.Namespaces, "", ns) is null) throw ApiException.NotFound(kind, name);
    }

    public static Func<JsonObject, bool> Matcher(LabelSelector labels, FieldSelector fields) => obj =>
    {
        if (!fields.Matches(obj)) return false;
        if (labels.IsEmpty) return true;
        var map = (ObjectStore.Meta(obj)["labels"] as JsonObject)?
            .ToDictionary(kv => kv.Key, kv => JsonText.Str(kv.Value) ?? "") ?? new Dictionary<string, string>();
        return labels.Matches(map);
    };

    // ---- replace and patch ----------------------------------------------------------------------

    public JsonObject Replace(ResourceKind kind, string? ns, string name, string? subresource, JsonObject raw, bool dryRun)
    {
        var meta = ObjectStore.Meta(raw);
        var bodyName = JsonText.Str(meta["name"]);
        if (bodyName != name)
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        if (kind.Namespaced && meta["namespace"] is JsonValue bodyNs && JsonText.Str(bodyNs) is { Length: > 0 } given && given != ns)
            throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        CheckKind(kind, raw);
        if (kind == ResourceKind.Pods && subresource is null)
        {
            var quantityErrors = QuantityRules.ValidatePodResources(raw);
            if (quantityErrors.Count > 0) throw ApiException.Invalid(kind, name, quantityErrors);
        }
        var requested = kind.Normalize(raw);
        var givenVersion = JsonText.Str(ObjectStore.Meta(requested)["resourceVersion"]);
        return Change(kind, ns, name, dryRun, current =>
        {
            if (!string.IsNullOrEmpty(givenVersion) && givenVersion != JsonText.Str(ObjectStore.Meta(current)["resourceVersion"]))
                throw ApiException.Conflict(kind, name);
            return Merge(kind, current, requested, subresource);
        });
    }

    public JsonObject Patch(ResourceKind kind, string? ns, string name, string? subresource, string contentType, JsonNode patch, bool dryRun)
    {
        return Change(kind, ns, name, dryRun, current =>
        {
            JsonNode? patched;
            try
            {
                patched = contentType switch
                {
                    "application/merge-patch+json" => Patches.MergePatch(current, patch),
                    "application/strategic-merge-patch+json" => Patches.StrategicMergePatch(current, patch),
                    "application/json-patch+json" => patch is JsonArray ops
                        ? Patches.JsonPatch(current, ops)
                        : throw new FormatException("a JSON patch must be an array of operations"),
                    _ => throw new ApiException(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"),
                };
            }
            catch (FormatException e)
            {
                throw new ApiException(422, "Invalid", e.Message);
            }
            if (patched is not JsonObject patchedObject) throw ApiException.BadRequest("the patch did not produce an object");
            var patchedMeta = ObjectStore.Meta(patchedObject);
            if (JsonText.Str(patchedMeta["resourceVersion"]) != JsonText.Str(ObjectStore.Meta(current)["resourceVersion"]))
                throw ApiException.Conflict(kind, name);
            if (JsonText.Str(patchedMeta["name"]) != name)
                throw ApiException.BadRequest($"the name of the object ({JsonText.Str(patchedMeta["name"])}) does not match the name on the URL ({name})");
            if (kind == ResourceKind.Pods && subresource is null)
            {
                var quantityErrors = QuantityRules.ValidatePodResources(patchedObject);
                if (quantityErrors.Count > 0) throw ApiException.Invalid(kind, name, quantityErrors);
            }
            return Merge(kind, current, kind.Normalize(patchedObject), subresource);
        });
    }

    private JsonObject Change(ResourceKind kind, string? ns, string name, bool dryRun, Func<JsonObject, JsonObject> change)
    {
        if (kind.Namespaced) RequireNamespaceForRead(ns!, kind, name);
        if (dryRun) return change(Get(kind, ns, name));
        var updated = Store.Update(kind, ns ?? "", name, change);
        return updated;
    }

    /// <summary>
    /// The stored object after an update: server-owned metadata kept; for kinds with a status subresource the main
    /// resource keeps its status and the status subresource changes only the status; pod specs are mostly immutable.
    /// </summary>
    private static JsonObject Merge(ResourceKind kind, JsonObject current, JsonObject requested, string? subresource)
    {
        JsonObject result;
        if (subresource == "status")
        {
            result = current.DeepClone().AsObject();
            result["status"] = requested["status"]?.DeepClone();
            return result;
        }
        result = requested.DeepClone().AsObject();
        var meta = ObjectStore.Meta(result);
        var currentMeta = ObjectStore.Meta(current);
        foreach (var field in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "resourceVersion", "generateName" })
        {
            if (currentMeta[field] is { } value) meta[field] = value.DeepClone();
            else meta.Remove(field);
        }
        if (kind.Subresources.Contains("status") || kind == ResourceKind.Namespaces)
            result["status"] = current["status"]?.DeepClone();
        if (kind == ResourceKind.Namespaces) result["spec"] = current["spec"]?.DeepClone();

        var name = JsonText.Str(meta["name"]) ?? "";
        List<FieldError> errors;
        if (kind == ResourceKind.Pods)
        {
            errors = MetadataValidation.Validate(ResourceKind.To<V1ObjectMeta>(meta), true, NameRule.Dns1123Subdomain);
            var newPod = ResourceKind.To<V1Pod>(result);
            PodDefaults.Apply(newPod);
            var newSpec = ResourceKind.From(newPod.Spec ?? new V1PodSpec());
            errors.AddRange(PodValidation.ValidateUpdate(current["spec"] as JsonObject ?? new JsonObject(), newSpec));
            if (errors.Count == 0) errors.AddRange(PodValidation.ValidateSpec(newPod.Spec!));
            result["spec"] = newSpec;
        }
        else if (kind == ResourceKind.Secrets)
        {
            var secret = ResourceKind.To<V1Secret>(result);
            errors = ConfigValidation.ValidateSecret(secret);
            if (string.IsNullOrEmpty(secret.Type)) secret.Type = "Opaque";
            if (current["type"]?.ToString() != secret.Type)
                errors.Add(FieldError.Invalid("type", secret.Type, "field is immutable"));
            if (secret.StringData is { Count: > 0 })
            {
                secret.Data ??= new Dictionary<string, byte[]>();
                foreach (var (key, value) in secret.StringData) secret.Data[key] = System.Text.Encoding.UTF8.GetBytes(value ?? "");
                secret.StringData = null;
            }
            result = ResourceKind.From(secret);
        }
        else if (kind == ResourceKind.ConfigMaps)
        {
            errors = ConfigValidation.ValidateConfigMap(ResourceKind.To<V1ConfigMap>(result));
        }
        else
        {
            errors = MetadataValidation.Validate(ResourceKind.To<V1ObjectMeta>(meta), kind.Namespaced,
                kind == ResourceKind.Namespaces || kind == ResourceKind.Services ? NameRule.Dns1123Label : NameRule.Dns1123Subdomain);
        }
        if (errors.Count > 0) throw ApiException.Invalid(kind, name, errors);
        return result;
    }

    // ---- delete ---------------------------------------------------------------------------------

    /// <summary>
    /// Deletes an object. Pods and namespaces terminate gracefully (the object stays, with deletionTimestamp, until
    /// the runtime has killed the pod) and are returned; other kinds go at once and a Status is returned.
    /// </summary>
    public JsonObject Delete(ResourceKind kind, string? ns, string name, DeleteRequest request)
    {
        var current = Get(kind, ns, name);
        var meta = ObjectStore.Meta(current);
        var uid = JsonText.Str(meta["uid"]) ?? "";
        if (request.PreconditionUid is { Length: > 0 } wantUid && wantUid != uid)
            throw new ApiException(409, "Conflict",
                $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": Precondition failed: UID in precondition: {wantUid}, UID in object meta: {uid}");
        if (request.PreconditionResourceVersion is { Length: > 0 } wantVersion && wantVersion != JsonText.Str(meta["resourceVersion"]))
            throw new ApiException(409, "Conflict",
                $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": Precondition failed: ResourceVersion in precondition: {wantVersion}, ResourceVersion in object meta: {JsonText.Str(meta["resourceVersion"])}");
        if (kind == ResourceKind.Nodes) throw ApiException.MethodNotAllowed("DELETE");
        if (request.DryRun) return kind == ResourceKind.Pods || kind == ResourceKind.Namespaces ? current : SuccessStatus(kind, name, uid);

        if (kind == ResourceKind.Pods)
        {
            var grace = Math.Max(0, request.GracePeriodSeconds ?? (long?)current["spec"]?["terminationGracePeriodSeconds"] ?? 30);
            var start = false;
            var shorten = false;
            // Decided under the store lock, so concurrent deletes start one termination (a shorter grace re-kills, as kube).
            var marked = Store.Update(kind, ns!, name, pod =>
            {
                var podMeta = ObjectStore.Meta(pod);
                if (JsonText.Str(podMeta["uid"]) != uid) throw ApiException.NotFound(kind, name);
                var previousGrace = (long?)podMeta["deletionGracePeriodSeconds"];
                if (podMeta["deletionTimestamp"] is not null && (previousGrace is null || grace >= previousGrace)) return pod;
                start = podMeta["deletionTimestamp"] is null;
                shorten = !start;
                podMeta["deletionTimestamp"] = DateTimeOffset.UtcNow.AddSeconds(grace).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                podMeta["deletionGracePeriodSeconds"] = grace;
                return pod;
            });
            if (start)
            {
                var orphan = request.PropagationPolicy == "Orphan";
                _terminations[uid] = Task.Run(() => TerminatePodAsync(ns!, name, uid, grace, orphan));
            }
            else if (shorten)
            {
                _ = Task.Run(() => ShortenGraceAsync(ns!, name, uid, grace));
            }
            return marked;
        }
        if (kind == ResourceKind.Namespaces)
        {
            if (name is "default" or "kube-system" or "kube-public")
                throw new ApiException(403, "Forbidden", $"namespaces \"{name}\" is forbidden: this namespace may not be deleted");
            if (meta["deletionTimestamp"] is not null) return current;
            var marked = Store.Update(kind, "", name, nsObject =>
            {
                ObjectStore.Meta(nsObject)["deletionTimestamp"] = ObjectStore.Now();
                nsObject["status"] = new JsonObject { ["phase"] = "Terminating" };
                return nsObject;
            });
            _terminations[uid] = Task.Run(() => TerminateNamespaceAsync(name, uid));
            return marked;
        }
        Store.Remove(kind, ns ?? "", name, uid);
        if (request.PropagationPolicy != "Orphan") CollectGarbage(uid);
        return SuccessStatus(kind, name, uid);
    }

    private static JsonObject SuccessStatus(ResourceKind kind, string name, string uid) => new()
    {
        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Success",
        ["details"] = new JsonObject { ["name"] = name, ["kind"] = kind.Plural, ["uid"] = uid },
    };

    private async Task ShortenGraceAsync(string ns, string name, string uid, long grace)
    {
        try
        {
            await Runtime.KillPodAsync(ns, name, uid, grace).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The first termination still removes the object; only the faster kill failed.
            RecordEvent(new V1ObjectReference { Kind = "Pod", NamespaceProperty = ns, Name = name, Uid = uid, ApiVersion = "v1" },
                "Warning", "FailedKillPod", $"error killing pod: {e.Message}");
        }
    }

    private async Task TerminatePodAsync(string ns, string name, string uid, long grace, bool orphan)
    {
        try
        {
            await Runtime.KillPodAsync(ns, name, uid, grace).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The object must not stay forever: record why and remove it anyway.
            RecordEvent(new V1ObjectReference { Kind = "Pod", NamespaceProperty = ns, Name = name, Uid = uid, ApiVersion = "v1" },
                "Warning", "FailedKillPod", $"error killing pod: {e.Message}");
        }
        finally
        {
            Store.Remove(ResourceKind.Pods, ns, name, uid);
            if (!orphan) CollectGarbage(uid);
            _terminations.TryRemove(uid, out _);
        }
    }

    private async Task TerminateNamespaceAsync(string ns, string uid)
    {
        try
        {
            foreach (var kind in ResourceKind.All.Where(k => k.Namespaced))
            foreach (var (_, name) in Store.Keys(kind, ns))
            {
                try
                {
                    Delete(kind, ns, name, new DeleteRequest(null, null, null, null, false));
                }
                catch (ApiException)
                {
                    // Already gone.
                }
            }
            while (ResourceKind.All.Any(k => k.Namespaced && Store.Keys(k, ns).Count > 0))
            {
                foreach (var (_, name) in Store.Keys(ResourceKind.Events, ns)) Store.Remove(ResourceKind.Events, ns, name);
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
        finally
        {
            Store.Remove(ResourceKind.Namespaces, "", ns, uid);
            _terminations.TryRemove(uid, out _);
        }
    }

    /// <summary>Background propagation: every object naming the removed owner's uid is deleted (pods gracefully).</summary>
    private void CollectGarbage(string ownerUid)
    {
        foreach (var (kind, ns, name) in Store.OwnedBy(ownerUid))
        {
            try
            {
                Delete(kind, kind.Namespaced ? ns : null, name, new DeleteRequest(null, null, null, null, false));
            }
            catch (ApiException)
            {
                // Deleted meanwhile.
            }
        }
    }

    /// <summary>Kills every pod (no grace), for shutdown; completes when the runtime reports them gone.</summary>
    public async Task KillAllPodsAsync()
    {
        foreach (var (ns, name) in Store.Keys(ResourceKind.Pods, null))
        {
            var pod = Store.Get(ResourceKind.Pods, ns, name);
            var uid = pod is null ? null : JsonText.Str(ObjectStore.Meta(pod)["uid"]);
            if (uid is null || _terminations.ContainsKey(uid)) continue;
            _terminations[uid] = Task.Run(() => TerminatePodAsync(ns, name, uid, 0, orphan: true));
        }
        await Task.WhenAll(_terminations.Values.ToArray()).ConfigureAwait(false);
    }

    // ---- IPodHost -------------------------------------------------------------------------------

    public V1Secret? GetSecret(string @namespace, string name) =>
        Store.Get(ResourceKind.Secrets, @namespace, name) is { } s ? ResourceKind.To<V1Secret>(s) : null;

    public V1ConfigMap? GetConfigMap(string @namespace, string name) =>
        Store.Get(ResourceKind.ConfigMaps, @namespace, name) is { } c ? ResourceKind.To<V1ConfigMap>(c) : null;

    public V1PersistentVolumeClaim? GetPersistentVolumeClaim(string @namespace, string name) =>
        Store.Get(ResourceKind.PersistentVolumeClaims, @namespace, name) is { } p ? ResourceKind.To<V1PersistentVolumeClaim>(p) : null;

    public bool BindPod(string @namespace, string name, string uid, string nodeName) =>
        ChangePod(@namespace, name, uid, pod =>
        {
            var spec = pod["spec"] as JsonObject ?? new JsonObject();
            spec["nodeName"] = nodeName;
            pod["spec"] = spec;
        });

    public bool UpdatePodStatus(string @namespace, string name, string uid, V1PodStatus status) =>
        ChangePod(@namespace, name, uid, pod => pod["status"] = ResourceKind.From(status));

    private bool ChangePod(string ns, string name, string uid, Action<JsonObject> change)
    {
        var found = true;
        try
        {
            Store.Update(ResourceKind.Pods, ns, name, pod =>
            {
                if (JsonText.Str(ObjectStore.Meta(pod)["uid"]) != uid)
                {
                    found = false;
                    return pod;
                }
                change(pod);
                return pod;
            });
        }
        catch (ApiException e) when (e.Code == 404)
        {
            return false;
        }
        return found;
    }

    public void RecordEvent(V1ObjectReference involvedObject, string type, string reason, string message)
    {
        var ns = string.IsNullOrEmpty(involvedObject.NamespaceProperty) ? "default" : involvedObject.NamespaceProperty;
        if (Store.Get(ResourceKind.Namespaces, "", ns) is null) return;
        var now = DateTime.UtcNow;
        var sequence = Interlocked.Increment(ref _eventCounter);
        var ev = new Corev1Event
        {
            ApiVersion = "v1", Kind = "Event",
            Metadata = new V1ObjectMeta
            {
                Name = $"{involvedObject.Name}.{now.Ticks:x}{sequence:x4}", NamespaceProperty = ns,
            },
            InvolvedObject = involvedObject,
            Type = type, Reason = reason, Message = message,
            Source = new V1EventSource { Component = "kubelet", Host = _node.NodeName },
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
            ReportingComponent = "kubelet", ReportingInstance = _node.NodeName,
        };
        try
        {
            Store.Create(ResourceKind.Events, ns, ResourceKind.From(ev));
            _eventAges.Enqueue((now, ns, ev.Metadata.Name));
        }
        catch (ApiException)
        {
            // An event is best effort, as in kube.
        }
        // Events expire (kube-apiserver's --event-ttl), so a long-running cluster does not grow without bound.
        while (_eventAges.TryPeek(out var oldest) && now - oldest.Created > _eventTimeToLive && _eventAges.TryDequeue(out oldest))
            Store.Remove(ResourceKind.Events, oldest.Namespace, oldest.Name);
    }
}
