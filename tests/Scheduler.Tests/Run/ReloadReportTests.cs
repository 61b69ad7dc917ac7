using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>A reload applies what it can (new jobs are built with the reloaded entry) and says in the log which changed
/// settings wait for a restart.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class ReloadReportTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    private string Config(string token, string kubernetes, string runner = "") => $$"""
        concurrent = 2
        check_interval = 1
        shutdown_timeout = 5

        [[runners]]
          name = "r1"
          url = "{{GitLab.Url}}"
          token = "{{token}}"
          executor = "kubernetes"
          {{runner}}
          [runners.kubernetes]
            namespace = "default"
            image = "alpine:3.20"
            {{kubernetes}}
        """;

    [Fact]
    public async Task A_reload_builds_new_jobs_with_the_new_settings_and_names_only_what_needs_a_restart()
    {
        var token = GitLab.AddRunner();
        var path = Path.Combine(Cluster.NewDirectory("reload-report"), "config.toml");
        File.WriteAllText(path, Config(token, ""));
        var settings = Settings(2, Entry("r1", token));
        var host = StartHost(settings);
        using var control = new RunControl();
        using var reloader = new ConfigReloader(path, new Dictionary<string, string>(), host, control, settings);
        using var log = new CapturedLog();

        File.WriteAllText(path, Config(token, "privileged = true\nbearer_token = \"secret-bearer\"", "environment = [\"RELOADED=yes\"]"));
        Assert.True(reloader.Reload("test"));

        // The API connection (bearer_token) waits for a restart and is named, without its value; privileged and
        // environment are job settings: applied, not reported.
        var warnings = log.Events.Where(e => e.Level == Serilog.Events.LogEventLevel.Warning).Select(e => e.RenderMessage()).ToList();
        var note = Assert.Single(warnings, w => w.Contains("kubernetes.bearer_token", StringComparison.Ordinal));
        Assert.Contains("restart", note);
        Assert.DoesNotContain(warnings, w => w.Contains("privileged", StringComparison.Ordinal) || w.Contains("environment", StringComparison.Ordinal));
        Assert.All(log.Events, e => Assert.DoesNotContain("secret-bearer", e.RenderMessage()));
        Assert.Contains(log.Events, e => e.RenderMessage().Contains("the settings new jobs are built with", StringComparison.Ordinal));

        // A job that starts after the reload runs with the reloaded entry.
        var job = GitLab.EnqueueJob(token, Job("echo \"reloaded=$RELOADED\""));
        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        Assert.Contains("reloaded=yes", job.TraceText());

        // Reverting the file is reported as nothing left to restart for.
        using var second = new CapturedLog();
        File.WriteAllText(path, Config(token, ""));
        Assert.True(reloader.Reload("test"));
        Assert.DoesNotContain(second.Events, e => e.RenderMessage().Contains("kubernetes.bearer_token", StringComparison.Ordinal));
    }
}
