using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The job runtime's keys of <c>[runners.kubernetes]</c>: Go durations as GitLab Runner writes them, the
/// <c>retry_limits</c> table and its rules, and the defaults when they are absent.</summary>
public sealed class RuntimeKeysConfigTests
{
    private const string Prefix = "[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n";
    private const string K = "runners[0].kubernetes.";

    [Theory]
    [InlineData("0", 0)]
    [InlineData("300s", 300)]
    [InlineData("5m", 300)]
    [InlineData("1h30m", 5400)]
    [InlineData("1.5h", 5400)]
    [InlineData("2m30.5s", 150.5)]
    [InlineData("250ms", 0.25)]
    [InlineData("+10s", 10)]
    [InlineData("1h0m0s", 3600)]
    public void Go_durations_are_read_as_Go_reads_them(string text, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), ConfigRules.GoDuration(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]         // Go needs a unit except for 0
    [InlineData("5 m")]
    [InlineData("-5m")]
    [InlineData("5min")]
    [InlineData("m")]
    [InlineData("1d")]
    [InlineData("999999h")]   // past the longest duration a key may give
    public void What_is_not_a_Go_duration_is_refused(string text)
    {
        Assert.Null(ConfigRules.GoDuration(text));
    }

    [Theory]
    [InlineData("cleanup_resources_timeout = \"5 minutes\"", 5, 29, K + "cleanup_resources_timeout", "is not a duration")]
    [InlineData("resource_availability_check_max_attempts = -1", 5, 44, K + "resource_availability_check_max_attempts", "must be between 0")]
    [InlineData("[runners.kubernetes.retry_limits]\n\"exceeded quota\" = 0", 6, 20, K + "retry_limits.exceeded quota", "must be between 1 and 1000")]
    [InlineData("[runners.kubernetes.retry_limits]\n\"\" = 3", 6, 6, K + "retry_limits.", "must not be empty")]
    public void Bad_values_are_located_errors(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Absent_keys_take_GitLab_Runner_s_defaults_and_warn_about_nothing()
    {
        var result = ConfigLoader.LoadText(Prefix, "config.toml");

        var kubernetes = result.Settings!.Runners[0].Kubernetes;
        Assert.Empty(result.Warnings);
        Assert.Equal(TimeSpan.FromMinutes(5), kubernetes.CleanupResourcesTimeout);
        Assert.True(kubernetes.PrintPodWarningEvents);
        Assert.Empty(kubernetes.RetryLimits);
        Assert.Equal(5, kubernetes.ResourceAvailabilityCheckMaxAttempts);
        Assert.False(kubernetes.NamespacePerJob);
        Assert.Null(kubernetes.Context);
        Assert.Null(kubernetes.CleanupGracePeriodSeconds);
    }

    [Theory]
    [InlineData("namespace_per_job", "context", "retry_limits", "cleanup_resources_timeout", "print_pod_warning_events")]
    public void The_runtime_keys_are_no_longer_listed_as_without_effect(params string[] keys)
    {
        Assert.All(keys, key => Assert.DoesNotContain(key, ConfigKeys.KubernetesNoEffect.Keys));
        Assert.All(keys, key => Assert.Contains(key, ConfigKeys.Kubernetes));
        Assert.Contains("resource_availability_check_max_attempts", ConfigKeys.Kubernetes);
    }
}
