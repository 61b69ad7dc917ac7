using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The resource keys GitLab Runner added after 12.5 are read, checked as quantities at load, and take effect.</summary>
public sealed class ResourceConfigTests
{
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n";

    [Fact]
    public void Resource_keys_are_read_without_warnings()
    {
        var result = ConfigLoader.LoadText(Prefix + "ephemeral_storage_limit = \"2Gi\"\ncpu_limit_overwrite_max_allowed = \"4\"\n"
                                                  + "pod_memory_request = \"1Gi\"\nhelper_ephemeral_storage_request_overwrite_max_allowed = \"1Gi\"\n", "config.toml");

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Empty(result.Warnings);
        Assert.Equal(new Dictionary<string, string>
        {
            ["ephemeral_storage_limit"] = "2Gi",
            ["cpu_limit_overwrite_max_allowed"] = "4",
            ["pod_memory_request"] = "1Gi",
            ["helper_ephemeral_storage_request_overwrite_max_allowed"] = "1Gi",
        }, result.Settings!.Runners[0].Kubernetes.Resources);
    }

    [Theory]
    [InlineData("cpu_limit_overwrite_max_allowed = \"lots\"", 6, 35, "cpu_limit_overwrite_max_allowed", "invalid quantity \"lots\"")]
    [InlineData("service_ephemeral_storage_request = \"-1Gi\"", 6, 37, "service_ephemeral_storage_request", "must not be negative")]
    [InlineData("pod_cpu_limit = \"2 cores\"", 6, 17, "pod_cpu_limit", "invalid quantity \"2 cores\"")]
    public void A_bad_quantity_is_an_error_at_its_line(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, "runners[0].kubernetes." + key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
