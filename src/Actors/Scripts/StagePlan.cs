using Scheduler.Actors.Jobs;
namespace Scheduler.Actors.Scripts;

/// <summary>When a stage runs, given how the stages before it ended. <see cref="OnSuccess"/>: every earlier stage that
/// counts succeeded; <see cref="OnFailure"/>: one of them failed; <see cref="Always"/>: in both cases. A stage with
/// <see cref="StagePlan.IgnoreFailure"/> (after_script) never counts.</summary>
public enum StageRunsWhen
{
    Always,
    OnSuccess,
    OnFailure,
}

/// <summary>One stage of the job, in execution order. <paramref name="Container"/> is
/// <see cref="JobContainers.Build"/> or <see cref="JobContainers.Helper"/>; <paramref name="Script"/>
/// is the complete POSIX sh script, stored in the job Secret as <c>stage.&lt;Name&gt;.sh</c>.</summary>
/// <param name="IgnoreFailure">The stage's exit code never fails the job (after_script, as GitLab Runner).</param>
/// <param name="Timeout">A limit of its own that the runner side enforces (after_script: 5 minutes by default), or null
/// when only the job timeout applies.</param>
public sealed record StagePlan(string Name, string Container, StageRunsWhen When, string Script, bool IgnoreFailure = false,
    TimeSpan? Timeout = null)
{
    /// <summary>The job Secret key that holds the script.</summary>
    public string SecretKey => StageCommands.SecretKeyPrefix + Name + ".sh";

    public override string ToString() => $"StagePlan {{ Name = {Name}, Container = {Container}, When = {When}, IgnoreFailure = {IgnoreFailure} }}";
}

/// <summary>Everything the pod side needs for one job. Stages in docs/execution.md's order; stages with nothing to do are
/// left out. <paramref name="ArtifactArchives"/> are the paths in the pod where the artifact stages leave their archives
/// (a path exists only if its stage ran and found files). <paramref name="VariablesScript"/> exports the job's variables; it
/// is stored once in the job Secret (<see cref="JobSecretLayout.VariablesScriptKey"/>) and every stage script sources it, so a large
/// variable is stored once, not once per stage.</summary>
public sealed record JobScriptPlan(IReadOnlyList<StagePlan> Stages, IReadOnlyList<string> ArtifactArchives, string VariablesScript = "")
{
    /// <summary>Where the stage scripts find <see cref="VariablesScript"/> in the pod.</summary>
    public const string VariablesScriptPath = JobSecretLayout.MountPath + "/" + JobSecretLayout.VariablesScriptKey;

    /// <summary>Pre-signed cache URLs by job Secret key (<c>cache-url.N</c>): secrets, so they go into the job Secret, never
    /// into a script, and the printed form of the plan leaves them out.</summary>
    public IReadOnlyDictionary<string, string> CacheUrls { get; init; } = new Dictionary<string, string>();

    public StagePlan? Find(string name) => Stages.FirstOrDefault(stage => stage.Name == name);
}

/// <summary>How a pod runs the helper commands. <paramref name="Prefix"/> runs the managed <c>scheduler helper</c>:
/// <c>["scheduler"]</c> in our image, or the host's build (e.g. <c>["/usr/share/dotnet/dotnet", "/abs/scheduler.dll"]</c>) on
/// the embedded cluster, whose containers see the host's filesystem. <see cref="Native"/>, when set, runs the native
/// <c>scheduler-helper</c> (src/PodHelper: no .NET start in the pod) for the commands it has (<see cref="NativeCommands"/>:
/// every command the stage scripts run).</summary>
public sealed record HelperInvocation(IReadOnlyList<string> Prefix)
{
    /// <summary>The commands <c>scheduler-helper</c> has (src/Scheduler/Helper/PodCommands.cs registers them in both).</summary>
    public static IReadOnlyList<string> NativeCommands { get; } =
        ["read-log", "cache-archiver", "cache-extractor", "artifacts-archiver", "artifacts-uploader", "artifacts-downloader"];

    /// <summary>The commands an older <c>scheduler-helper</c> lacks (they became native later): in an image, the pod asks
    /// the native helper for the command's help first (<see cref="ProbedNativeOrManagedOnPath"/>).</summary>
    public static IReadOnlyList<string> LaterNativeCommands { get; } = ["artifacts-uploader", "artifacts-downloader"];

    /// <summary>In our image: <c>scheduler-helper</c> when the helper image has it, else <c>scheduler helper</c>, decided in
    /// the pod by one <c>sh</c> (a helper image of an older build, or a custom one, still works).</summary>
    public static IReadOnlyList<string> NativeOrManagedOnPath { get; } =
        ["sh", "-c", "if command -v scheduler-helper >/dev/null 2>&1; then exec scheduler-helper \"$@\"; fi; exec scheduler helper \"$@\"", "scheduler-helper"];

