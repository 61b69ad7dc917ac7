using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

// Replacing and patching objects.
internal sealed partial class Cluster
{
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
}
