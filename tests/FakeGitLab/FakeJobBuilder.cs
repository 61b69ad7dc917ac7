using System.Text.Json.Nodes;

namespace Scheduler.FakeGitLab;

/// <summary>Builds the JSON of a job as GitLab's <c>/jobs/request</c> 201 answer carries it (reference §3.4 shape).
/// Id and token are filled in by <see cref="FakeGitLabServer.EnqueueJob"/>.</summary>
public sealed class FakeJobBuilder
{
    private readonly List<JsonObject> _variables = [];
    private readonly List<JsonObject> _steps = [];
    private readonly List<JsonObject> _artifacts = [];
    private readonly List<JsonObject> _services = [];
    private readonly List<JsonObject> _caches = [];
    private readonly List<long> _dependencies = [];
    private readonly List<string> _requiredFeatures = [];
    private string _name = "test";
    private string _stage = "test";
    private string? _image = "alpine:3.20";
    private int _timeout = 3600;
    private string _sha = "265c14cf140a66cfc61e40e4ab45c95ba8df5ed1";
    private IReadOnlyList<string> _failureReasons = FakeGitLabServer.FailureReasons;

    public FakeJobBuilder Name(string name) { _name = name; return this; }
    public FakeJobBuilder Stage(string stage) { _stage = stage; return this; }
    public FakeJobBuilder Image(string? image) { _image = image; return this; }
    public FakeJobBuilder Timeout(int seconds) { _timeout = seconds; return this; }

    /// <summary>The commit the job checks out (a repository made with <see cref="FakeGitHttp.CreateRepository"/>).</summary>
    public FakeJobBuilder Sha(string sha) { _sha = sha; return this; }

    /// <summary>The <c>features.failure_reasons</c> the payload lists (an older GitLab lists fewer); the server's full list by default.</summary>
    public FakeJobBuilder FailureReasons(params string[] reasons) { _failureReasons = reasons; return this; }

    public FakeJobBuilder Variable(string key, string value, bool masked = false, bool isPublic = true, bool file = false)
    {
        var variable = new JsonObject { ["key"] = key, ["value"] = value, ["public"] = isPublic, ["masked"] = masked };
        if (file)
        {
            variable["file"] = true;
        }

        _variables.Add(variable);
        return this;
    }

    public FakeJobBuilder Script(params string[] lines) => Step("script", "on_success", false, lines);

    public FakeJobBuilder AfterScript(params string[] lines) => Step("after_script", "always", true, lines);

    public FakeJobBuilder Step(string name, string when, bool allowFailure, params string[] lines)
    {
        _steps.Add(new JsonObject
        {
            ["name"] = name,
            ["script"] = new JsonArray(lines.Select(line => (JsonNode?)line).ToArray()),
            ["timeout"] = _timeout,
            ["when"] = when,
            ["allow_failure"] = allowFailure,
        });
        return this;
    }

    public FakeJobBuilder Artifact(string name, string[] paths, string when = "on_success", string type = "archive", string format = "zip",
        string expireIn = "7d")
    {
        _artifacts.Add(new JsonObject
        {
            ["name"] = name,
            ["untracked"] = false,
            ["paths"] = new JsonArray(paths.Select(path => (JsonNode?)path).ToArray()),
            ["when"] = when,
            ["expire_in"] = expireIn,
            ["artifact_type"] = type,
            ["artifact_format"] = format,
        });
        return this;
    }

    /// <summary>A <c>services:</c> entry as GitLab sends it (<paramref name="alias"/> may name several, comma or space separated).</summary>
    public FakeJobBuilder Service(string name, string? alias = null, string[]? entrypoint = null, string[]? command = null,
        IReadOnlyDictionary<string, string>? variables = null)
    {
        _services.Add(new JsonObject
        {
            ["name"] = name,
            ["alias"] = alias,
            ["entrypoint"] = entrypoint is null ? null : new JsonArray(entrypoint.Select(e => (JsonNode?)e).ToArray()),
            ["command"] = command is null ? null : new JsonArray(command.Select(c => (JsonNode?)c).ToArray()),
            ["ports"] = new JsonArray(),
            ["variables"] = new JsonArray((variables ?? new Dictionary<string, string>())
                .Select(v => (JsonNode?)new JsonObject { ["key"] = v.Key, ["value"] = v.Value }).ToArray()),
        });
        return this;
    }

    /// <summary>A <c>cache:</c> entry as GitLab sends it (the key already computed by GitLab).</summary>
    public FakeJobBuilder Cache(string key, string[] paths, string policy = "pull-push", string when = "on_success", string[]? fallbackKeys = null,
        bool untracked = false)
    {
        _caches.Add(new JsonObject
        {
            ["key"] = key,
            ["untracked"] = untracked,
            ["policy"] = policy,
            ["paths"] = new JsonArray(paths.Select(path => (JsonNode?)path).ToArray()),
            ["when"] = when,
            ["fallback_keys"] = new JsonArray((fallbackKeys ?? []).Select(k => (JsonNode?)k).ToArray()),
        });
        return this;
    }

