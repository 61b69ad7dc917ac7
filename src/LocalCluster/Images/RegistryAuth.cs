using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s.Models;

namespace Scheduler.LocalCluster.Images;

/// <summary>
/// The credentials of a pod's <c>imagePullSecrets</c> as one containers-auth.json document (the format skopeo's
/// <c>--src-authfile</c> reads, which is dockerconfigjson's). Pure.
/// </summary>
public static class RegistryAuth
{
    /// <summary>
    /// Merges the <c>auths</c> of every <c>kubernetes.io/dockerconfigjson</c> (<c>.dockerconfigjson</c>) and legacy
    /// <c>kubernetes.io/dockercfg</c> (<c>.dockercfg</c>) secret; the first secret naming a registry wins, as kubelet tries
    /// them in order. Null when no secret holds credentials. Malformed secrets are skipped, never thrown on.
    /// </summary>
    public static string? AuthFile(IEnumerable<V1Secret> secrets)
    {
        var auths = new JsonObject();
        foreach (var secret in secrets)
        {
            foreach (var (registry, entry) in Entries(secret))
            {
                if (!auths.ContainsKey(registry)) auths[registry] = entry;
            }
        }
        return auths.Count == 0 ? null : new JsonObject { ["auths"] = auths }.ToJsonString();
    }

    private static IEnumerable<(string Registry, JsonNode Entry)> Entries(V1Secret secret)
    {
        var (key, nested) = secret.Data?.ContainsKey(".dockerconfigjson") == true ? (".dockerconfigjson", true)
            : secret.Data?.ContainsKey(".dockercfg") == true ? (".dockercfg", false)
            : (null, false);
        if (key is null) yield break;
        JsonObject? map;
        try
        {
            var root = JsonNode.Parse(Encoding.UTF8.GetString(secret.Data![key])) as JsonObject;
            map = nested ? root?["auths"] as JsonObject : root;
        }
        catch (JsonException)
        {
            yield break;
        }
        if (map is null) yield break;
        foreach (var (registry, entry) in map)
        {
            if (entry is JsonObject credentials && registry.Length > 0) yield return (registry, credentials.DeepClone());
        }
    }
}
