using System.Text;
using k8s;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Exec;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.EndToEnd.Tests;

/// <summary>The stage protocol of docs/execution.md on the embedded cluster: a job pod from PodBuilder with real stage
/// scripts, driven only by StageCommands' argv through pods/exec.</summary>
public sealed class StageProtocolTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "stage-protocol", Guid.NewGuid().ToString("N"));
    private LocalClusterServer _server = null!;
    private k8s.Kubernetes _client = null!;
    private JobScriptPlan _scripts = null!;
    private JobPodPlan _plan = null!;
    private readonly HelperInvocation _helper = ExecHelper.ForThisProcess(); // this build's `scheduler helper`

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _client = new k8s.Kubernetes(_server.ClientConfiguration());

        var runner = new RunnerEntry { Name = "stage-protocol", Url = "https://gitlab.example.com", Token = "glrt-runner-token" };
        var job = new JobPayload
        {
            Id = 4242,
            Token = "glcbt-job-token",
            JobInfo = new JobInfo { Name = "protocol", Stage = "test", ProjectId = 7, ProjectFullPath = "group/proj" },
            GitInfo = new GitInfo { Ref = "main", Sha = "0123456789abcdef", RepoUrl = "https://gitlab-ci-token:glcbt-job-token@gitlab.example.com/group/proj.git" },
            Image = new JobImage { Name = "alpine:3.20" },
            Variables = [new JobVariable { Key = "SECRET_WORD", Value = "swordfish", Public = false, Masked = true }],
            Steps =
            [
                new JobStep { Name = "script", Script = ["echo \"hello from $CI_JOB_ID with $SECRET_WORD\"", "exit 3"] },
                new JobStep { Name = "after_script", Script = ["sleep 3", "echo after-done"] },
            ],
        };
        var identity = new RunnerIdentity("1.0.0", "abcdef12");
        _scripts = JobScripts.Build(job, runner, 0, identity, ScriptOptions.For(runner, _helper));
        var result = PodBuilder.Build(runner, job, 0, identity, _scripts);
        Assert.True(result.Plan is not null, result.Refusal);
        _plan = result.Plan;
        foreach (var container in _plan.Pod.Spec.Containers)
        {
            container.Image = "alpine:3.20"; // the helper image too: images resolve to the host's filesystem
        }

        var created = await _client.CoreV1.CreateNamespacedPodAsync(_plan.Pod, _plan.Namespace);
        foreach (var secret in _plan.SecretsOwnedBy(created))
        {
            await _client.CoreV1.CreateNamespacedSecretAsync(secret, _plan.Namespace);
        }

        for (var i = 0; i < 300; i++)
        {
            var pod = await _client.CoreV1.ReadNamespacedPodAsync(_plan.PodName, _plan.Namespace);
            if (pod.Status?.Phase == "Running" && pod.Status.ContainerStatuses?.All(c => c.Ready) == true)
            {
                return;
            }

            await Task.Delay(100);
        }

        var last = await _client.CoreV1.ReadNamespacedPodAsync(_plan.PodName, _plan.Namespace);
        var events = await _client.CoreV1.ListNamespacedEventAsync(_plan.Namespace);
        var buildLog = await new StreamReader(await _client.CoreV1.ReadNamespacedPodLogAsync(_plan.PodName, _plan.Namespace, PodBuilder.BuildContainer)).ReadToEndAsync();
        throw new TimeoutException("the job pod did not start: " + KubernetesJson.Serialize(last.Status) + "\n"
            + string.Join("\n", events.Items.Select(e => $"{e.Reason}: {e.Message}")) + "\nbuild log: " + buildLog);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private async Task<(int Code, byte[] Stdout, string Stderr)> ExecAsync(string container, IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
    {
        byte[] stdout = [];
        var stderr = "";
        try
        {
            return await Run();
        }
        catch (System.Net.WebSockets.WebSocketException e)
        {
            var pod = await _client.CoreV1.ReadNamespacedPodAsync(_plan.PodName, _plan.Namespace);
            throw new InvalidOperationException($"exec {string.Join(' ', argv.Take(3))} refused: {KubernetesJson.Serialize(pod.Status)}", e);
        }

        async Task<(int, byte[], string)> Run()
        {
        var code = await _client.NamespacedPodExecAsync(_plan.PodName, _plan.Namespace, container, argv.ToArray(), false, async (_, output, error) =>
        {
            var buffer = new MemoryStream();
            var readError = new StreamReader(error).ReadToEndAsync(CancellationToken.None);
            // The demuxed streams do not observe the token: the drop is made explicit, and the client then closes the socket.
            var copy = output.CopyToAsync(buffer, CancellationToken.None);
            await Task.WhenAny(copy, Task.Delay(Timeout.Infinite, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            await copy;
            stdout = buffer.ToArray();
            stderr = await readError;
        }, cancellationToken);
        return (code, stdout, stderr);
        }
    }

    private async Task<int?> WaitAsync(StagePlan stage, CancellationToken cancellationToken = default)
    {
        var (code, stdout, stderr) = await ExecAsync(stage.Container, StageCommands.Wait(stage), cancellationToken);
        Assert.True(code == 0, stderr);
        return StageCommands.ParseExitCode(Encoding.UTF8.GetString(stdout));
    }

    private async Task<string> LogAsync(long offset = 0)
    {
        var (code, stdout, stderr) = await ExecAsync(PodBuilder.HelperContainer, StageCommands.ReadLog(_helper, offset, follow: false));
        Assert.True(code == 0, stderr);
        return Encoding.UTF8.GetString(stdout);
    }

    [Fact]
    public async Task A_launched_stage_reports_its_exit_code_and_its_output_is_read_by_offset()
    {
        var stage = _scripts.Find(JobScripts.StepScript)!;
        var launch = await ExecAsync(stage.Container, StageCommands.Launch(stage));
        Assert.True(launch.Code == 0, launch.Stderr);
        Assert.Equal(3, await WaitAsync(stage));

        var log = await LogAsync();
        Assert.Contains("\u001b[32;1m$ echo \"hello from $CI_JOB_ID with $SECRET_WORD\"\u001b[0;m\nhello from 4242 with swordfish\n", log, StringComparison.Ordinal);
        Assert.Matches("section_end:\\d+:step_script\r\u001b\\[0K\n$", log);

        var whole = (await ExecAsync(PodBuilder.BuildContainer, StageCommands.ReadFile(StageCommands.OutputLog))).Stdout;
        Assert.Equal(Encoding.UTF8.GetBytes(log), whole);
        var middle = whole.Length / 2;
        Assert.Equal(Encoding.UTF8.GetString(whole[middle..]), await LogAsync(middle));
    }

    [Fact]
    public async Task A_dropped_exec_connection_does_not_stop_the_stage()
    {
        var stage = _scripts.Find(JobScripts.AfterScript)!;
        Assert.Equal(0, (await ExecAsync(stage.Container, StageCommands.Launch(stage))).Code);

        using var drop = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WaitAsync(stage, drop.Token));
        var marker = await ExecAsync(stage.Container, ["sh", "-c", "test -e \"$1\" && echo exists || echo absent", "sh", StageCommands.ExitMarker(stage)]);
        Assert.Equal("absent\n", Encoding.UTF8.GetString(marker.Stdout)); // the drop came before the stage's end

        Assert.Equal(0, await WaitAsync(stage));
        Assert.Contains("\nafter-done\n", await LogAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dropped_run_exec_leaves_the_stage_running_and_running_it_again_only_waits()
    {
        var stage = _scripts.Find(JobScripts.AfterScript)!;

        // The connection drops while the run exec waits: the embedded cluster then kills the exec's process tree.
        using var drop = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExecAsync(stage.Container, StageCommands.Run(stage), drop.Token));
        var marker = await ExecAsync(stage.Container, ["sh", "-c", "test -e \"$1\" && echo exists || echo absent", "sh", StageCommands.ExitMarker(stage)]);
        Assert.Equal("absent\n", Encoding.UTF8.GetString(marker.Stdout)); // the drop came before the stage's end

        // A stage killed with the dropped exec would never write its marker: the wait is bounded so the test fails instead.
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (code, stdout, stderr) = await ExecAsync(stage.Container, StageCommands.Run(stage), bounded.Token);
        Assert.True(code == 0, stderr);
        var log = await LogAsync();
        Assert.Equal(new ExitMarkerText(0, Encoding.UTF8.GetByteCount(log)), StageCommands.ParseExitMarker(Encoding.UTF8.GetString(stdout)));
        Assert.Single(log.Split('\n'), line => line == "after-done"); // it ran once, to its end
    }

    [Fact]
    public async Task Two_runs_at_once_run_the_stage_once_and_both_report_its_marker()
    {
        var stage = _scripts.Find(JobScripts.StepScript)!;
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var runs = await Task.WhenAll(ExecAsync(stage.Container, StageCommands.Run(stage), bounded.Token),
            ExecAsync(stage.Container, StageCommands.Run(stage), bounded.Token));

        var log = await LogAsync();
        Assert.All(runs, run => Assert.Equal(new ExitMarkerText(3, Encoding.UTF8.GetByteCount(log)),
            StageCommands.ParseExitMarker(Encoding.UTF8.GetString(run.Stdout))));
        Assert.Single(log.Split('\n'), line => line == "hello from 4242 with swordfish");
    }

    [Fact]
    public async Task A_second_launch_does_not_run_the_stage_twice()
    {
        var stage = _scripts.Find(JobScripts.StepScript)!;
        Assert.Equal((0, "launched\n"), await LaunchAsync(stage));
        Assert.Equal((0, "already launched\n"), await LaunchAsync(stage));
        Assert.Equal(3, await WaitAsync(stage));
        Assert.Equal((0, "already launched\n"), await LaunchAsync(stage)); // decided before anything detached
        var log = await LogAsync();
        Assert.Single(log.Split('\n'), line => line == "hello from 4242 with swordfish");
    }

    private async Task<(int Code, string Output)> LaunchAsync(StagePlan stage)
    {
        var result = await ExecAsync(stage.Container, StageCommands.Launch(stage));
        return (result.Code, Encoding.UTF8.GetString(result.Stdout));
    }

    [Fact]
    public async Task Kill_ends_a_running_stage_with_the_killed_exit_code()
    {
        var stage = _scripts.Find(JobScripts.AfterScript)!;
        Assert.Equal(0, (await ExecAsync(stage.Container, StageCommands.Launch(stage))).Code);
        await Task.Delay(500);
        Assert.Equal(0, (await ExecAsync(stage.Container, StageCommands.Kill(stage))).Code);
        Assert.Equal(StageCommands.KilledExitCode, await WaitAsync(stage));
        Assert.DoesNotContain("after-done", await LogAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follow_streams_the_log_while_stages_write_it()
    {
        var stage = _scripts.Find(JobScripts.AfterScript)!;
        using var stop = new CancellationTokenSource();
        var received = new MemoryStream();
        var follow = _client.NamespacedPodExecAsync(_plan.PodName, _plan.Namespace, PodBuilder.HelperContainer,
            StageCommands.ReadLog(_helper, 0, follow: true).ToArray(), false, async (_, output, _) =>
            {
                var buffer = new byte[4096];
                while (true)
                {
                    // As in ExecAsync: the token is observed here, and the client then closes the connection.
                    var reading = output.ReadAsync(buffer, 0, buffer.Length);
                    await Task.WhenAny(reading, Task.Delay(Timeout.Infinite, stop.Token));
                    stop.Token.ThrowIfCancellationRequested();
                    var read = await reading;
                    if (read == 0)
                    {
                        break;
                    }

                    lock (received)
                    {
                        received.Write(buffer, 0, read);
                    }
                }
            }, stop.Token);

        Assert.Equal(0, (await ExecAsync(stage.Container, StageCommands.Launch(stage))).Code);
        Assert.Equal(0, await WaitAsync(stage));
        string Text()
        {
            lock (received)
            {
                return Encoding.UTF8.GetString(received.ToArray());
            }
        }

        for (var i = 0; i < 50 && !Text().Contains("section_end", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }

        Assert.False(follow.IsCompleted, "read-log --follow must not end on its own");
        Assert.Equal(await LogAsync(), Text());
        await stop.CancelAsync();
        var ended = await Task.WhenAny(follow, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(follow, ended);
    }
}
