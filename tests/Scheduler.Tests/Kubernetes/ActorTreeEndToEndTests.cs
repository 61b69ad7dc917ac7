using System.Text;
using k8s;
using Akka.Actor;
using Scheduler.Actors.Execution;
using Scheduler.Helper;
using Scheduler.Kubernetes;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The actor tree with the real gateway, the real stage scripts and the embedded cluster's sandboxed pods.</summary>
public sealed class ActorTreeEndToEndTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "actor-e2e", Guid.NewGuid().ToString("N"));
    private LocalClusterServer _server = null!;
    private ActorSystem _system = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _system = ActorSystem.Create("e2e");
    }

    public async Task DisposeAsync()
    {
        await _system.Terminate();
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
        }
        catch (IOException)
        {
            // best effort cleanup of a temp dir
        }
    }

    /// <summary>Collects what the Listener hears until JobFinished.</summary>
    private sealed class Collector : ReceiveActor
    {
        public Collector(TaskCompletionSource<List<object>> done)
        {
            var messages = new List<object>();
            ReceiveAny(message =>
            {
                messages.Add(message);
                if (message is JobFinished)
                {
                    done.TrySetResult(messages);
                }
            });
        }
    }

    [Fact]
    public async Task A_job_whose_script_exits_3_fails_with_exit_code_3_its_output_in_the_trace_and_its_pod_deleted()
    {
        var runner = new RunnerEntry
        {
            Name = "local", Url = "https://gitlab.example.com", Token = "glrt-e2etoken",
            Kubernetes = new KubernetesSettings { Image = "alpine:3", HelperImage = "alpine:3", PollInterval = 1, PollTimeout = 60 },
        };
        var job = new JobPayload
        {
            Id = 501, Token = "job-token-e2e-secret",
            JobInfo = new JobInfo { Id = 501, Name = "e2e", Stage = "test", ProjectId = 5, ProjectName = "p", ProjectFullPath = "g/p" },
            GitInfo = new GitInfo { Ref = "main", Sha = "0123456789abcdef0123456789abcdef01234567", RepoUrl = "https://gitlab.example.com/g/p.git" },
            RunnerInfo = new RunnerInfo { Timeout = 120 },
            Variables =
            [
                new JobVariable { Key = "GIT_STRATEGY", Value = "none", Public = true },
                new JobVariable { Key = "HIDDEN", Value = "very-secret-value", Masked = true },
            ],
            Steps =
            [
                new JobStep { Name = "script", Script = ["echo hello from the build", "echo \"$HIDDEN\"", "exit 3"], When = "on_success" },
                new JobStep { Name = "after_script", Script = ["echo cleaning up"], When = "always" },
            ],
        };
        var client = new k8s.Kubernetes(_server.ClientConfiguration());
        var gateways = new KubernetesGatewayFactory((_, _) => _server.ClientConfiguration(), ApiRateLimiter.Default());
        var options = new ExecutionOptions(new RunnerIdentity("1.0.0", "e2e"), HelperLocation.ForThisBuild());
        var supervisor = _system.ActorOf(RunnerSupervisor.Props(new GlobalSettings { Runners = [runner] }, gateways, options), "runner");
        var done = new TaskCompletionSource<List<object>>();
        var listener = _system.ActorOf(Props.Create(() => new Collector(done)));

        supervisor.Tell(new RunJob(job, "local", listener));
        var messages = await done.Task.WaitAsync(TimeSpan.FromSeconds(120));

        var trace = Encoding.UTF8.GetString(messages.OfType<JobTraceChunk>().SelectMany(c => c.Bytes).ToArray());
        var result = messages.OfType<JobFinished>().Single().Result;
        Assert.True(result.State == JobState.Failed, $"{result} with the trace:\n{trace}");
        Assert.True((FailureReasons.ScriptFailure, 3) == (result.FailureReason, result.ExitCode), $"{result} with the trace:\n{trace}");
        Assert.Contains("hello from the build", trace);
        Assert.Contains("cleaning up", trace);
        Assert.DoesNotContain("very-secret-value", trace);
        Assert.Contains("ERROR: Job failed: exit code 3", trace);
        var pods = await client.CoreV1.ListNamespacedPodAsync("default");
        Assert.All(pods.Items, pod => Assert.NotNull(pod.Metadata.DeletionTimestamp));
    }
}