    /// <summary>This job downloads the artifacts of job <paramref name="jobId"/> (which must be known to the server).</summary>
    public FakeJobBuilder DependsOn(long jobId)
    {
        _dependencies.Add(jobId);
        return this;
    }

    /// <summary>The job needs a runner feature; a runner that does not advertise it never gets the job (GitLab drops it as
    /// <c>runner_unsupported</c> and answers 204).</summary>
    public FakeJobBuilder RequiresFeature(string feature)
    {
        _requiredFeatures.Add(feature);
        return this;
    }

    internal IReadOnlyList<long> Dependencies => _dependencies;

    internal IReadOnlyList<string> RequiredFeatures => _requiredFeatures;

    internal JsonObject Build(long id, string token, string baseUrl, Func<long, FakeJob?> lookup)
    {
        var host = new Uri(baseUrl).Authority;
        var scheme = new Uri(baseUrl).Scheme;
        var variables = new JsonArray
        {
            Var("CI_JOB_ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture), true, false),
            Var("CI_JOB_NAME", _name, true, false),
            Var("CI_JOB_STAGE", _stage, true, false),
            Var("CI_JOB_TOKEN", token, false, true),
            Var("CI_SERVER_URL", baseUrl, true, false),
            Var("CI_API_V4_URL", baseUrl + "/api/v4", true, false),
            Var("CI_PROJECT_DIR", "/builds/test/project", true, false),
        };
        foreach (var variable in _variables)
        {
            variables.Add(variable.DeepClone());
        }

        var dependencies = new JsonArray();
        foreach (var dependencyId in _dependencies)
        {
            var dependency = lookup(dependencyId);
            var entry = new JsonObject
            {
                ["id"] = dependencyId,
                ["name"] = dependency?.Name ?? "",
                // Current GitLab sends the running job's token for dependency downloads.
                ["token"] = token,
            };
            var archive = dependency?.Artifacts.FirstOrDefault(a => a.Type == "archive");
            if (archive is not null)
            {
                entry["artifacts_file"] = new JsonObject { ["filename"] = archive.FileName, ["size"] = archive.Content.Length };
            }

            dependencies.Add(entry);
        }

        var steps = new JsonArray();
        foreach (var step in _steps.Count > 0 ? _steps : [StepOf("script", "echo hello")])
        {
            steps.Add(step.DeepClone());
        }

        var artifacts = new JsonArray();
        foreach (var artifact in _artifacts)
        {
            artifacts.Add(artifact.DeepClone());
        }

        return new JsonObject
        {
            ["id"] = id,
            ["token"] = token,
            ["allow_git_fetch"] = true,
            ["job_info"] = new JsonObject
            {
                ["id"] = id, ["name"] = _name, ["stage"] = _stage, ["pipeline_id"] = 1, ["project_id"] = 1,
                ["project_name"] = "project", ["project_full_path"] = "test/project",
            },
            ["git_info"] = new JsonObject
            {
                ["repo_url"] = $"{scheme}://gitlab-ci-token:{token}@{host}/test/project.git",
                ["ref"] = "main",
                ["sha"] = _sha,
                ["before_sha"] = "0000000000000000000000000000000000000000",
                ["ref_type"] = "branch",
                ["refspecs"] = new JsonArray("+refs/heads/main:refs/remotes/origin/main"),
                ["depth"] = 20,
            },
            ["runner_info"] = new JsonObject { ["timeout"] = _timeout, ["runner_session_url"] = null },
            ["variables"] = variables,
            ["steps"] = steps,
            ["image"] = _image is null ? null : new JsonObject { ["name"] = _image, ["entrypoint"] = null, ["ports"] = new JsonArray() },
            ["services"] = new JsonArray(_services.Select(service => (JsonNode?)service.DeepClone()).ToArray()),
            ["artifacts"] = artifacts,
            ["cache"] = new JsonArray(_caches.Select(c => (JsonNode?)c.DeepClone()).ToArray()),
            ["credentials"] = new JsonArray(new JsonObject
            {
                ["type"] = "registry", ["url"] = host, ["username"] = "gitlab-ci-token", ["password"] = token,
            }),
            ["dependencies"] = dependencies,
            ["features"] = new JsonObject
            {
                ["trace_sections"] = true,
                ["failure_reasons"] = new JsonArray(_failureReasons.Select(r => (JsonNode?)r).ToArray()),
            },
        };
    }

    private JsonObject StepOf(string name, string line) => new()
    {
        ["name"] = name, ["script"] = new JsonArray(line), ["timeout"] = _timeout, ["when"] = "on_success", ["allow_failure"] = false,
    };

    private static JsonObject Var(string key, string value, bool isPublic, bool masked) =>
        new() { ["key"] = key, ["value"] = value, ["public"] = isPublic, ["masked"] = masked };
}
