using System.Text;
using System.Text.RegularExpressions;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>A container's environment, or why it cannot be built yet (CreateContainerConfigError).</summary>
public sealed record EnvironmentResult(IReadOnlyDictionary<string, string>? Variables, string? Error);

/// <summary>Builds a container's environment as kubelet does: defaults, then envFrom, then env with $(VAR) expansion.</summary>
public static partial class ContainerEnvironment
{
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <param name="imageEnv">The image config's Env, which comes before the container's; null for a host "image".</param>
    public static EnvironmentResult Resolve(V1Pod pod, V1Container container, IPodHost host, long? runAsUser,
        IReadOnlyDictionary<string, string>? imageEnv = null)
    {
        var ns = pod.Metadata?.NamespaceProperty ?? "default";
        // The host "image" contributes what an image config would: PATH and HOME; kubelet adds HOSTNAME. A real image's
        // Env comes first; PATH and HOME are the runtime's defaults when it sets neither.
        var env = new Dictionary<string, string> { ["PATH"] = DefaultPath };
        foreach (var (key, value) in imageEnv ?? new Dictionary<string, string>()) env[key] = value;
        env["HOSTNAME"] = pod.Metadata?.Name ?? "";
        env.TryAdd("HOME", runAsUser is null or 0 ? "/root" : "/");

        foreach (var source in container.EnvFrom ?? [])
        {
            var prefix = source.Prefix ?? "";
            if (source.SecretRef is { } secretRef)
            {
                var secret = host.GetSecret(ns, secretRef.Name);
                if (secret is null)
                {
                    if (secretRef.Optional == true) continue;
                    return Failure($"secret \"{secretRef.Name}\" not found");
                }
                foreach (var (key, value) in SecretValues(secret)) AddIfValidName(env, prefix + key, value);
            }
            if (source.ConfigMapRef is { } configMapRef)
            {
                var configMap = host.GetConfigMap(ns, configMapRef.Name);
                if (configMap is null)
                {
                    if (configMapRef.Optional == true) continue;
                    return Failure($"configmap \"{configMapRef.Name}\" not found");
                }
                foreach (var (key, value) in configMap.Data ?? new Dictionary<string, string>()) AddIfValidName(env, prefix + key, value);
            }
        }

        foreach (var variable in container.Env ?? [])
        {
            if (string.IsNullOrEmpty(variable.Name)) continue;
            if (variable.ValueFrom is null)
            {
                env[variable.Name] = Expand(variable.Value ?? "", env);
                continue;
            }
            var (value, error) = ValueFrom(pod, container, variable.ValueFrom, host, ns);
            if (error is not null) return Failure(error);
            if (value is not null) env[variable.Name] = value;
        }
        return new EnvironmentResult(env, null);
    }

    private static EnvironmentResult Failure(string message) => new(null, message);

    private static void AddIfValidName(Dictionary<string, string> env, string name, string value)
    {
        if (EnvNamePattern().IsMatch(name)) env[name] = value;
    }

    public static IEnumerable<KeyValuePair<string, string>> SecretValues(V1Secret secret)
    {
        foreach (var (key, value) in secret.Data ?? new Dictionary<string, byte[]>())
        {
            yield return new(key, Encoding.UTF8.GetString(value));
        }
        foreach (var (key, value) in secret.StringData ?? new Dictionary<string, string>())
        {
            if (secret.Data?.ContainsKey(key) != true) yield return new(key, value);
        }
    }

