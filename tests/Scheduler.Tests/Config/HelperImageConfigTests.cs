using Scheduler.Actors.Pods;
using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>A helper_image without this runner's helper commands is refused when config.toml loads, not at a job's first stage.</summary>
public sealed class HelperImageConfigTests
{
    [Theory]
    [InlineData("scheduler:1.2.3", true)]
    [InlineData("scheduler", true)]
    [InlineData("registry.example.com/ci/scheduler:${CI_RUNNER_VERSION}", true)]
    [InlineData("localhost:5000/scheduler", true)]
    [InlineData("localhost:5000/mirror/scheduler@sha256:0123456789abcdef", true)]
    [InlineData("registry.example.com/ci/Scheduler:2", true)]
    [InlineData("gitlab/gitlab-runner-helper:x86_64-577f813d", false)]
    [InlineData("registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.5.0", false)]
    [InlineData("alpine:3", false)]
    [InlineData("scheduler/helper:1", false)]
    [InlineData("registry.example.com/scheduler-tools:1", false)]
    [InlineData("scheduler:5000/other:1", false)]
    public void Only_images_named_scheduler_can_be_the_helper(string image, bool accepted) =>
        Assert.Equal(accepted, HelperImageRule.Error(image) is null);

    [Fact]
    public void GitLabs_helper_is_refused_at_load_with_file_line_key_and_what_to_use()
    {
        const string toml = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n"
                            + "image = \"alpine:3\"\nhelper_image = \"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-latest\"\n";

        var result = ConfigLoader.LoadText(toml, "/etc/scheduler/config.toml");

        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.Equal(("/etc/scheduler/config.toml", 7, "runners[0].kubernetes.helper_image"), (error.File, error.Line, error.Key));
        var text = error.ToString();
        Assert.StartsWith("/etc/scheduler/config.toml:7:", text, StringComparison.Ordinal);
        Assert.Contains("is GitLab Runner's helper image", text, StringComparison.Ordinal);
        Assert.Contains("remove helper_image to use the default scheduler:<version>", text, StringComparison.Ordinal);
        Assert.Contains("registry.example.com/ci/scheduler:<version>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_image_is_refused_and_a_mirror_of_this_one_loads()
    {
        const string prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n";

        var other = ConfigLoader.LoadText(prefix + "helper_image = \"busybox:1\"\n", "config.toml");
        Assert.Contains("is not this runner's image", Assert.Single(other.Errors).Message, StringComparison.Ordinal);

        var mirror = ConfigLoader.LoadText(prefix + "helper_image = \"mirror.example.com:5000/ci/scheduler:${CI_RUNNER_VERSION}\"\n", "config.toml");
        Assert.True(mirror.IsValid, string.Join("\n", mirror.Errors));
        Assert.Equal("mirror.example.com:5000/ci/scheduler:${CI_RUNNER_VERSION}", mirror.Settings!.Runners[0].Kubernetes.HelperImage);
    }
}
