using k8s;
using Scheduler.Actors.Execution;
using Scheduler.Exec;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Hosting;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Metrics;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>One embedded cluster (pods are sandboxed host processes) shared by the run tests; images under
/// <see cref="MissingImagePrefix"/> fail to pull.</summary>
public sealed class RunClusterFixture : IAsyncLifetime
{
    public const string MissingImagePrefix = "registry.invalid/";

    private readonly string _root = Directory.CreateTempSubdirectory("scheduler-run-tests-").FullName;

    public LocalClusterServer Server { get; private set; } = null!;

    /// <summary>A copy of the kubeconfig the embedded cluster wrote (its address, certificate and bearer token).</summary>
    public string WriteKubeconfig()
    {
        var path = Path.Combine(NewDirectory("kube"), "kubeconfig");
        File.Copy(Server.KubeconfigPath, path);
        return path;
    }

    public string NewDirectory(string name) => Directory.CreateDirectory(Path.Combine(_root, $"{name}-{Guid.NewGuid():N}")).FullName;

    public async Task InitializeAsync() =>
        Server = await EmbeddedCluster.StartAsync(Path.Combine(_root, "cluster"), CancellationToken.None,
            new NodeSettings { MissingImages = [MissingImagePrefix + "*"] });

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A temp directory: best effort.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RunClusterCollection : ICollectionFixture<RunClusterFixture>
{
    public const string Name = "run embedded cluster";
}

/// <summary>A fresh fake GitLab per test and a run host on the shared cluster.</summary>
public abstract class RunHostTest(RunClusterFixture cluster) : IAsyncLifetime
{
    protected static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    private readonly List<RunHost> _hosts = [];

    protected FakeGitLabServer GitLab { get; private set; } = null!;
    protected HttpClient Http { get; } = GitLabHttp.CreateClient();
    protected RunnerMetrics Metrics { get; } = new();
    protected RunClusterFixture Cluster => cluster;

    public async Task InitializeAsync()
    {
        FileLogSink.ConfigureFromEnvironment();
        GitLab = await FakeGitLabServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        Http.Dispose();
        await GitLab.DisposeAsync();
    }

    protected RunnerEntry Entry(string name, string token, int limit = 0) => new()
    {
        Name = name,
        Url = GitLab.Url,
        Token = token,
        Limit = limit,
        Kubernetes = new KubernetesSettings { Namespace = "default", Image = "alpine:3.20" },
    };

    protected static GlobalSettings Settings(int concurrent, params RunnerEntry[] runners) =>
        new() { Concurrent = concurrent, CheckInterval = 1, ShutdownTimeout = 5, Runners = runners };

    protected RunHost StartHost(GlobalSettings settings)
    {
        var execution = new ExecutionOptions(Identity, ExecHelper.ForThisProcess());
        var host = RunHost.Start(settings, new RunHostOptions(ExecGateways.Create(cluster.Server.ClientConfiguration()), execution, Http,
            Identity, "s_0123456789ab")
        {
            Metrics = Metrics,
            HoconOverrides = Environment.GetEnvironmentVariable("SCHEDULER_TEST_LOG") is { Length: > 0 } ? "akka.loglevel = DEBUG" : "",
            TraceUpdateInterval = TimeSpan.FromSeconds(1),
            AbortGrace = TimeSpan.FromSeconds(30),
        });
        _hosts.Add(host);
        return host;
    }

    /// <summary>A job that needs no repository (GIT_STRATEGY none) running <paramref name="script"/>.</summary>
    protected static FakeJobBuilder Job(params string[] script) => new FakeJobBuilder().Variable("GIT_STRATEGY", "none").Script(script);

    protected static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(100);
        }
    }

    protected static Task WaitFinishedAsync(FakeJob job, int seconds = 60) =>
        WaitUntilAsync(() => job.IsFinished, TimeSpan.FromSeconds(seconds), $"job {job.Id} to finish (status {job.Status})");

    /// <param name="activeOnly">Leave out pods already being deleted (a finished job's pod may still be terminating).</param>
    protected async Task<int> PodCountAsync(bool activeOnly = false)
    {
        using var client = new k8s.Kubernetes(cluster.Server.ClientConfiguration());
        return (await client.CoreV1.ListNamespacedPodAsync("default")).Items
            .Count(p => !activeOnly || p.Metadata.DeletionTimestamp is null);
    }

    protected async Task AssertNoPodLeftAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await PodCountAsync() > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.Equal(0, await PodCountAsync());
    }

    protected static void AssertFinal(FakeJob job, string status, string? failureReason = null, int? exitCode = null)
    {
        Assert.True(job.Status == status, $"expected {status}, got {job.Status} ({job.FailureReason})\n--- trace ---\n{job.TraceText()}");
        Assert.Equal(failureReason, job.FailureReason);
        if (exitCode is not null)
        {
            Assert.Equal(exitCode, job.ExitCode);
        }

        // The final update's checksum covers exactly the bytes GitLab holds: no gap, no duplicate.
        Assert.Equal(TraceChecksum.Of(job.TraceBytes()), job.Checksum);
    }
}
