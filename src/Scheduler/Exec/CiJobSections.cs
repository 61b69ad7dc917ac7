using YamlDotNet.RepresentationModel;

namespace Scheduler.Exec;

/// <summary>Reads the structured job keywords of a .gitlab-ci.yml: image, services, cache and artifacts.</summary>
internal static class CiJobSections
{
    internal static CiImage? Image(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                return new CiImage(scalar.Value ?? "", []);
            case YamlMappingNode mapping:
                string? name = null;
                var user = "";
                IReadOnlyList<string> entrypoint = [];
                foreach (var (k, value) in mapping.Children)
                {
                    var field = (k as YamlScalarNode)?.Value ?? "";
                    switch (field)
                    {
                        case "name": name = CiYamlValues.Scalar(value, $"{key}:name", diagnostics); break;
                        case "entrypoint": entrypoint = CiYamlValues.StringList(value, $"{key}:entrypoint", diagnostics); break;
                        case "kubernetes": user = KubernetesUser(value, $"{key}:kubernetes", diagnostics); break;
                        case "pull_policy" or "docker": break;
                        default: diagnostics.Warning(k, $"{key}:{field}", "unknown image key, ignored"); break;
                    }
                }
                if (string.IsNullOrEmpty(name))
                {
                    diagnostics.Error(node, key, "an image needs a name");
                    return null;
                }
                return new CiImage(name, entrypoint) { KubernetesUser = user };
            default:
                diagnostics.Error(node, key, "an image must be a name or a mapping with a name");
                return null;
        }
    }

    /// <summary><c>kubernetes: {user: 1001}</c> or <c>{user: "1001:1001"}</c>; the runner checks the value when it builds the pod.</summary>
    private static string KubernetesUser(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, key, "must be a mapping (user)");
            return "";
        }

        var user = "";
        foreach (var (k, value) in mapping.Children)
        {
            var field = (k as YamlScalarNode)?.Value ?? "";
            if (field == "user")
            {
                user = CiYamlValues.Scalar(value, $"{key}:user", diagnostics) ?? "";
            }
            else
            {
                diagnostics.Warning(k, $"{key}:{field}", "unknown kubernetes option, ignored (only user is supported)");
            }
        }

        return user;
    }

    internal static IReadOnlyList<CiService> Services(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        if (node is not YamlSequenceNode sequence)
        {
            diagnostics.Error(node, key, "services must be a list");
            return [];
        }

        var services = new List<CiService>();
        foreach (var item in sequence.Children)
        {
            switch (item)
            {
                case YamlScalarNode scalar:
                    services.Add(new CiService(scalar.Value ?? "", null, [], []));
                    break;
                case YamlMappingNode mapping:
                    string? name = null, alias = null;
                    var user = "";
                    IReadOnlyList<string> entrypoint = [], command = [];
                    foreach (var (k, value) in mapping.Children)
                    {
                        var field = (k as YamlScalarNode)?.Value ?? "";
                        switch (field)
                        {
                            case "name": name = CiYamlValues.Scalar(value, $"{key}:name", diagnostics); break;
                            case "alias": alias = CiYamlValues.Scalar(value, $"{key}:alias", diagnostics); break;
                            case "entrypoint": entrypoint = CiYamlValues.StringList(value, $"{key}:entrypoint", diagnostics); break;
                            case "command": command = CiYamlValues.StringList(value, $"{key}:command", diagnostics); break;
                            case "kubernetes": user = KubernetesUser(value, $"{key}:kubernetes", diagnostics); break;
                            case "variables" or "pull_policy" or "docker":
                                diagnostics.Warning(k, $"{key}:{field}", "not supported by exec, ignored");
                                break;
                            default: diagnostics.Warning(k, $"{key}:{field}", "unknown service key, ignored"); break;
                        }
                    }
                    if (string.IsNullOrEmpty(name))
                    {
                        diagnostics.Error(item, key, "a service needs a name");
                        break;
                    }
                    services.Add(new CiService(name, alias, entrypoint, command) { KubernetesUser = user });
                    break;
                default:
                    diagnostics.Error(item, key, "a service must be a name or a mapping with a name");
                    break;
            }
        }
        return services;
    }

    internal static IReadOnlyList<CiCache> Caches(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                return Cache(mapping, key, diagnostics) is { } single ? [single] : [];
            case YamlSequenceNode sequence:
                var caches = new List<CiCache>();
                foreach (var item in sequence.Children)
                {
                    if (item is not YamlMappingNode itemMapping)
                    {
                        diagnostics.Error(item, key, "each cache must be a mapping (key, paths, policy, …)");
                    }
                    else if (Cache(itemMapping, key, diagnostics) is { } listed)
                    {
                        caches.Add(listed);
                    }
                }
                return caches;
            default:
                diagnostics.Error(node, key, "cache must be a mapping or a list of mappings");
                return [];
        }
    }

    internal static CiCache? Cache(YamlMappingNode mapping, string key, CiDiagnosticList diagnostics)
    {
        string cacheKey = "default", policy = "pull-push", when = "on_success";
        IReadOnlyList<string> paths = [];
        var untracked = false;
        foreach (var (k, value) in mapping.Children)
        {
            var field = (k as YamlScalarNode)?.Value ?? "";
            var path = $"{key}:{field}";
            switch (field)
            {
                case "key":
                    if (value is YamlMappingNode)
                    {
                        diagnostics.Error(value, path, "cache:key:files is not supported by exec: give the key as a string");
                    }
                    else
                    {
                        cacheKey = CiYamlValues.Scalar(value, path, diagnostics) ?? cacheKey;
                    }
                    break;
                case "paths": paths = CiYamlValues.StringList(value, path, diagnostics); break;
                case "policy": policy = CiYamlValues.OneOf(value, path, diagnostics, "pull-push", "pull", "push"); break;
                case "when": when = CiYamlValues.OneOf(value, path, diagnostics, "on_success", "on_failure", "always"); break;
                case "untracked": untracked = CiYamlValues.Bool(value, path, diagnostics); break;
                case "fallback_keys" or "unprotect":
                    diagnostics.Warning(k, path, "not supported by exec, ignored");
                    break;
                default: diagnostics.Warning(k, path, "unknown cache key, ignored"); break;
            }
        }

        if (cacheKey.Length == 0 || cacheKey.Contains('/') || cacheKey is "." or "..")
        {
            diagnostics.Error(mapping, $"{key}:key", $"a cache key must be non-empty, without '/', and not '.' or '..', got \"{cacheKey}\"");
            return null;
        }
        return new CiCache(cacheKey, paths, policy, when, untracked);
    }

    internal static CiArtifacts? Artifacts(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, key, "artifacts must be a mapping (paths, exclude, when, …)");
            return null;
        }

        IReadOnlyList<string> paths = [], exclude = [];
        string name = "artifacts", when = "on_success", expireIn = "";
        var untracked = false;
        foreach (var (k, value) in mapping.Children)
        {
            var field = (k as YamlScalarNode)?.Value ?? "";
            var path = $"{key}:{field}";
            switch (field)
            {
                case "paths": paths = CiYamlValues.StringList(value, path, diagnostics); break;
                case "exclude": exclude = CiYamlValues.StringList(value, path, diagnostics); break;
                case "name": name = CiYamlValues.Scalar(value, path, diagnostics) ?? name; break;
                case "when": when = CiYamlValues.OneOf(value, path, diagnostics, "on_success", "on_failure", "always"); break;
                case "expire_in": expireIn = CiYamlValues.Scalar(value, path, diagnostics) ?? ""; break;
                case "untracked": untracked = CiYamlValues.Bool(value, path, diagnostics); break;
                case "reports": diagnostics.Warning(k, path, "artifact reports are ignored by exec"); break;
                case "expose_as" or "public" or "access": break;
                default: diagnostics.Warning(k, path, "unknown artifacts key, ignored"); break;
            }
        }
        return new CiArtifacts(paths, exclude, name, when, expireIn, untracked);
    }
}
