using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The checkout keys of <c>[[runners]]</c> load without a warning and keep "not set" apart from false, so that GitLab
/// Runner's Kubernetes defaults (all on) apply when they are absent.</summary>
public sealed class CheckoutKeysConfigTests
{
    private const string Prefix = "[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n";

    [Theory]
    [InlineData("", null, null, null)]
    [InlineData("safe_directory_checkout = false\nclean_git_config = false\n[runners.custom_build_dir]\nenabled = false\n", false, false, false)]
    [InlineData("safe_directory_checkout = true\nclean_git_config = true\n[runners.custom_build_dir]\nenabled = true\n", true, true, true)]
    [InlineData("[runners.custom_build_dir]\n", null, null, null)]
    public void Checkout_keys_are_read_without_warnings(string toml, bool? safe, bool? clean, bool? customBuildDir)
    {
        var result = ConfigLoader.LoadText(Prefix + toml, "config.toml");

        Assert.True(result.IsValid);
        Assert.Empty(result.Warnings);
        var runner = Assert.Single(result.Settings!.Runners);
        Assert.Equal(safe, runner.SafeDirectoryCheckout);
        Assert.Equal(clean, runner.CleanGitConfig);
        Assert.Equal(customBuildDir, runner.CustomBuildDirEnabled);
    }

    [Fact]
    public void A_checkout_key_of_the_wrong_type_is_an_error()
    {
        var result = ConfigLoader.LoadText(Prefix + "clean_git_config = \"yes\"\n", "config.toml");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Key == "runners[0].clean_git_config");
    }
}
