using Scheduler.GitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>What the runner advertises decides which jobs GitLab sends and how it cancels them: each value is a claim about
/// the implementation (see docs/run.md).</summary>
public sealed class RunnerFeaturesTests
{
    [Theory]
    [InlineData("cancel_gracefully", true)] // canceling → graceful cancel, after_script runs (RunCancelAndFailureTests)
    [InlineData("cancelable", true)]
    [InlineData("two_phase_job_commit", true)]
    [InlineData("trace_reset", true)]
    [InlineData("trace_checksum", true)]
    [InlineData("trace_size", true)]
    [InlineData("masking", true)]
    [InlineData("refspecs", true)]
    [InlineData("return_exit_code", true)]
    [InlineData("artifacts", true)] // zip artifacts are uploaded (GitLabArtifactsTests)
    [InlineData("upload_multiple_artifacts", true)] // each entry, reports included, is uploaded on its own
    [InlineData("upload_raw_artifacts", true)]
    [InlineData("service_multiple_aliases", true)] // "a, b" gives both host names (GitLabServicesTests)
    [InlineData("session", false)]
    [InlineData("terminal", false)]
    [InlineData("vault_secrets", false)]
    [InlineData("artifacts_exclude", true)]
    [InlineData("multi_build_steps", false)]
    [InlineData("fallback_cache_keys", true)] // cache:fallback_keys are tried in order (CacheScriptsTests, S3CacheEndToEndTests)
    [InlineData("job_inputs", false)]
    public void Advertises_only_what_is_implemented(string feature, bool advertised) =>
        Assert.Equal(advertised, RunnerFeatures.Advertised[feature]);
}
