using Scheduler.Config;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>A reload names every changed setting that only a restart applies (the API connection, GitLab url and token,
/// global keys), by key, never by value; what jobs are built from applies to new jobs and is not reported.</summary>
public sealed class ConfigReloadChangesTests
{
    private static GlobalSettings Load(string kubernetes, string global = "concurrent = 2", string runner = "") =>
        ConfigLoader.LoadText($"{global}\n[[runners]]\nname = \"r1\"\nurl = \"https://gitlab.example.com\"\ntoken = \"glrt-secret-1\"\n{runner}\n"
                              + $"[runners.kubernetes]\nimage = \"alpine:3.20\"\n{kubernetes}\n", "config.toml").Settings!;

    [Theory]
    [InlineData("privileged = true")]
    [InlineData("allowed_images = [\"ruby:*\"]")]
    [InlineData("cap_add = [\"NET_RAW\"]")]
    [InlineData("namespace_overwrite_allowed = \"^ci-\"")]
    [InlineData("[[runners.kubernetes.volumes.empty_dir]]\nname = \"e\"\nmount_path = \"/e\"")]
    [InlineData("[runners.kubernetes.build_container_security_context]\nrun_as_user = 1")]
    [InlineData("terminationGracePeriodSeconds = 5")]
    public void A_changed_pod_setting_applies_to_new_jobs_and_is_not_reported(string changed)
    {
        Assert.Empty(ConfigChanges.NeedingRestart(Load(""), Load(changed)));
        Assert.Empty(ConfigChanges.NeedingRestart(Load(""), Load("", runner: "output_limit = 8192\nenvironment = [\"A=b\"]")));
    }

    [Theory]
    [InlineData("bearer_token = \"other-token\"", "kubernetes.bearer_token")]
    [InlineData("host = \"https://k8s.example.com\"", "kubernetes.host")]
    [InlineData("ca_file = \"/etc/ca.pem\"", "kubernetes.ca_file")]
    public void A_changed_api_connection_is_named_as_needing_a_restart(string changed, string key)
    {
        var note = Assert.Single(ConfigChanges.NeedingRestart(Load(""), Load(changed)));

        Assert.Contains("runner \"r1\"", note);
        Assert.Contains(key, note);
        Assert.Contains("restart", note);
        Assert.DoesNotContain("other-token", note);
    }

    [Fact]
    public void A_changed_runner_token_is_named_without_its_value()
    {
        var before = Load("");
        var after = before with { Runners = [before.Runners[0] with { Token = "glrt-secret-2" }] };

        var note = Assert.Single(ConfigChanges.NeedingRestart(before, after));

        Assert.Contains("token", note);
        Assert.DoesNotContain("glrt-secret", note);
    }

    [Theory]
    [InlineData("concurrent = 5")]
    [InlineData("concurrent = 2\ncheck_interval = 9")]
    [InlineData("concurrent = 2\nshutdown_timeout = 99")]
    public void Settings_a_reload_applies_are_not_reported(string global)
    {
        Assert.Empty(ConfigChanges.NeedingRestart(Load(""), Load("", global)));
        Assert.Empty(ConfigChanges.NeedingRestart(Load(""), Load("", runner: "limit = 3")));
    }

    [Fact]
    public void A_changed_global_setting_is_named()
    {
        var note = Assert.Single(ConfigChanges.NeedingRestart(Load(""), Load("", "concurrent = 2\nlisten_address = \":9252\"")));

        Assert.Contains("listen_address", note);
    }

    [Fact]
    public void An_unchanged_config_reports_nothing()
    {
        const string Everything = "privileged = true\ncap_drop = [\"ALL\"]\nallowed_pull_policies = [\"never\"]\n"
                                  + "[runners.kubernetes.node_selector]\na = \"b\"\n[runners.kubernetes.pod_security_context]\nrun_as_user = 1";
        Assert.Empty(ConfigChanges.NeedingRestart(Load(Everything), Load(Everything)));
    }
}