    /// <summary>As <see cref="NativeOrManagedOnPath"/>, and only when that <c>scheduler-helper</c> lists the command in its
    /// <c>--help</c> (an older one does not; its help exits 0 for any command, so the list is what tells): for
    /// <see cref="LaterNativeCommands"/>, at the cost of one more native start per call.</summary>
    public static IReadOnlyList<string> ProbedNativeOrManagedOnPath { get; } =
    [
        "sh", "-c",
        "if command -v scheduler-helper >/dev/null 2>&1; then case \"$(scheduler-helper --help 2>/dev/null)\" in *\"  $1 \"*) exec scheduler-helper \"$@\";; esac; fi; "
        + "exec scheduler helper \"$@\"",
        "scheduler-helper",
    ];

    /// <summary><c>scheduler</c> on the PATH: the helper image is the runner's own image, which has <c>scheduler-helper</c> too.</summary>
    public static HelperInvocation Default { get; } = new(["scheduler"]) { Native = NativeOrManagedOnPath, LaterNative = ProbedNativeOrManagedOnPath };

    /// <summary>The argv prefix of the native <c>scheduler-helper</c> (its commands follow it directly, without
    /// <c>helper</c>); null: the managed helper runs every command.</summary>
    public IReadOnlyList<string>? Native { get; init; }

    /// <summary>The prefix for <see cref="LaterNativeCommands"/> when it differs from <see cref="Native"/> (a helper that may
    /// be older than the runner); null: <see cref="Native"/>'s.</summary>
    public IReadOnlyList<string>? LaterNative { get; init; }

    /// <summary>A framework-dependent <c>scheduler.dll</c> run by a dotnet host.</summary>
    public static HelperInvocation ForAssembly(string dotnetHost, string assemblyPath) => new([dotnetHost, assemblyPath]);

    /// <summary>The argv of a helper command up to its options: the native helper's when it has the command.</summary>
    public IReadOnlyList<string> Command(string subcommand)
    {
        if (Native is not { } native || !NativeCommands.Contains(subcommand))
        {
            return [.. Prefix, "helper", subcommand];
        }

        return LaterNativeCommands.Contains(subcommand) && LaterNative is { } later ? [.. later, subcommand] : [.. native, subcommand];
    }

    public override string ToString() =>
        $"HelperInvocation [{string.Join(' ', Prefix)}]{(Native is null ? "" : $" native [{string.Join(' ', Native)}]")}";
}

/// <summary>Options of script generation that do not come from the job or the runner entry.</summary>
/// <param name="BuildsDir">The builds directory in the pod (<c>runner.BuildsDir</c> or <see cref="JobContainers.DefaultBuildsDir"/>).</param>
/// <param name="CacheDir">Where cache archives live, as GitLab Runner's local cache (<c>cache_dir</c>).</param>
/// <param name="AfterScriptTimeout">The after_script's own limit (GitLab Runner: 5 minutes).</param>
/// <param name="GitLabUrl">The GitLab the pod talks to for artifacts (the runner entry's <c>url</c>): when set, the
/// artifact stages upload to it and <c>download_artifacts</c> fetches the dependencies' artifacts from it; when null
/// (<c>scheduler exec</c>), the archives only stay in the pod for the runner to copy out.</param>
public sealed record ScriptOptions(HelperInvocation Helper, string BuildsDir = JobContainers.DefaultBuildsDir, string CacheDir = "/cache",
    TimeSpan? AfterScriptTimeout = null, string? GitLabUrl = null)
{
    public static readonly TimeSpan DefaultAfterScriptTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Signs the URLs of the distributed cache (<c>[runners.cache]</c>); null: caches stay in the pod.</summary>
    public ICacheUrlSource? CacheUrls { get; init; }

    /// <summary>Options for a runner entry: its builds_dir, its cache_dir (default <c>/cache</c>), and its url as the GitLab
    /// for artifacts unless no pod could ever reach it (see <see cref="IsReachableGitLab"/>).</summary>
    public static ScriptOptions For(Messages.Settings.RunnerEntry runner, HelperInvocation helper) =>
        new(helper, string.IsNullOrEmpty(runner.BuildsDir) ? JobContainers.DefaultBuildsDir : runner.BuildsDir,
            string.IsNullOrEmpty(runner.CacheDir) ? "/cache" : runner.CacheDir,
            GitLabUrl: IsReachableGitLab(runner.Url) ? runner.Url : null);

    /// <summary>An absolute http(s) URL whose host is not under the reserved <c>.invalid</c> top-level domain, which never
    /// resolves (RFC 6761): <c>scheduler exec</c> names its stand-in GitLab there.</summary>
    public static bool IsReachableGitLab(string? url) =>
        Uri.TryCreate(url?.Trim(), UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && !uri.Host.TrimEnd('.').EndsWith(".invalid", StringComparison.OrdinalIgnoreCase)
        && !uri.Host.Equals("invalid", StringComparison.OrdinalIgnoreCase);
}
