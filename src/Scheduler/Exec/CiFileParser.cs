using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Exec;

/// <summary>
/// Reads a .gitlab-ci.yml into <see cref="CiFile"/>. Never throws: the file is user input, and every problem becomes a
/// diagnostic naming file, line, column and key. <c>include</c>, <c>extends</c> and <c>!reference</c> are refused: exec
/// runs one file as written. YAML anchors and merge keys (<c>&lt;&lt;: *x</c>) work.
/// </summary>
public static class CiFileParser
{
    /// <summary>Top-level keys that are not jobs.</summary>
    public static readonly IReadOnlySet<string> ReservedKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "default", "include", "stages", "types", "variables", "workflow", "image", "services", "cache",
        "before_script", "after_script", "spec",
    };

    private static readonly HashSet<string> DefaultKeys =
        ["image", "services", "before_script", "after_script", "cache", "artifacts", "timeout", "variables",
         "tags", "interruptible", "retry", "hooks", "id_tokens", "identity"];

    private static readonly HashSet<string> SupportedJobKeys =
        ["script", "before_script", "after_script", "image", "services", "variables", "cache", "artifacts", "timeout", "stage"];

    // Keys GitLab knows that only matter to the GitLab server's pipeline logic; exec runs the job regardless.
    private static readonly HashSet<string> IgnoredJobKeys =
        ["rules", "only", "except", "when", "allow_failure", "needs", "dependencies", "tags", "retry", "environment",
         "coverage", "interruptible", "resource_group", "parallel", "release", "secrets", "id_tokens", "inherit",
         "pages", "identity", "hooks", "manual_confirmation", "start_in", "dast_configuration", "publish", "run"];

    private static readonly string[] DefaultStages = [".pre", "build", "test", "deploy", ".post"];

    public static CiFileParseResult Parse(string yaml, string fileName)
    {
        var diagnostics = new Diagnostics(fileName);
        var root = Load(yaml, diagnostics);
        if (root is null)
        {
            return diagnostics.Result(null);
        }

        RejectReferenceTags(root, diagnostics);
        var defaults = new Defaults();
        var globalVariables = new List<CiVariable>();
        IReadOnlyList<string> stages = DefaultStages;
        var jobNodes = new List<(YamlScalarNode Key, YamlNode Value)>();

        foreach (var (keyNode, value) in root.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } scalarKey)
            {
                diagnostics.Error(keyNode, "(key)", "a top-level key must be a string");
                continue;
            }

            switch (key)
            {
                case "include":
                    diagnostics.Error(keyNode, key, "include is not supported by exec: exec runs one file as written");
                    break;
                case "stages" or "types":
                    stages = [".pre", .. StringList(value, key, diagnostics), ".post"];
                    break;
                case "variables":
                    globalVariables.AddRange(Variables(value, key, diagnostics));
                    break;
                case "default":
                    ReadDefaults(value, diagnostics, defaults);
                    break;
                case "image" or "services" or "before_script" or "after_script" or "cache":
                    // The deprecated global form; `default:` wins over it wherever both are written.
                    if (!defaults.SetByDefaultBlock.Contains(key))
                    {
                        ReadDefaultKey(key, value, diagnostics, defaults);
                    }
                    break;
                case "workflow" or "spec":
                    break;
                default:
                    if (!key.StartsWith('.'))
                    {
                        jobNodes.Add((scalarKey, value));
                    }
                    break;
            }
        }

        var jobs = new List<CiJob>();
        foreach (var (keyNode, value) in jobNodes)
        {
            if (ReadJob(keyNode, value, defaults, globalVariables, stages, diagnostics) is { } job)
            {
                jobs.Add(job);
            }
        }

        if (jobNodes.Count == 0 && diagnostics.Errors.Count == 0)
        {
            diagnostics.Error(root, "(file)", "the file defines no jobs");
        }

        return diagnostics.Result(new CiFile(stages, jobs));
    }

    private static YamlMappingNode? Load(string yaml, Diagnostics diagnostics)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new MergingParser(new Parser(new StringReader(yaml))));
        }
        catch (YamlException ex)
        {
            var reason = ex.InnerException is YamlException inner ? inner.Message : ex.Message;
            diagnostics.Error(ex.Start, "(yaml)", $"invalid YAML: {reason}");
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            diagnostics.Error(Mark.Empty, "(yaml)", $"invalid YAML: {ex.Message}");
            return null;
        }

        if (stream.Documents.Count == 0)
        {
            diagnostics.Error(Mark.Empty, "(file)", "the file is empty");
            return null;
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            diagnostics.Error(stream.Documents[0].RootNode, "(file)", "the file must be a mapping of keys to jobs");
            return null;
        }

        return root;
    }

    private static void RejectReferenceTags(YamlNode root, Diagnostics diagnostics)
    {
        var seen = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<(YamlNode Node, string Key)>();
        pending.Push((root, "(file)"));
        while (pending.Count > 0)
        {
            var (node, key) = pending.Pop();
            if (!seen.Add(node))
            {
                continue;
            }

            if (!node.Tag.IsEmpty && node.Tag.Value == "!reference")
            {
                diagnostics.Error(node, key, "!reference is not supported by exec: write the value out");
            }

            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (k, v) in mapping.Children)
                    {
                        pending.Push((v, k is YamlScalarNode { Value: { } name } ? name : key));
                    }
                    break;
                case YamlSequenceNode sequence:
                    foreach (var item in sequence.Children)
                    {
                        pending.Push((item, key));
                    }
                    break;
            }
        }
    }

    private static void ReadDefaults(YamlNode node, Diagnostics diagnostics, Defaults defaults)
    {
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, "default", "default must be a mapping");
            return;
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (key == "extends")
            {
                diagnostics.Error(keyNode, "default:extends", "extends is not supported by exec: write the job out in full");
            }
            else if (!DefaultKeys.Contains(key))
            {
                diagnostics.Warning(keyNode, $"default:{key}", "unknown key in default, ignored");
            }
            else if (key != "variables")
            {
                ReadDefaultKey(key, value, diagnostics, defaults);
                defaults.SetByDefaultBlock.Add(key);
            }
            else
            {
                diagnostics.Error(keyNode, "default:variables", "variables belong at the top level or in a job, not in default");
            }
        }
    }

    private static void ReadDefaultKey(string key, YamlNode value, Diagnostics diagnostics, Defaults defaults)
    {
        switch (key)
        {
            case "image": defaults.Image = Image(value, key, diagnostics); break;
            case "services": defaults.Services = Services(value, key, diagnostics); break;
            case "before_script": defaults.BeforeScript = Script(value, key, diagnostics); break;
            case "after_script": defaults.AfterScript = Script(value, key, diagnostics); break;
            case "cache": defaults.Cache = Caches(value, key, diagnostics); break;
            case "artifacts": defaults.Artifacts = Artifacts(value, key, diagnostics); break;
            case "timeout": defaults.TimeoutSeconds = Timeout(value, key, diagnostics); break;
        }
    }

    private static CiJob? ReadJob(
        YamlScalarNode keyNode, YamlNode node, Defaults defaults, IReadOnlyList<CiVariable> globalVariables,
        IReadOnlyList<string> stages, Diagnostics diagnostics)
    {
        var name = keyNode.Value ?? "";
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, name, "a job must be a mapping of keys (script, image, …)");
            return null;
        }

        var errorsBefore = diagnostics.Errors.Count;
        var job = new JobBuilder { Name = name };
        var sawScript = false;
        foreach (var (k, value) in mapping.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            var path = $"{name}:{key}";
            switch (key)
            {
                case "extends":
                    diagnostics.Error(k, path, "extends is not supported by exec: write the job out in full");
                    break;
                case "script": job.Script = Script(value, path, diagnostics); sawScript = true; break;
                case "before_script": job.BeforeScript = Script(value, path, diagnostics); break;
                case "after_script": job.AfterScript = Script(value, path, diagnostics); break;
                case "image": job.Image = Image(value, path, diagnostics); job.ImageSet = true; break;
                case "services": job.Services = Services(value, path, diagnostics); break;
                case "variables": job.Variables = Variables(value, path, diagnostics); break;
                case "cache": job.Cache = Caches(value, path, diagnostics); break;
                case "artifacts": job.Artifacts = Artifacts(value, path, diagnostics); job.ArtifactsSet = true; break;
                case "timeout": job.TimeoutSeconds = Timeout(value, path, diagnostics); break;
                case "stage":
                    job.Stage = Scalar(value, path, diagnostics) ?? "test";
                    if (!stages.Contains(job.Stage))
                    {
                        diagnostics.Error(value, path, $"stage \"{job.Stage}\" is not one of the file's stages ({string.Join(", ", stages)})");
                    }
                    break;
                default:
                    if (!IgnoredJobKeys.Contains(key) && !SupportedJobKeys.Contains(key))
                    {
                        diagnostics.Warning(k, path, "unknown job key, ignored");
                    }
                    break;
            }
        }

        if (!sawScript)
        {
            diagnostics.Error(keyNode, name, "the job has no script (jobs without one, such as trigger jobs, cannot run in exec)");
        }

        if (diagnostics.Errors.Count > errorsBefore)
        {
            return null;
        }

        return new CiJob(
            name,
            job.Stage,
            job.ImageSet ? job.Image : defaults.Image,
            job.Services ?? defaults.Services ?? [],
            [.. globalVariables, .. job.Variables ?? []],
            job.BeforeScript ?? defaults.BeforeScript ?? [],
            job.Script ?? [],
            job.AfterScript ?? defaults.AfterScript ?? [],
            job.Cache ?? defaults.Cache ?? [],
            job.ArtifactsSet ? job.Artifacts : defaults.Artifacts,
            job.TimeoutSeconds ?? defaults.TimeoutSeconds);
    }

    private static string? Scalar(YamlNode node, string key, Diagnostics diagnostics)
    {
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }

        diagnostics.Error(node, key, "must be a string");
        return null;
    }

    private static bool Bool(YamlNode node, string key, Diagnostics diagnostics)
    {
        var text = Scalar(node, key, diagnostics);
        switch (text)
        {
            case "true": return true;
            case "false": return false;
            case null: return false;
            default:
                diagnostics.Error(node, key, $"must be true or false, got \"{text}\"");
                return false;
        }
    }

    private static string OneOf(YamlNode node, string key, Diagnostics diagnostics, params string[] allowed)
    {
        var text = Scalar(node, key, diagnostics);
        if (text is not null && !allowed.Contains(text))
        {
            diagnostics.Error(node, key, $"must be one of {string.Join(", ", allowed)}, got \"{text}\"");
        }
        return text ?? allowed[0];
    }

    /// <summary>A string or a list of strings.</summary>
    private static IReadOnlyList<string> StringList(YamlNode node, string key, Diagnostics diagnostics)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                return [scalar.Value ?? ""];
            case YamlSequenceNode sequence:
                var items = new List<string>();
                foreach (var item in sequence.Children)
                {
                    if (Scalar(item, key, diagnostics) is { } value)
                    {
                        items.Add(value);
                    }
                }
                return items;
            default:
                diagnostics.Error(node, key, "must be a string or a list of strings");
                return [];
        }
    }

    /// <summary>A script: a string, or a list whose nested lists are flattened (what YAML anchors of lists produce).</summary>
    private static IReadOnlyList<string> Script(YamlNode node, string key, Diagnostics diagnostics)
    {
        var lines = new List<string>();
        AddScript(node, key, diagnostics, lines, depth: 0);
        return lines;
    }

    private static void AddScript(YamlNode node, string key, Diagnostics diagnostics, List<string> lines, int depth)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                lines.Add(scalar.Value ?? "");
                break;
            case YamlSequenceNode sequence when depth < 10:
                foreach (var item in sequence.Children)
                {
                    AddScript(item, key, diagnostics, lines, depth + 1);
                }
                break;
            default:
                diagnostics.Error(node, key, "a script must be a string or a list of strings");
                break;
        }
    }

    private static IReadOnlyList<CiVariable> Variables(YamlNode node, string key, Diagnostics diagnostics)
    {
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, key, "variables must be a mapping of names to values");
            return [];
        }

        var variables = new List<CiVariable>();
        foreach (var (k, value) in mapping.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            var path = $"{key}:{name}";
            if (name.Length == 0)
            {
                diagnostics.Error(k, key, "a variable name must be a non-empty string");
                continue;
            }

            switch (value)
            {
                case YamlScalarNode scalar:
                    variables.Add(new CiVariable(name, scalar.Value ?? ""));
                    break;
                case YamlMappingNode detailed when detailed.Children.TryGetValue(new YamlScalarNode("value"), out var inner):
                    if (Scalar(inner, $"{path}:value", diagnostics) is { } text)
                    {
                        variables.Add(new CiVariable(name, text));
                    }
                    break;
                default:
                    diagnostics.Error(value, path, "a variable must be a string, a number, or a mapping with a value");
                    break;
            }
        }
        return variables;
    }

    private static CiImage? Image(YamlNode node, string key, Diagnostics diagnostics)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                return new CiImage(scalar.Value ?? "", []);
            case YamlMappingNode mapping:
                string? name = null;
                IReadOnlyList<string> entrypoint = [];
                foreach (var (k, value) in mapping.Children)
                {
                    var field = (k as YamlScalarNode)?.Value ?? "";
                    switch (field)
                    {
                        case "name": name = Scalar(value, $"{key}:name", diagnostics); break;
                        case "entrypoint": entrypoint = StringList(value, $"{key}:entrypoint", diagnostics); break;
                        case "pull_policy" or "docker" or "kubernetes": break;
                        default: diagnostics.Warning(k, $"{key}:{field}", "unknown image key, ignored"); break;
                    }
                }
                if (string.IsNullOrEmpty(name))
                {
                    diagnostics.Error(node, key, "an image needs a name");
                    return null;
                }
                return new CiImage(name, entrypoint);
            default:
                diagnostics.Error(node, key, "an image must be a name or a mapping with a name");
                return null;
        }
    }

    private static IReadOnlyList<CiService> Services(YamlNode node, string key, Diagnostics diagnostics)
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
                    IReadOnlyList<string> entrypoint = [], command = [];
                    foreach (var (k, value) in mapping.Children)
                    {
                        var field = (k as YamlScalarNode)?.Value ?? "";
                        switch (field)
                        {
                            case "name": name = Scalar(value, $"{key}:name", diagnostics); break;
                            case "alias": alias = Scalar(value, $"{key}:alias", diagnostics); break;
                            case "entrypoint": entrypoint = StringList(value, $"{key}:entrypoint", diagnostics); break;
                            case "command": command = StringList(value, $"{key}:command", diagnostics); break;
                            case "variables" or "pull_policy" or "docker" or "kubernetes":
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
                    services.Add(new CiService(name, alias, entrypoint, command));
                    break;
                default:
                    diagnostics.Error(item, key, "a service must be a name or a mapping with a name");
                    break;
            }
        }
        return services;
    }

    private static IReadOnlyList<CiCache> Caches(YamlNode node, string key, Diagnostics diagnostics)
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

    private static CiCache? Cache(YamlMappingNode mapping, string key, Diagnostics diagnostics)
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
                        cacheKey = Scalar(value, path, diagnostics) ?? cacheKey;
                    }
                    break;
                case "paths": paths = StringList(value, path, diagnostics); break;
                case "policy": policy = OneOf(value, path, diagnostics, "pull-push", "pull", "push"); break;
                case "when": when = OneOf(value, path, diagnostics, "on_success", "on_failure", "always"); break;
                case "untracked": untracked = Bool(value, path, diagnostics); break;
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

    private static CiArtifacts? Artifacts(YamlNode node, string key, Diagnostics diagnostics)
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
                case "paths": paths = StringList(value, path, diagnostics); break;
                case "exclude": exclude = StringList(value, path, diagnostics); break;
                case "name": name = Scalar(value, path, diagnostics) ?? name; break;
                case "when": when = OneOf(value, path, diagnostics, "on_success", "on_failure", "always"); break;
                case "expire_in": expireIn = Scalar(value, path, diagnostics) ?? ""; break;
                case "untracked": untracked = Bool(value, path, diagnostics); break;
                case "reports": diagnostics.Warning(k, path, "artifact reports are ignored by exec"); break;
                case "expose_as" or "public" or "access": break;
                default: diagnostics.Warning(k, path, "unknown artifacts key, ignored"); break;
            }
        }
        return new CiArtifacts(paths, exclude, name, when, expireIn, untracked);
    }

    private static int? Timeout(YamlNode node, string key, Diagnostics diagnostics)
    {
        var text = Scalar(node, key, diagnostics);
        if (text is null)
        {
            return null;
        }

        if (DurationText.TryParseSeconds(text, out var seconds) && seconds > 0)
        {
            return seconds;
        }

        diagnostics.Error(node, key, $"\"{text}\" is not a duration (e.g. \"1h 30m\", \"90 minutes\", \"3600\")");
        return null;
    }

    private sealed class Defaults
    {
        public CiImage? Image { get; set; }
        public IReadOnlyList<CiService>? Services { get; set; }
        public IReadOnlyList<string>? BeforeScript { get; set; }
        public IReadOnlyList<string>? AfterScript { get; set; }
        public IReadOnlyList<CiCache>? Cache { get; set; }
        public CiArtifacts? Artifacts { get; set; }
        public int? TimeoutSeconds { get; set; }
        public HashSet<string> SetByDefaultBlock { get; } = [];
    }

    private sealed class JobBuilder
    {
        public string Name { get; init; } = "";
        public string Stage { get; set; } = "test";
        public CiImage? Image { get; set; }
        public bool ImageSet { get; set; }
        public IReadOnlyList<CiService>? Services { get; set; }
        public IReadOnlyList<CiVariable>? Variables { get; set; }
        public IReadOnlyList<string>? BeforeScript { get; set; }
        public IReadOnlyList<string>? Script { get; set; }
        public IReadOnlyList<string>? AfterScript { get; set; }
        public IReadOnlyList<CiCache>? Cache { get; set; }
        public CiArtifacts? Artifacts { get; set; }
        public bool ArtifactsSet { get; set; }
        public int? TimeoutSeconds { get; set; }
    }

    private sealed class Diagnostics(string file)
    {
        public List<CiDiagnostic> Errors { get; } = [];
        private readonly List<CiDiagnostic> _warnings = [];

        public void Error(YamlNode node, string key, string message) => Error(node.Start, key, message);

        public void Error(Mark mark, string key, string message) =>
            Errors.Add(new CiDiagnostic(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column), key, message));

        public void Warning(YamlNode node, string key, string message) =>
            _warnings.Add(new CiDiagnostic(file, (int)Math.Max(1, node.Start.Line), (int)Math.Max(1, node.Start.Column), key, message));

        public CiFileParseResult Result(CiFile? ciFile) =>
            new(Errors.Count == 0 ? ciFile : null, [.. Errors.OrderBy(e => e.Line).ThenBy(e => e.Column)], _warnings);
    }
}
