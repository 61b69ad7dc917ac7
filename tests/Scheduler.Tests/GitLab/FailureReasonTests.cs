using Scheduler.FakeGitLab;
using Scheduler.GitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>The failure_reason sent in a failed final update: only what the GitLab instance lists, mapped as GitLab Runner maps.</summary>
public sealed class FailureReasonTests
{
    // A GitLab 13.11 list (reference §3.4): no image_pull_failure, runner_configuration_error, runner_interrupted, ...
    private static readonly string[] GitLab13 =
    [
        "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure",
        "missing_dependency_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure",
        "unmet_prerequisites", "scheduler_failure", "data_integrity_failure",
    ];

    public static TheoryData<string?, string, string> Cases => new()
    {
        // reason sent by the tree, which list ("recent", "13.11", "none"), what GitLab must get
        { "script_failure", "recent", "script_failure" },
        { "script_failure", "none", "script_failure" },
        { "runner_system_failure", "none", "runner_system_failure" },
        { "job_execution_timeout", "none", "job_execution_timeout" },
        { "image_pull_failure", "recent", "image_pull_failure" },
        { "image_pull_failure", "13.11", "runner_system_failure" },
        { "runner_configuration_error", "recent", "runner_configuration_error" },
        { "runner_configuration_error", "13.11", "script_failure" },
        { "runner_external_dependency_failure", "13.11", "runner_system_failure" },
        { "runner_interrupted", "recent", "runner_interrupted" },
        { "runner_interrupted", "13.11", "unknown_failure" },
        // A cancellation is runner-internal: no GitLab has job_canceled.
        { "job_canceled", "recent", "unknown_failure" },
        { "job_canceled", "none", "unknown_failure" },
        { "made_up_reason", "recent", "unknown_failure" },
        { "SCRIPT_FAILURE", "recent", "unknown_failure" },
        { "stuck_or_timeout_failure", "13.11", "stuck_or_timeout_failure" },
        { "stuck_or_timeout_failure", "none", "unknown_failure" },
        { null, "recent", "script_failure" },
        { "", "13.11", "script_failure" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Maps_the_runner_reason_to_one_this_GitLab_accepts(string? reason, string list, string expected)
    {
        IReadOnlyCollection<string> supported = list switch
        {
            "recent" => FakeGitLabServer.FailureReasons.Concat(["image_pull_failure"]).ToArray(),
            "13.11" => GitLab13,
            _ => [],
        };

        Assert.Equal(expected, GitLabFailureReason.ForUpdate(reason, supported));
    }

    [Fact]
    public void Every_compatibility_fallback_is_accepted_by_any_GitLab()
    {
        Assert.All(GitLabFailureReason.Compatibility.Values,
            fallback => Assert.Equal(fallback, GitLabFailureReason.ForUpdate(fallback, [])));
    }
}