    private static (string? Value, string? Error) ValueFrom(V1Pod pod, V1Container container, V1EnvVarSource source, IPodHost host, string ns)
    {
        if (source.SecretKeyRef is { } secretKey)
        {
            var secret = host.GetSecret(ns, secretKey.Name);
            if (secret is null) return secretKey.Optional == true ? (null, null) : (null, $"secret \"{secretKey.Name}\" not found");
            var values = SecretValues(secret).ToDictionary();
            if (values.TryGetValue(secretKey.Key, out var value)) return (value, null);
            return secretKey.Optional == true ? (null, null) : (null, $"couldn't find key {secretKey.Key} in Secret {ns}/{secretKey.Name}");
        }
        if (source.ConfigMapKeyRef is { } configKey)
        {
            var configMap = host.GetConfigMap(ns, configKey.Name);
            if (configMap is null) return configKey.Optional == true ? (null, null) : (null, $"configmap \"{configKey.Name}\" not found");
            if (configMap.Data?.TryGetValue(configKey.Key, out var value) == true) return (value, null);
            return configKey.Optional == true ? (null, null) : (null, $"couldn't find key {configKey.Key} in ConfigMap {ns}/{configKey.Name}");
        }
        if (source.FieldRef is { } fieldRef)
        {
            var value = FieldValue(pod, fieldRef.FieldPath);
            return value is null ? (null, $"unsupported fieldPath: {fieldRef.FieldPath}") : (value, null);
        }
        if (source.ResourceFieldRef is { } resourceRef) return (ResourceValue(container, resourceRef), null);
        return (null, null);
    }

    /// <summary>The downward API fields a pod may read.</summary>
    public static string? FieldValue(V1Pod pod, string fieldPath)
    {
        var labelOrAnnotation = LabelPathPattern().Match(fieldPath);
        if (labelOrAnnotation.Success)
        {
            var map = labelOrAnnotation.Groups[1].Value == "labels" ? pod.Metadata?.Labels : pod.Metadata?.Annotations;
            return map?.TryGetValue(labelOrAnnotation.Groups[2].Value, out var value) == true ? value : "";
        }
        return fieldPath switch
        {
            "metadata.name" => pod.Metadata?.Name ?? "",
            "metadata.namespace" => pod.Metadata?.NamespaceProperty ?? "default",
            "metadata.uid" => pod.Metadata?.Uid ?? "",
            "metadata.labels" => string.Join("\n", (pod.Metadata?.Labels ?? new Dictionary<string, string>()).Select(pair => $"{pair.Key}=\"{pair.Value}\"")),
            "metadata.annotations" => string.Join("\n", (pod.Metadata?.Annotations ?? new Dictionary<string, string>()).Select(pair => $"{pair.Key}=\"{pair.Value}\"")),
            "spec.nodeName" => pod.Spec?.NodeName ?? "",
            "spec.serviceAccountName" => pod.Spec?.ServiceAccountName ?? "default",
            "status.hostIP" or "status.podIP" or "status.hostIPs" or "status.podIPs" => "127.0.0.1",
            _ => null,
        };
    }

    private static string ResourceValue(V1Container container, V1ResourceFieldSelector selector)
    {
        var parts = selector.Resource.Split('.', 2);
        if (parts.Length != 2) return "0";
        var map = parts[0] == "limits" ? container.Resources?.Limits : container.Resources?.Requests;
        if (map is null || !map.TryGetValue(parts[1], out var quantity)) return "0";
        try
        {
            var divisor = selector.Divisor?.ToDecimal() is { } d && d > 0 ? d : 1m;
            return Math.Ceiling(quantity.ToDecimal() / divisor).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is FormatException or OverflowException or ArgumentException)
        {
            return "0";
        }
    }

    /// <summary>Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, anything else stays as written.</summary>
    public static string Expand(string input, IReadOnlyDictionary<string, string> env)
    {
        if (!input.Contains('$')) return input;
        var result = new StringBuilder();
        for (var index = 0; index < input.Length; index++)
        {
            if (input[index] != '$' || index + 1 >= input.Length)
            {
                result.Append(input[index]);
                continue;
            }
            var next = input[index + 1];
            if (next == '$')
            {
                result.Append('$');
                index++;
            }
            else if (next == '(' && input.IndexOf(')', index + 2) is var close and > 0)
            {
                var name = input[(index + 2)..close];
                result.Append(env.TryGetValue(name, out var value) ? value : input[index..(close + 1)]);
                index = close;
            }
            else
            {
                result.Append('$');
            }
        }
        return result.ToString();
    }

    [GeneratedRegex(@"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    private static partial Regex EnvNamePattern();

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['(.+)'\]$")]
    private static partial Regex LabelPathPattern();
}
