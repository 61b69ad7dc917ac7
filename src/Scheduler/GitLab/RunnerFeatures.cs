namespace Scheduler.GitLab;

/// <summary>
/// The <c>info.features</c> this runner advertises. GitLab routes jobs and picks semantics by them (a job needing a feature
/// the runner lacks is dropped as <c>runner_unsupported</c>), so only what is implemented is true. All 31 keys are sent,
/// as GitLab Runner does.
/// </summary>
public static class RunnerFeatures
{
    public static IReadOnlyDictionary<string, bool> Advertised { get; } = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["variables"] = true,
        ["image"] = true,
        ["services"] = true,
        ["artifacts"] = true,
        ["cache"] = true,
        ["fallback_cache_keys"] = false,
        ["shared"] = false,
        ["upload_multiple_artifacts"] = true,
        ["upload_raw_artifacts"] = true,
        ["session"] = false,
        ["terminal"] = false,
        ["refspecs"] = true,
        ["masking"] = true,
        ["proxy"] = false,
        ["raw_variables"] = false,
        ["artifacts_exclude"] = false,
        ["multi_build_steps"] = false,
        ["trace_reset"] = true,
        ["trace_checksum"] = true,
        ["trace_size"] = true,
        ["vault_secrets"] = false,
        ["cancelable"] = true,
        ["return_exit_code"] = true,
        ["service_variables"] = true,
        ["service_multiple_aliases"] = false,
        ["image_executor_opts"] = false,
        ["service_executor_opts"] = false,
        ["cancel_gracefully"] = false,
        ["native_steps_integration"] = false,
        ["two_phase_job_commit"] = true,
        ["job_inputs"] = false,
    };
}
