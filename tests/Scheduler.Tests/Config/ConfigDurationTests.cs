using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>Every duration read from config.toml is bounded, with an error that names the file, the line and the key
/// (a huge shutdown_timeout used to crash the runner when it waited for it at SIGTERM).</summary>
public sealed class ConfigDurationTests
{
    [Theory]
    [InlineData("global", "shutdown_timeout", "shutdown_timeout")]
    [InlineData("global", "check_interval", "check_interval")]
    [InlineData("kubernetes", "poll_interval", "runners[0].kubernetes.poll_interval")]
    [InlineData("kubernetes", "poll_timeout", "runners[0].kubernetes.poll_timeout")]
    [InlineData("kubernetes", "terminationGracePeriodSeconds", "runners[0].kubernetes.terminationGracePeriodSeconds")]
    [InlineData("kubernetes", "pod_termination_grace_period_seconds", "runners[0].kubernetes.pod_termination_grace_period_seconds")]
    [InlineData("kubernetes", "cleanup_grace_period_seconds", "runners[0].kubernetes.cleanup_grace_period_seconds")]
    [InlineData("cluster", "stable_after", "cluster.stable_after")]
    [InlineData("cluster", "orphan_scan_interval", "cluster.orphan_scan_interval")]
    [InlineData("cluster", "claim_delay", "cluster.claim_delay")]
    public void A_duration_beyond_the_bound_is_a_located_error(string section, string key, string path)
    {
        foreach (var value in new[] { "2147483647", "9223372036854775807", (ConfigRules.MaxDurationSeconds + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            var result = ConfigLoader.LoadText(Config(section, $"{key} = {value}"), "/etc/scheduler/config.toml");

            var error = Assert.Single(result.Errors);
            Assert.False(result.IsValid);
            Assert.Equal(("/etc/scheduler/config.toml", path), (error.File, error.Key));
            Assert.Equal(LineOf(Config(section, $"{key} = {value}"), key), error.Line);
            Assert.Contains($"at most {ConfigRules.MaxDurationSeconds} seconds", error.Message);
        }
    }

    [Theory]
    [InlineData("global", "shutdown_timeout")]
    [InlineData("kubernetes", "poll_timeout")]
    [InlineData("cluster", "claim_delay")]
    public void The_bound_itself_loads(string section, string key)
    {
        var result = ConfigLoader.LoadText(Config(section, $"{key} = {ConfigRules.MaxDurationSeconds}"), "config.toml");

        Assert.Empty(result.Errors);
    }

    [Fact]
    public void Retry_backoff_max_is_bounded_in_milliseconds()
    {
        var result = ConfigLoader.LoadText(Config("kubernetes", "retry_backoff_max = 3600001"), "config.toml");

        Assert.Contains("at most 3600000 milliseconds", Assert.Single(result.Errors).Message);
    }

    private static string Config(string section, string line) => section switch
    {
        "global" => $"{line}\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n",
        "cluster" => $"[cluster]\n{line}\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n",
        _ => $"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\n{line}\n",
    };

    private static int LineOf(string text, string key) =>
        text.Split('\n').Select((line, index) => (line, index)).First(l => l.line.StartsWith(key + " =", StringComparison.Ordinal)).index + 1;
}
