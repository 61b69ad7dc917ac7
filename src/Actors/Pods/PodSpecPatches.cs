// The three pod_spec patch types (merge, json, strategic with Kubernetes' merge keys) and GitLab Runner's rules on what
// may not be patched: one algorithm family, kept together with its error texts.
using System.Globalization;
using System.Text.Json.Nodes;
using Scheduler.Messages.Settings;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Actors.Pods;

/// <summary>
/// <c>[[runners.kubernetes.pod_spec]]</c> patches over the generated PodSpec as a JSON tree, in configured order, with the
/// three patch types GitLab Runner offers: <c>strategic</c> (Kubernetes strategic merge patch with PodSpec's patch
/// strategies), <c>merge</c> (RFC 7386) and <c>json</c> (RFC 6902). A patch is JSON or YAML text. Pure: no I/O.
/// </summary>
public static class PodSpecPatches
{
    /// <summary>Lists that a strategic merge patch merges element by element, by the key that names an element
    /// (the <c>patchMergeKey</c> of PodSpec, Container and EphemeralContainer); every other list is replaced whole.</summary>
    public static readonly IReadOnlyDictionary<string, string> StrategicMergeKeys = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["containers"] = "name",
        ["initContainers"] = "name",
        ["ephemeralContainers"] = "name",
        ["volumes"] = "name",
        ["imagePullSecrets"] = "name",
        ["hostAliases"] = "ip",
        ["topologySpreadConstraints"] = "topologyKey",
        ["resourceClaims"] = "name",
        ["schedulingGates"] = "name",
        ["env"] = "name",
        ["volumeMounts"] = "mountPath",
        ["volumeDevices"] = "devicePath",
        ["ports"] = "containerPort",
    };

    private const string Directive = "$patch";

    /// <summary>Why the patch text cannot be used (not JSON/YAML, or the wrong shape for its type), or null.</summary>
    public static string? ParseError(PodSpecPatchSettings patch)
    {
        try
        {
            var node = ParseDocument(patch.Patch);
            return patch.PatchType switch
            {
                PodSpecPatchSettings.Json when node is not JsonArray =>
                    $"pod_spec \"{patch.Name}\": a json patch must be a list of operations ([{{\"op\": ..., \"path\": ...}}])",
                PodSpecPatchSettings.Strategic or PodSpecPatchSettings.Merge when node is not JsonObject =>
                    $"pod_spec \"{patch.Name}\": a {patch.PatchType} patch must be an object of PodSpec fields",
                _ => null,
            };
        }
        catch (FormatException error)
        {
            return $"pod_spec \"{patch.Name}\": {error.Message}";
        }
    }

    /// <summary>Applies <paramref name="patches"/> in order. Throws <see cref="FormatException"/> naming the patch that
    /// failed and why.</summary>
    public static JsonObject Apply(JsonObject spec, IReadOnlyList<PodSpecPatchSettings> patches)
    {
        JsonNode? current = spec.DeepClone();
        foreach (var patch in patches)
        {
            try
            {
                var document = ParseDocument(patch.Patch);
                current = patch.PatchType switch
                {
                    PodSpecPatchSettings.Strategic => StrategicMerge(current, document),
                    PodSpecPatchSettings.Merge => MergePatch(current, document),
                    PodSpecPatchSettings.Json => JsonPatch(current, document as JsonArray
                                                                    ?? throw new FormatException("a json patch must be a list of operations")),
                    _ => throw new FormatException($"unsupported patch_type \"{patch.PatchType}\""),
                };
            }
            catch (FormatException error)
            {
                throw new FormatException($"pod_spec patch \"{patch.Name}\" ({patch.PatchType}) failed: {error.Message}", error);
            }

            if (current is not JsonObject)
            {
                throw new FormatException($"pod_spec patch \"{patch.Name}\" ({patch.PatchType}) failed: the result is not a PodSpec object");
            }
        }

        return (JsonObject)current!;
    }

    /// <summary>JSON or YAML text as a JSON tree (YAML 1.2 core schema for plain scalars; quoted scalars are strings).</summary>
    public static JsonNode? ParseDocument(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException error)
        {
            throw new FormatException($"not valid JSON or YAML: {error.Message}", error);
        }

        if (stream.Documents.Count != 1)
        {
            throw new FormatException(stream.Documents.Count == 0 ? "the patch is empty" : "the patch holds more than one YAML document");
        }

        return ToJson(stream.Documents[0].RootNode);
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(child => KeyValuePair.Create(
            child.Key is YamlScalarNode { Value: { } key } ? key : throw new FormatException("a mapping key must be a plain value"),
            ToJson(child.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new FormatException($"unsupported YAML node {node.NodeType}"),
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
        {
            return JsonValue.Create(value);
        }

        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (value.Any(char.IsDigit) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                                   && double.IsFinite(number))
        {
            return JsonValue.Create(number);
        }

        return JsonValue.Create(value);
    }

    /// <summary>RFC 7386: objects merge recursively, <c>null</c> removes a field, anything else replaces.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject t ? t.DeepClone().AsObject() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = MergePatch(result[key], value);
            }
        }

        return result;
    }

    /// <summary>Kubernetes' strategic merge patch over a PodSpec: objects merge, <c>null</c> removes a field, keyed lists
    /// (<see cref="StrategicMergeKeys"/>) merge element by element, other lists are replaced. Directives:
    /// <c>$patch: replace</c> (an object, or a list element: replace the whole object or list), <c>$patch: delete</c>
    /// (an object field, or a keyed list element: remove it); other <c>$</c> directives are ignored.</summary>
    public static JsonNode? StrategicMerge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        switch (DirectiveOf(patchObject))
        {
            case "replace":
                return WithoutDirectives(patchObject);
            case "delete":
                return null;
            case null or "merge":
                break;
            case var other:
                throw new FormatException($"unknown $patch directive \"{other}\"");
        }

        var result = target is JsonObject t ? t.DeepClone().AsObject() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (key.StartsWith('$'))
            {
                continue;
            }

            if (value is null || (value is JsonObject o && DirectiveOf(o) == "delete"))
            {
                result.Remove(key);
                continue;
            }

            if (value is JsonArray list)
            {
                result[key] = StrategicMergeKeys.TryGetValue(key, out var mergeKey)
                    ? MergeList(key, result[key] as JsonArray, list, mergeKey)
                    : WithoutDirectives(list);
                continue;
            }

            result[key] = StrategicMerge(result[key], value);
        }

        return result;
    }

    private static JsonArray MergeList(string field, JsonArray? target, JsonArray patch, string mergeKey)
    {
        var elements = patch.ToList();
        var replace = elements.RemoveAll(e => e is JsonObject o && o.Count == 1 && DirectiveOf(o) == "replace") > 0;
        var merged = replace || target is null ? [] : target.Select(e => e?.DeepClone()).ToList();
        foreach (var element in elements)
        {
            if (element is not JsonObject item || item[mergeKey] is not { } keyNode)
            {
                throw new FormatException($"every element of {field} needs its merge key \"{mergeKey}\"");
            }

            var key = keyNode.ToJsonString();
            var index = merged.FindIndex(e => e is JsonObject existing && existing[mergeKey]?.ToJsonString() == key);
            if (DirectiveOf(item) == "delete")
            {
                if (index >= 0)
                {
                    merged.RemoveAt(index);
                }

                continue;
            }

            if (index >= 0)
            {
                merged[index] = StrategicMerge(merged[index], item);
            }
            else
            {
                merged.Add(StrategicMerge(null, item));
            }
        }

        return new JsonArray(merged.ToArray());
    }

    private static string? DirectiveOf(JsonObject value) =>
        value[Directive] is JsonValue directive && directive.TryGetValue<string>(out var text) ? text : null;

    private static JsonNode WithoutDirectives(JsonNode node) => node switch
    {
        JsonObject o => new JsonObject(o.Where(p => !p.Key.StartsWith('$'))
            .Select(p => KeyValuePair.Create(p.Key, p.Value is null ? null : WithoutDirectives(p.Value)))),
        JsonArray a => new JsonArray(a.Select(e => e is null ? null : WithoutDirectives(e)).ToArray()),
        _ => node.DeepClone(),
    };

    /// <summary>RFC 6902 JSON patch: add, remove, replace, move, copy, test.</summary>
    public static JsonNode? JsonPatch(JsonNode? target, JsonArray operations)
    {
        var root = target?.DeepClone();
        var number = 0;
        foreach (var operationNode in operations)
        {
            number++;
            if (operationNode is not JsonObject operation)
            {
                throw new FormatException($"operation {number} is not an object");
            }

            var op = Text(operation, "op", number);
            var path = Text(operation, "path", number);
            switch (op)
            {
                case "add":
                    root = Add(root, path, ValueOf(operation, number));
                    break;
                case "remove":
                    root = Remove(root, path, out _);
                    break;
                case "replace":
                    _ = Find(root, path);
                    root = Remove(root, path, out _);
                    root = Add(root, path, ValueOf(operation, number));
                    break;
                case "move":
                    root = Remove(root, Text(operation, "from", number), out var moved);
                    root = Add(root, path, moved);
                    break;
                case "copy":
                    root = Add(root, path, Find(root, Text(operation, "from", number))?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Find(root, path), operation["value"]))
                    {
                        throw new FormatException($"operation {number}: test of {path} failed");
                    }

                    break;
                default:
                    throw new FormatException($"operation {number}: unknown op \"{op}\"");
            }
        }

        return root;
    }

    private static string Text(JsonObject operation, string field, int number) =>
        operation[field] is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : throw new FormatException($"operation {number} has no \"{field}\"");

    private static JsonNode? ValueOf(JsonObject operation, int number) =>
        operation.TryGetPropertyValue("value", out var value)
            ? value?.DeepClone()
            : throw new FormatException($"operation {number} has no \"value\"");

    private static string[] Pointer(string path)
    {
        if (path.Length == 0)
        {
            return [];
        }

        if (path[0] != '/')
        {
            throw new FormatException($"path \"{path}\" must start with /");
        }

        return path[1..].Split('/').Select(part => part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
    }

    private static JsonNode? Find(JsonNode? root, string path)
    {
        var node = root;
        foreach (var part in Pointer(path))
        {
            node = node switch
            {
                JsonObject o when o.TryGetPropertyValue(part, out var child) => child,
                JsonArray a when int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => throw new FormatException($"path \"{path}\" does not exist"),
            };
        }

        return node;
    }

    private static (JsonNode? Parent, string Last) Parent(JsonNode? root, string path)
    {
        var parts = Pointer(path);
        var parentPath = string.Concat(parts[..^1].Select(p => "/" + p.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal)));
        return (Find(root, parentPath), parts[^1]);
    }

    private static JsonNode? Add(JsonNode? root, string path, JsonNode? value)
    {
        if (path.Length == 0)
        {
            return value;
        }

        var (parent, last) = Parent(root, path);
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new FormatException($"cannot add at \"{path}\": its parent does not exist");
        }

        return root;
    }

    private static JsonNode? Remove(JsonNode? root, string path, out JsonNode? removed)
    {
        if (path.Length == 0)
        {
            throw new FormatException("cannot remove the whole PodSpec");
        }

        var (parent, last) = Parent(root, path);
        switch (parent)
        {
            case JsonObject o when o.TryGetPropertyValue(last, out var child):
                o.Remove(last);
                removed = child;
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                removed = a[i];
                a.RemoveAt(i);
                break;
            default:
                throw new FormatException($"path \"{path}\" does not exist");
        }

        return root;
    }
}
