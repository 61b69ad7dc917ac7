using System.Text.Json.Nodes;

namespace Scheduler.LocalCluster.Store;

/// <summary>The three patch formats of kube-apiserver, over JSON trees. Pure; throws FormatException on a bad patch.</summary>
public static class Patches
{
    // Lists kube merges by a key in strategic merge patches; every other list is replaced whole.
    private static readonly Dictionary<string, string> StrategicMergeKeys = new()
    {
        ["containers"] = "name", ["initContainers"] = "name", ["ephemeralContainers"] = "name", ["volumes"] = "name",
        ["env"] = "name", ["imagePullSecrets"] = "name", ["volumeMounts"] = "mountPath", ["ports"] = "containerPort",
        ["ownerReferences"] = "uid",
    };

    /// <summary>RFC 7386 JSON merge patch: objects merge, null removes, anything else replaces.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch) => Merge(target, patch, strategic: false);

    /// <summary>
    /// Strategic merge patch, as far as a runner and kubectl apply need: a merge patch whose directives
    /// (<c>$patch</c>, <c>$setElementOrder/…</c>, <c>$retainKeys</c>) are honoured or ignored, and whose known
    /// keyed lists (containers, volumes, env, …) merge element by element.
    /// </summary>
    public static JsonNode? StrategicMergePatch(JsonNode? target, JsonNode? patch) => Merge(target, patch, strategic: true);

    private static JsonNode? Merge(JsonNode? target, JsonNode? patch, bool strategic)
    {
        if (patch is not JsonObject patchObject) return patch?.DeepClone();
        if (strategic && JsonText.Str(patchObject["$patch"]) == "replace")
        {
            var replaced = patchObject.DeepClone().AsObject();
            replaced.Remove("$patch");
            return replaced;
        }
        var result = target is JsonObject t ? t.DeepClone().AsObject() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (strategic && key.StartsWith('$')) continue;
            if (value is null) { result.Remove(key); continue; }
            if (strategic && value is JsonArray patchList && StrategicMergeKeys.TryGetValue(key, out var mergeKey)
                && result[key] is JsonArray targetList && patchList.All(e => e is JsonObject o && o[mergeKey] is not null))
            {
                result[key] = MergeList(targetList, patchList, mergeKey);
                continue;
            }
            result[key] = Merge(result[key], value, strategic);
        }
        return result;
    }

    private static JsonArray MergeList(JsonArray target, JsonArray patch, string mergeKey)
    {
        var merged = target.Select(e => e?.DeepClone()).ToList();
        foreach (var element in patch.Cast<JsonObject>())
        {
            var key = element[mergeKey]!.ToJsonString();
            var index = merged.FindIndex(e => e is JsonObject o && o[mergeKey]?.ToJsonString() == key);
            if (JsonText.Str(element["$patch"]) == "delete")
            {
                if (index >= 0) merged.RemoveAt(index);
                continue;
            }
            if (index >= 0) merged[index] = Merge(merged[index], element, strategic: true);
            else merged.Add(Merge(null, element, strategic: true));
        }
        return new JsonArray(merged.ToArray());
    }

    /// <summary>RFC 6902 JSON patch: add, remove, replace, move, copy, test.</summary>
    public static JsonNode? JsonPatch(JsonNode? target, JsonArray operations)
    {
        var root = target?.DeepClone();
        foreach (var opNode in operations)
        {
            if (opNode is not JsonObject op) throw new FormatException("a JSON patch operation must be an object");
            var kind = JsonText.Str(op["op"]) ?? throw new FormatException("missing 'op' in JSON patch operation");
            var path = JsonText.Str(op["path"]) ?? throw new FormatException("missing 'path' in JSON patch operation");
            switch (kind)
            {
                case "add": root = Add(root, path, Value(op)); break;
                case "remove": root = Remove(root, path, out _); break;
                case "replace":
                    root = Remove(root, path, out _);
                    root = Add(root, path, Value(op));
                    break;
                case "move":
                {
                    var from = JsonText.Str(op["from"]) ?? throw new FormatException("missing 'from' in move operation");
                    root = Remove(root, from, out var moved);
                    root = Add(root, path, moved);
                    break;
                }
                case "copy":
                {
                    var from = JsonText.Str(op["from"]) ?? throw new FormatException("missing 'from' in copy operation");
                    root = Add(root, path, Find(root, from)?.DeepClone());
                    break;
                }
                case "test":
                    if (!JsonNode.DeepEquals(Find(root, path), op["value"]))
                        throw new FormatException($"testing value {path} failed");
                    break;
                default: throw new FormatException($"Unexpected kind: {kind}");
            }
        }
        return root;
    }

    private static JsonNode? Value(JsonObject op) =>
        op.ContainsKey("value") ? op["value"]?.DeepClone() : throw new FormatException("missing 'value' in JSON patch operation");

    private static string[] Pointer(string path)
    {
        if (path.Length == 0) return [];
        if (path[0] != '/') throw new FormatException($"JSON pointer must start with '/': {path}");
        return path[1..].Split('/').Select(p => p.Replace("~1", "/").Replace("~0", "~")).ToArray();
    }

    private static JsonNode? Find(JsonNode? root, string path)
    {
        var node = root;
        foreach (var part in Pointer(path))
        {
            node = node switch
            {
                JsonObject o => o.TryGetPropertyValue(part, out var child) ? child : throw Missing(path),
                JsonArray a when int.TryParse(part, out var i) && i >= 0 && i < a.Count => a[i],
                _ => throw Missing(path),
            };
        }
        return node;
    }

    private static JsonNode? Add(JsonNode? root, string path, JsonNode? value)
    {
        var parts = Pointer(path);
        if (parts.Length == 0) return value;
        var parent = parts.Length == 1 ? root : Find(root, "/" + string.Join('/', parts[..^1].Select(Escape)));
        var last = parts[^1];
        switch (parent)
        {
            case JsonObject o: o[last] = value; break;
            case JsonArray a when last == "-": a.Add(value); break;
            case JsonArray a when int.TryParse(last, out var i) && i >= 0 && i <= a.Count: a.Insert(i, value); break;
            default: throw Missing(path);
        }
        return root;
    }

    private static JsonNode? Remove(JsonNode? root, string path, out JsonNode? removed)
    {
        var parts = Pointer(path);
        if (parts.Length == 0) throw new FormatException("cannot remove the document root");
        var parent = parts.Length == 1 ? root : Find(root, "/" + string.Join('/', parts[..^1].Select(Escape)));
        var last = parts[^1];
        switch (parent)
        {
            case JsonObject o when o.TryGetPropertyValue(last, out var child):
                removed = child;
                o.Remove(last);
                break;
            case JsonArray a when int.TryParse(last, out var i) && i >= 0 && i < a.Count:
                removed = a[i];
                a.RemoveAt(i);
                break;
            default: throw Missing(path);
        }
        removed = removed?.DeepClone();
        return root;
    }

    private static string Escape(string part) => part.Replace("~", "~0").Replace("/", "~1");

    private static FormatException Missing(string path) => new($"doc is missing path: \"{path}\": missing value");
}
