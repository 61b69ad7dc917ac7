namespace Scheduler.GitLab;

/// <summary>
/// The <c>info.features</c> this runner advertises. GitLab routes jobs and picks semantics by them (a job needing a feature
/// the runner lacks is dropped as <c>runner_unsupported</c>), so only what is implemented is true. All 31 keys are sent,
/// as GitLab Runner does.
/// </summary>
/// <remarks>
/// <c>cancel_gracefully</c>: GitLab's <c>canceling</c> becomes a graceful cancel (the script stops, after_script and the
/// on_failure stages run, then the final update). <c>artifacts</c> and <c>artifacts_exclude</c>: the upload stages archive
/// the job's artifacts (with <c>exclude</c>) and send them to GitLab. <c>upload_multiple_artifacts</c> and
/// <c>upload_raw_artifacts</c>: each artifacts entry (the archive and every report) is archived in its own format (zip,
/// gzip or raw) and uploaded on its own with its <c>artifact_type</c> and <c>artifact_format</c>, as GitLab Runner does.
/// <c>service_multiple_aliases</c>: a service's <c>alias</c> may name several host names (comma or space separated).
/// <c>fallback_cache_keys</c>: a restore tries <c>cache:fallback_keys</c> in order after the key.
/// </remarks>
public static class RunnerFeatures
{
    public static IReadOnlyDictionary<string, bool> Advertised { get; } = new Dictionary<string, bool>(StringComparer.Ordinal)
    {
        ["variables"] = true,
        ["image"] = true,
        ["services"] = true,
        ["artifacts"] = true,
        ["cache"] = true,
        ["fallback_cache_keys"] = true,
        ["shared"] = false,
        ["upload_multiple_artifacts"] = true,
        ["upload_raw_artifacts"] = true,
        ["session"] = false,
        ["terminal"] = false,
        ["refspecs"] = true,
        ["masking"] = true,
        ["proxy"] = false,
        ["raw_variables"] = false,
        ["artifacts_exclude"] = true,
        ["multi_build_steps"] = false,
        ["trace_reset"] = true,
        ["trace_checksum"] = true,
        ["trace_size"] = true,
        ["vault_secrets"] = false,
        ["cancelable"] = true,
        ["return_exit_code"] = true,
        ["service_variables"] = true,
        ["service_multiple_aliases"] = true,
        ["image_executor_opts"] = true,
        ["service_executor_opts"] = true,
        ["cancel_gracefully"] = true,
        ["native_steps_integration"] = false,
        ["two_phase_job_commit"] = true,
        ["job_inputs"] = false,
    };
}
