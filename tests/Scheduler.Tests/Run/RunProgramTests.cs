using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

[Collection(RunClusterCollection.Name)]
public sealed class RunProgramTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    private string WriteConfig(string dir, string token, int limit) =>
        WriteConfig(dir, $$"""
            concurrent = 2
            check_interval = 1
            shutdown_timeout = 5

            [[runners]]
              name = "r1"
              url = "{{GitLab.Url}}"
              token = "{{token}}"
              executor = "kubernetes"
              limit = {{limit}}
              [runners.kubernetes]
                namespace = "default"
                image = "alpine:3.20"
            """);

    private static string WriteConfig(string dir, string text)
    {
        var path = Path.Combine(dir, "config.toml");
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("concurrent = \"two\"\n")]
    [InlineData("[[runners]]\nname = \"r\"\nexecutor = \"kubernetes\"\nbogus = [\n")]
    public async Task A_config_that_does_not_load_exits_2_with_its_errors(string text)
    {
        var path = WriteConfig(Cluster.NewDirectory("bad"), text);
        using var control = new RunControl();
        var stderr = new StringWriter();

        var exit = await RunProgram.RunAsync(new RunRequest(path, null, null), stderr, control);

        Assert.Equal(RunProgram.InvalidExitCode, exit);
        Assert.Contains("does not load", stderr.ToString());
    }

    [Fact]
    public async Task Run_serves_a_job_and_a_quit_request_stops_it_with_exit_0()
    {
        var token = GitLab.AddRunner();
        var path = WriteConfig(Cluster.NewDirectory("ok"), token, 0);
        var job = GitLab.EnqueueJob(token, Job("echo served-by-run"));
        using var control = new RunControl();
        var stderr = new StringWriter();

        var run = RunProgram.RunAsync(new RunRequest(path, null, Cluster.WriteKubeconfig()), stderr, control);
        var finished = WaitFinishedAsync(job);
        if (await Task.WhenAny(run, finished) == run)
        {
            Assert.Fail($"run ended early with {await run}: {stderr}");
        }

        await finished;
        AssertFinal(job, "success");
        // Through a kubeconfig the pods use the helper image's `scheduler`, which the embedded cluster's host-process pods do
        // not have, so the script's output is not read back here; the job's run and final state are what this test covers.
        Assert.Contains("Job succeeded", job.TraceText());

        control.RequestQuit();
        Assert.Equal(RunProgram.StoppedExitCode, await run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_reload_applies_a_new_limit_and_a_bad_file_keeps_the_old_config()
    {
        var token = GitLab.AddRunner();
        var dir = Cluster.NewDirectory("reload");
        var path = WriteConfig(dir, token, 2);
        var settings = Settings(2, Entry("r1", token, limit: 2));
        var host = StartHost(settings);
        using var control = new RunControl();
        using var reloader = new ConfigReloader(path, new Dictionary<string, string>(), host, control, settings);

        File.WriteAllText(path, "concurrent = \"broken\"\n");
        Assert.False(reloader.Reload("test"));
        Assert.Equal(2, reloader.Current.Runners[0].Limit);

        WriteConfig(dir, token, 1);
        control.RequestReload(); // SIGHUP
        Assert.Equal(1, reloader.Current.Runners[0].Limit);

        var jobs = Enumerable.Range(0, 2).Select(_ => GitLab.EnqueueJob(token, Job("sleep 1"))).ToArray();
        var most = 0;
        while (!jobs.All(j => j.IsFinished))
        {
            most = Math.Max(most, (await host.StatusAsync()).Sum(s => s.RunningJobs.Count));
            await Task.Delay(50);
        }

        Assert.Equal(1, most);
        Assert.All(jobs, j => AssertFinal(j, "success"));
    }
}
