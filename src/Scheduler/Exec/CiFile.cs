namespace Scheduler.Exec;

// The parts of a .gitlab-ci.yml that `scheduler exec` runs: one job with `default:` and the global keys already applied.

/// <summary>A job's <c>image</c>: a name, and the entrypoint when the job overrides it.</summary>
public sealed record CiImage(string Name, IReadOnlyList<string> Entrypoint)
{
    /// <summary><c>kubernetes: {user}</c>: <c>uid</c> or <c>uid:gid</c>; "" when not set.</summary>
    public string KubernetesUser { get; init; } = "";
}

/// <summary>One of a job's <c>services</c>.</summary>
public sealed record CiService(string Name, string? Alias, IReadOnlyList<string> Entrypoint, IReadOnlyList<string> Command)
{
    /// <summary><c>kubernetes: {user}</c>: <c>uid</c> or <c>uid:gid</c>; "" when not set.</summary>
    public string KubernetesUser { get; init; } = "";
}

/// <summary>One of a job's caches. <c>Policy</c> is pull, push or pull-push; <c>When</c> on_success, on_failure or always.</summary>
public sealed record CiCache(string Key, IReadOnlyList<string> Paths, string Policy, string When, bool Untracked);

/// <summary>A job's <c>artifacts</c>. <c>When</c> is on_success, on_failure or always.</summary>
public sealed record CiArtifacts(
    IReadOnlyList<string> Paths, IReadOnlyList<string> Exclude, string Name, string When, string ExpireIn, bool Untracked);

/// <summary>A variable from the file, in the order written; later ones override earlier ones of the same key.</summary>
public sealed record CiVariable(string Key, string Value);

/// <summary>A job as it runs: <c>default:</c> and the global keys are folded in, its variables follow the global ones.</summary>
public sealed record CiJob(
    string Name,
    string Stage,
    CiImage? Image,
    IReadOnlyList<CiService> Services,
    IReadOnlyList<CiVariable> Variables,
    IReadOnlyList<string> BeforeScript,
    IReadOnlyList<string> Script,
    IReadOnlyList<string> AfterScript,
    IReadOnlyList<CiCache> Cache,
    CiArtifacts? Artifacts,
    int? TimeoutSeconds);

/// <summary>A parsed .gitlab-ci.yml: its stages and its jobs, in file order.</summary>
public sealed record CiFile(IReadOnlyList<string> Stages, IReadOnlyList<CiJob> Jobs)
{
    public CiJob? Job(string name) => Jobs.FirstOrDefault(j => j.Name == name);
}

/// <summary>A problem in the file, located by its YAML mark (1-based line and column).</summary>
public sealed record CiDiagnostic(string File, int Line, int Column, string Key, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Key}: {Message}";
}

/// <summary>The file when it has no errors; warnings either way.</summary>
public sealed record CiFileParseResult(CiFile? File, IReadOnlyList<CiDiagnostic> Errors, IReadOnlyList<CiDiagnostic> Warnings)
{
    public bool IsSuccess => File is not null && Errors.Count == 0;
}
