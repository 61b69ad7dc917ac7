using System.Diagnostics;
using System.Text;
using Scheduler.Actors.Execution;
using Scheduler.Config;
using Scheduler.Exec;
using Scheduler.Hosting;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Tests.Images;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

/// <summary>The embedded cluster as exec starts it (images on), a registry on loopback, and a committed repository.</summary>
public sealed class ImageClusterFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("scheduler-e2e-images-").FullName;

    public TestRegistry Registry { get; } = new();
    public LocalClusterServer Server { get; private set; } = null!;
    public GitRepositoryInfo Repository { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The job's pods (a non-root user) clone the repository from here.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_root, (UnixFileMode)0x1ED);
        await Registry.InitializeAsync();
        var repo = Directory.CreateDirectory(Path.Combine(_root, "project")).FullName;
        await File.WriteAllTextAsync(Path.Combine(repo, "hello.txt"), "hello from the repository\n");
        foreach (var args in new[] { new[] { "init", "-q", "-b", "main" }, ["add", "hello.txt"], ["commit", "-q", "-m", "Initial commit"] })
        {
            var start = new ProcessStartInfo("git") { WorkingDirectory = repo, RedirectStandardError = true };
            foreach (var arg in new[] { "-c", "user.name=e2e", "-c", "user.email=e2e@example.com" }.Concat(args)) start.ArgumentList.Add(arg);
            using var git = Process.Start(start)!;
            await git.WaitForExitAsync();
        }
        Repository = (await GitRepository.ReadAsync(repo, CancellationToken.None)).Info!;
        Server = await EmbeddedCluster.StartAsync(Path.Combine(_root, "cluster"), CancellationToken.None, new NodeSettings { UseImages = true });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Registry.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
    }
}

/// <summary>Whole jobs through the actor tree in real images: the build container runs in the job's image, the helper on the host.</summary>
public sealed class ImageJobTests(ImageClusterFixture cluster) : IClassFixture<ImageClusterFixture>
{
    private async Task<(JobResult Result, string Trace)> RunAsync(string yaml, string jobName)
    {
        var parsed = CiFileParser.Parse(yaml, ".gitlab-ci.yml");
        var job = parsed.File!.Job(jobName)!;
        var payload = ExecJobPayloadBuilder.Build(job, cluster.Repository,
            new ExecJobOptions(ExecJobPayloadBuilder.NewJobId(), ExecJobPayloadBuilder.NewJobToken(), [], DateTimeOffset.UtcNow));
        var config = ConfigLoader.LoadText(ExecDefaults.ConfigToml(Path.Combine(Path.GetTempPath(), "e2e-images-cache")), "exec.toml");
        var options = new ExecutionOptions(RunnerIdentity.Current(), ExecHelper.ForThisProcess(), null);
        await using var session = ExecSession.Start(config.Settings!, ExecGateways.Create(cluster.Server.ClientConfiguration()), options);
        using var trace = new MemoryStream();
        var sink = new ConsoleTraceSink(trace, TextWriter.Null, showProgress: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var result = await session.RunAsync(payload, config.Settings!.Runners[0].Name, sink, CancellationToken.None, timeout.Token);
        return (result, Encoding.UTF8.GetString(trace.ToArray()));
    }

    [Fact]
    public async Task A_job_runs_in_its_image_and_sees_the_clone_made_by_the_helper_on_the_host()
    {
        var (result, trace) = await RunAsync($$"""
            in-image:
              image: {{cluster.Registry.ImageA}}
              script:
                - cat /marker
                - cat /etc/os-release
                - cat hello.txt
                - echo FOO=$FOO
            """, "in-image");

        Assert.True(result.State == JobState.Success, $"{result}\n{trace}");
        Assert.Contains($"Using Kubernetes executor with image {cluster.Registry.ImageA} ...", trace);
        Assert.Contains("\nimage-a\n", trace);
        Assert.Contains("ID=scheduler-test-a", trace);
        Assert.Contains("hello from the repository", trace);
        Assert.Contains("FOO=from-image", trace);
    }

    [Fact]
    public async Task A_job_without_an_image_runs_on_the_host_and_its_trace_says_so()
    {
        var (result, trace) = await RunAsync("""
            no-image:
              script: [test -e /marker && echo image-marker || echo no-image-marker]
            """, "no-image");

        Assert.True(result.State == JobState.Success, $"{result}\n{trace}");
        Assert.Contains("Using Kubernetes executor with no job image: the job runs in the runner's own image scheduler:", trace);
        Assert.Contains("(on the embedded cluster: this machine's filesystem)", trace);
        Assert.Contains("no-image-marker", trace);
    }

    [Fact]
    public async Task A_service_runs_from_its_own_image_and_answers_on_its_alias()
    {
        var port = Random.Shared.Next(20000, 40000);
        var (result, trace) = await RunAsync($$"""
            with-service:
              image: {{cluster.Registry.ImageA}}
              services:
                - name: {{cluster.Registry.ImageB}}
                  alias: web
                  entrypoint: ["httpd"]
                  command: ["-f", "-p", "{{port}}", "-h", "/"]
              script:
                - for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do wget -qO- http://web:{{port}}/marker && break; sleep 0.5; done
            """, "with-service");

        Assert.True(result.State == JobState.Success, $"{result}\n{trace}");
        Assert.Contains("\nimage-b\n", trace);
    }

    [Fact]
    public async Task A_private_image_without_credentials_fails_fast_with_image_pull_failure()
    {
        var started = DateTime.UtcNow;
        var (result, trace) = await RunAsync($$"""
            private:
              image: {{cluster.Registry.PrivateImage}}
              script: [echo never]
            """, "private");

        Assert.Equal(JobState.Failed, result.State);
        Assert.Equal(FailureReasons.ImagePullFailure, result.FailureReason);
        Assert.Contains("authorization", result.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), $"took {DateTime.UtcNow - started}");
        Assert.DoesNotContain("never\n", trace);
    }
}
