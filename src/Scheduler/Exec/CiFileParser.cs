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
        var diagnostics = new CiDiagnosticList(fileName);
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
                    stages = [".pre", .. CiYamlValues.StringList(value, key, diagnostics), ".post"];
                    break;
                case "variables":
                    globalVariables.AddRange(CiYamlValues.Variables(value, key, diagnostics));
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

    private static YamlMappingNode? Load(string yaml, CiDiagnosticList diagnostics)
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

    private static void RejectReferenceTags(YamlNode root, CiDiagnosticList diagnostics)
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

    private static void ReadDefaults(YamlNode node, CiDiagnosticList diagnostics, Defaults defaults)
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

    private static void ReadDefaultKey(string key, YamlNode value, CiDiagnosticList diagnostics, Defaults defaults)
    {
        switch (key)
        {
            case "image": defaults.Image = CiJobSections.Image(value, key, diagnostics); break;
            case "services": defaults.Services = CiJobSections.Services(value, key, diagnostics); break;
            case "before_script": defaults.BeforeScript = CiYamlValues.Script(value, key, diagnostics); break;
            case "after_script": defaults.AfterScript = CiYamlValues.Script(value, key, diagnostics); break;
            case "cache": defaults.Cache = CiJobSections.Caches(value, key, diagnostics); break;
            case "artifacts": defaults.Artifacts = CiJobSections.Artifacts(value, key, diagnostics); break;
            case "timeout": defaults.TimeoutSeconds = CiYamlValues.Timeout(value, key, diagnostics); break;
        }
    }

    private static CiJob? ReadJob(
        YamlScalarNode keyNode, YamlNode node, Defaults defaults, IReadOnlyList<CiVariable> globalVariables,
        IReadOnlyList<string> stages, CiDiagnosticList diagnostics)
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
                case "script": job.Script = CiYamlValues.Script(value, path, diagnostics); sawScript = true; break;
                case "before_script": job.BeforeScript = CiYamlValues.Script(value, path, diagnostics); break;
                case "after_script": job.AfterScript = CiYamlValues.Script(value, path, diagnostics); break;
                case "image": job.Image = CiJobSections.Image(value, path, diagnostics); job.ImageSet = true; break;
                case "services": job.Services = CiJobSections.Services(value, path, diagnostics); break;
                case "variables": job.Variables = CiYamlValues.Variables(value, path, diagnostics); break;
                case "cache": job.Cache = CiJobSections.Caches(value, path, diagnostics); break;
                case "artifacts": job.Artifacts = CiJobSections.Artifacts(value, path, diagnostics); job.ArtifactsSet = true; break;
                case "timeout": job.TimeoutSeconds = CiYamlValues.Timeout(value, path, diagnostics); break;
                case "stage":
                    job.Stage = CiYamlValues.Scalar(value, path, diagnostics) ?? "test";
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
}
