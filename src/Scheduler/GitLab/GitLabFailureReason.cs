namespace Scheduler.GitLab;

/// <summary>
/// The <c>failure_reason</c> to send in a failed final update, as GitLab Runner's failure reason mapper picks it: the
/// runner's reason when the GitLab instance lists it in the job's <c>features.failure_reasons</c> (or it is one that every
/// GitLab knows), else its compatibility fallback, else <c>unknown_failure</c>. GitLab stores a reason it does not know as
/// <c>unknown_failure</c> anyway; mapping first keeps the meaning where an older GitLab has a close reason.
/// </summary>
public static class GitLabFailureReason
{
    public const string UnknownFailure = "unknown_failure";
    public const string ScriptFailure = "script_failure";
    public const string RunnerSystemFailure = "runner_system_failure";
    public const string JobExecutionTimeout = "job_execution_timeout";

    /// <summary>Reasons every GitLab with a runner API accepts, listed or not.</summary>
    public static IReadOnlySet<string> AlwaysSupported { get; } =
        new HashSet<string>(StringComparer.Ordinal) { ScriptFailure, RunnerSystemFailure, JobExecutionTimeout };

    /// <summary>What a newer runner-side reason becomes on a GitLab that does not list it (GitLab Runner's compatibility map).</summary>
    public static IReadOnlyDictionary<string, string> Compatibility { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["image_pull_failure"] = RunnerSystemFailure,
        ["runner_configuration_error"] = ScriptFailure,
        ["runner_external_dependency_failure"] = RunnerSystemFailure,
        ["runner_interrupted"] = UnknownFailure,
    };

    /// <summary>
    /// The reason GitLab accepts for <paramref name="reason"/>. No reason at all is a script failure (as in GitLab Runner);
    /// a runner-internal reason such as <c>job_canceled</c> is in no GitLab enum and becomes <c>unknown_failure</c>.
    /// </summary>
    /// <param name="supported">The job payload's <c>features.failure_reasons</c> (may be empty on an old GitLab).</param>
    public static string ForUpdate(string? reason, IReadOnlyCollection<string> supported)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            return ScriptFailure;
        }

        if (IsAccepted(reason, supported))
        {
            return reason;
        }

        return Compatibility.TryGetValue(reason, out var fallback) && IsAccepted(fallback, supported) ? fallback : UnknownFailure;
    }

    private static bool IsAccepted(string reason, IReadOnlyCollection<string> supported) =>
        AlwaysSupported.Contains(reason) || supported.Contains(reason, StringComparer.Ordinal);
}
