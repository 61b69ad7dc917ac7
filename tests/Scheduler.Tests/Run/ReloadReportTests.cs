using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>A reload applies what it can and says in the log which changed settings wait for a restart.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class ReloadReportTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    private string Config(string token, string kubernetes) => $$"""
        concurrent = 2
        check_interval = 1
        shutdown_timeout = 5

        [[runners]]
          name = "r1"
          url = "{{GitLab.Url}}"
          token = "{{token}}"
          executor = "kubernetes"
          [runners.kubernetes]
            namespace = "default"
            image = "alpine:3.20"
            {{kubernetes}}
        """;

    [Fact]
    public void A_reload_that_changes_privileged_says_it_needs_a_restart_and_not_just_config_reloaded()
    {
        var token = GitLab.AddRunner();
        var path = Path.Combine(Cluster.NewDirectory("reload-report"), "config.toml");
        File.WriteAllText(path, Config(token, ""));
        var settings = Settings(2, Entry("r1", token));
        var host = StartHost(settings);
        using var control = new RunControl();
        using var reloader = new ConfigReloader(path, new Dictionary<string, string>(), host, control, settings);
        using var log = new CapturedLog();

        File.WriteAllText(path, Config(token, "privileged = true\nbearer_token = \"secret-bearer\""));
        Assert.True(reloader.Reload("test"));

        var warnings = log.Events.Where(e => e.Level == Serilog.Events.LogEventLevel.Warning).Select(e => e.RenderMessage()).ToList();
        var note = Assert.Single(warnings, w => w.Contains("kubernetes.privileged", StringComparison.Ordinal));
        Assert.Contains("restart", note);
        Assert.Contains("kubernetes.bearer_token", note);
        Assert.All(log.Events, e => Assert.DoesNotContain("secret-bearer", e.RenderMessage()));
        Assert.Contains(log.Events, e => e.RenderMessage().Contains("other changes take effect after a restart", StringComparison.Ordinal));

        // Reverting the file is reported as nothing left to restart for.
        using var second = new CapturedLog();
        File.WriteAllText(path, Config(token, ""));
        Assert.True(reloader.Reload("test"));
        Assert.DoesNotContain(second.Events, e => e.RenderMessage().Contains("kubernetes.privileged", StringComparison.Ordinal));
    }
}
