using System.Text.Json.Serialization;

namespace Scheduler.Messages.Jobs;

// The 201 body of POST /api/v4/jobs/request. Property names follow GitLab's snake_case (the parser sets the naming
// policy); unknown fields are ignored; optional fields default to empty values, and JSON null reads as empty (GitLab
// sends null for many absent values), so consumers never test for null except where absence carries meaning (image,
// artifacts_file).
// ToString() never prints tokens, passwords or non-public variable values, so a payload can be logged safely.

/// <summary>A job handed to this runner by GitLab.</summary>
public sealed record JobPayload
{
    [JsonRequired] public long Id { get; init; }
    /// <summary>The job token: a secret. Never log it or place it in a pod literal.</summary>
    [JsonRequired] public string Token { get; init; } = "";
    public bool AllowGitFetch { get; init; }
    public JobInfo JobInfo { get; init => field = value ?? new(); } = new();
    public GitInfo GitInfo { get; init => field = value ?? new(); } = new();
    public RunnerInfo RunnerInfo { get; init => field = value ?? new(); } = new();
    public IReadOnlyList<JobVariable> Variables { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobStep> Steps { get; init => field = value ?? []; } = [];
    public JobImage? Image { get; init; }
    public IReadOnlyList<JobService> Services { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobArtifact> Artifacts { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobCache> Cache { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobCredential> Credentials { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobDependency> Dependencies { get; init => field = value ?? []; } = [];
    public JobFeatures Features { get; init => field = value ?? new(); } = new();

    public override string ToString() =>
        $"JobPayload {{ Id = {Id}, Name = {JobInfo.Name}, Stage = {JobInfo.Stage}, ProjectId = {JobInfo.ProjectId} }}";

    /// <summary>The payload as it may be stored where the job can read it (the job Secret): without the registry
    /// credentials (they are only for pulling the images, which the pod has done) and without the dependencies' tokens
    /// (downloads authenticate with the job's own token). What remains is what the job has anyway: its token, its
    /// variables, its scripts.</summary>
    public JobPayload WithoutForeignSecrets() => this with
    {
        Credentials = [],
        Dependencies = [.. Dependencies.Select(dependency => dependency with { Token = "" })],
    };
}

public sealed record JobInfo
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    public string Stage { get; init; } = "";
    public long PipelineId { get; init; }
    public long ProjectId { get; init; }
    public string ProjectName { get; init; } = "";
    public string ProjectFullPath { get; init; } = "";
    public long NamespaceId { get; init; }
    public long RootNamespaceId { get; init; }
}

public sealed record GitInfo
{
    /// <summary>Carries the job token as its password: a secret.</summary>
    public string RepoUrl { get; init; } = "";
    public string Ref { get; init; } = "";
    public string Sha { get; init; } = "";
    public string BeforeSha { get; init; } = "";
    /// <summary><c>branch</c> or <c>tag</c>.</summary>
    public string RefType { get; init; } = "";
    public IReadOnlyList<string> Refspecs { get; init => field = value ?? []; } = [];
    /// <summary>0 means a full clone.</summary>
    public int Depth { get; init; }

    public override string ToString() => $"GitInfo {{ Ref = {Ref}, Sha = {Sha}, RefType = {RefType}, Depth = {Depth} }}";
}

public sealed record RunnerInfo
{
    /// <summary>Seconds; 0 or less means "not given" (see <see cref="EffectiveTimeoutSeconds"/>).</summary>
    public int Timeout { get; init; }
    public string? RunnerSessionUrl { get; init; }

    /// <summary>The job timeout used when GitLab sends none.</summary>
    public const int DefaultTimeoutSeconds = 3600;

    [JsonIgnore] public int EffectiveTimeoutSeconds => Timeout > 0 ? Timeout : DefaultTimeoutSeconds;
}

public sealed record JobVariable
{
    public string Key { get; init; } = "";
    public string Value { get; init; } = "";
    public bool Public { get; init; }
    public bool Masked { get; init; }
    public bool File { get; init; }
    public bool Raw { get; init; }

    /// <summary>A value that may be shown in container env, labels or annotations.</summary>
    [JsonIgnore] public bool IsShowable => Public && !Masked;

    public override string ToString() =>
        $"JobVariable {{ Key = {Key}, Value = {(IsShowable ? Value : "[hidden]")}, Public = {Public}, Masked = {Masked}, File = {File}, Raw = {Raw} }}";
}

public sealed record JobStep
{
    /// <summary><c>script</c>, <c>after_script</c>, <c>release</c> or <c>run</c>.</summary>
    public string Name { get; init; } = "";
    public IReadOnlyList<string> Script { get; init => field = value ?? []; } = [];
    public int Timeout { get; init; }
    /// <summary><c>on_success</c>, <c>on_failure</c> or <c>always</c>.</summary>
    public string When { get; init; } = "on_success";
    public bool AllowFailure { get; init; }
}

public sealed record JobPort
{
    public int Number { get; init; }
    public string? Protocol { get; init; }
    public string? Name { get; init; }
}

public sealed record JobImage
{
    public string Name { get; init; } = "";
    public string? Alias { get; init; }
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> Entrypoint { get; init => field = value ?? []; } = [];
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> Command { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobPort> Ports { get; init => field = value ?? []; } = [];
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> PullPolicy { get; init => field = value ?? []; } = [];
    /// <summary><c>image:docker</c> and <c>image:kubernetes</c> of .gitlab-ci.yml (GitLab Runner 17.11+).</summary>
    public JobExecutorOptions ExecutorOpts { get; init => field = value ?? new(); } = new();
}

/// <summary>The per-executor options of an image or a service (<c>executor_opts</c>); only <c>user</c> is applied here.</summary>
public sealed record JobExecutorOptions
{
    public JobKubernetesOptions Kubernetes { get; init => field = value ?? new(); } = new();
    public JobDockerOptions Docker { get; init => field = value ?? new(); } = new();
}

public sealed record JobKubernetesOptions
{
    /// <summary><c>uid</c> or <c>uid:gid</c>, sent as a string or an integer; "" when not set.</summary>
    [JsonConverter(typeof(StringOrIntegerConverter))] public string User { get; init => field = value ?? ""; } = "";
}

public sealed record JobDockerOptions
{
    /// <summary>Docker's <c>user</c>; not applied by this Kubernetes runner (as GitLab Runner's Kubernetes executor).</summary>
    [JsonConverter(typeof(StringOrIntegerConverter))] public string User { get; init => field = value ?? ""; } = "";
    public string Platform { get; init; } = "";
}

public sealed record JobServiceVariable
{
    public string Key { get; init; } = "";
    public string Value { get; init; } = "";
}

public sealed record JobService
{
    public string Name { get; init; } = "";
    public string? Alias { get; init; }
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> Entrypoint { get; init => field = value ?? []; } = [];
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> Command { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobPort> Ports { get; init => field = value ?? []; } = [];
    public IReadOnlyList<JobServiceVariable> Variables { get; init => field = value ?? []; } = [];
    [JsonConverter(typeof(StringOrArrayConverter))] public IReadOnlyList<string> PullPolicy { get; init => field = value ?? []; } = [];
    /// <summary><c>services[].docker</c> and <c>services[].kubernetes</c> of .gitlab-ci.yml.</summary>
    public JobExecutorOptions ExecutorOpts { get; init => field = value ?? new(); } = new();
}

public sealed record JobArtifact
{
    public string Name { get; init; } = "";
    public bool Untracked { get; init; }
    public IReadOnlyList<string> Paths { get; init => field = value ?? []; } = [];
    public IReadOnlyList<string> Exclude { get; init => field = value ?? []; } = [];
    public string When { get; init; } = "on_success";
    [JsonPropertyName("artifact_type")] public string Type { get; init; } = "archive";
    [JsonPropertyName("artifact_format")] public string Format { get; init; } = "zip";
    public string ExpireIn { get; init; } = "";
}

public sealed record JobCache
{
    public string Key { get; init; } = "";
    public bool Untracked { get; init; }
    /// <summary><c>pull-push</c>, <c>pull</c> or <c>push</c>.</summary>
    public string Policy { get; init; } = "pull-push";
    public IReadOnlyList<string> Paths { get; init => field = value ?? []; } = [];
    public string When { get; init; } = "on_success";
    public IReadOnlyList<string> FallbackKeys { get; init => field = value ?? []; } = [];
}

public sealed record JobCredential
{
    /// <summary><c>registry</c> (GitLab has sent it capitalized too).</summary>
    public string Type { get; init; } = "";
    public string Url { get; init; } = "";
    public string Username { get; init; } = "";
    /// <summary>A secret.</summary>
    public string Password { get; init; } = "";

    [JsonIgnore] public bool IsRegistry => string.Equals(Type, "registry", StringComparison.OrdinalIgnoreCase);

    public override string ToString() => $"JobCredential {{ Type = {Type}, Url = {Url}, Username = {Username}, Password = [hidden] }}";
}

public sealed record ArtifactsFile
{
    public string Filename { get; init; } = "";
    public long Size { get; init; }
}

public sealed record JobDependency
{
    public long Id { get; init; }
    public string Name { get; init; } = "";
    /// <summary>A secret: the token to download this dependency's artifacts.</summary>
    public string Token { get; init; } = "";
    public ArtifactsFile? ArtifactsFile { get; init; }

    public override string ToString() => $"JobDependency {{ Id = {Id}, Name = {Name}, ArtifactsFile = {ArtifactsFile} }}";
}

public sealed record JobFeatures
{
    public bool TraceSections { get; init; }
    /// <summary>The failure reasons this GitLab accepts in a job update.</summary>
    public IReadOnlyList<string> FailureReasons { get; init => field = value ?? []; } = [];
    public IReadOnlyList<string> TokenMaskPrefixes { get; init => field = value ?? []; } = [];
}
