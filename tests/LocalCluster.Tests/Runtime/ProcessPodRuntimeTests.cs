using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>Pods really run as sandboxed host processes (bubblewrap on this machine).</summary>
public sealed class ProcessPodRuntimeTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "runtime-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public Task InitializeAsync()
    {
        // Root is allowed for the pod that asks for it (writes at "/" need root); every other pod runs as its own user.
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir, MissingImages = ["registry.example/missing*"], AllowRootContainers = true }, _host);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private async Task<string> LogsAsync(string pod, PodLogOptions? options = null)
    {
        using var output = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _runtime.StreamLogAsync("ci", pod, options ?? new PodLogOptions(), output, timeout.Token);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    private Task<V1PodStatus> CompletedAsync(string pod) =>
        _host.WaitForStatusAsync(pod, s => s.Phase is "Succeeded" or "Failed");

    [Fact]
    public async Task Status_goes_from_pending_through_running_to_succeeded()
    {
        _runtime.PodCreated(Pod("ok", Shell("main", "sleep 0.3; echo done")));

        var final = await CompletedAsync("ok");

        Assert.Equal("Succeeded", final.Phase);
        var phases = _host.Statuses("ok").Select(s => s.Phase).Distinct().ToList();
        Assert.Equal(["Pending", "Running", "Succeeded"], phases);
        var terminated = final.Container("main").State.Terminated;
        Assert.Equal(0, terminated.ExitCode);
        Assert.Equal("Completed", terminated.Reason);
        Assert.StartsWith("local://", terminated.ContainerID);
        Assert.True(terminated.FinishedAt >= terminated.StartedAt);
        Assert.Equal("127.0.0.1", final.PodIP);
        Assert.Equal("BestEffort", final.QosClass);
        Assert.NotNull(final.StartTime);
        Assert.Contains(final.Conditions, c => c.Type == "PodScheduled" && c.Status == "True");
        Assert.Contains(final.Conditions, c => c.Type == "Ready" && c.Status == "False" && c.Reason == "PodCompleted");
        var running = _host.Statuses("ok").First(s => s.Phase == "Running");
        Assert.True(running.Container("main").Ready);
        Assert.NotNull(running.Container("main").State.Running.StartedAt);
        Assert.Contains(running.Conditions, c => c.Type == "Ready" && c.Status == "True");
        Assert.Equal(["Scheduled", "Pulled", "Created", "Started"], _host.Events("ok").Select(e => e.Reason).ToList());
        Assert.Equal("local-node", _host.Bindings["ok"]);
        Assert.Equal("done\n", await LogsAsync("ok"));
    }

    [Fact]
    public async Task A_failing_container_fails_the_pod_with_its_exit_code()
    {
        _runtime.PodCreated(Pod("fails", Shell("main", "exit 3")));

        var final = await CompletedAsync("fails");

        Assert.Equal("Failed", final.Phase);
        Assert.Equal(3, final.Container("main").State.Terminated.ExitCode);
        Assert.Equal("Error", final.Container("main").State.Terminated.Reason);
    }

    [Fact]
    public async Task Containers_of_a_pod_share_an_empty_dir()
    {
        var pod = Pod("shared",
                Shell("writer", "echo hello > /shared/msg.tmp && mv /shared/msg.tmp /shared/msg", Mount("data", "/shared")),
                Shell("reader", "while [ ! -f /data/msg ]; do sleep 0.05; done; cat /data/msg", Mount("data", "/data")))
            .WithVolumes(new V1Volume { Name = "data", EmptyDir = new V1EmptyDirVolumeSource() });
        _runtime.PodCreated(pod);

        Assert.Equal("Succeeded", (await CompletedAsync("shared")).Phase);
        Assert.Equal("hello\n", await LogsAsync("shared", new PodLogOptions { Container = "reader" }));
    }

    [Fact]
    public async Task Memory_empty_dir_lives_on_tmpfs()
    {
        var pod = Pod("shm", Shell("main", "stat -f -c %T /cache", Mount("cache", "/cache")))
            .WithVolumes(new V1Volume { Name = "cache", EmptyDir = new V1EmptyDirVolumeSource { Medium = "Memory" } });
        _runtime.PodCreated(pod);

        Assert.Equal("Succeeded", (await CompletedAsync("shm")).Phase);
        Assert.Equal("tmpfs\n", await LogsAsync("shm"));
        Assert.True(Directory.Exists(PodVolumes.MemoryDir(pod.Metadata.Uid)));

        await _runtime.KillPodAsync("ci", "shm", pod.Metadata.Uid, 0);

        Assert.False(Directory.Exists(PodVolumes.MemoryDir(pod.Metadata.Uid)));
    }

    [Fact]
    public async Task A_read_only_host_path_refuses_writes()
    {
        var hostDir = Directory.CreateDirectory(Path.Combine(_stateDir, "host-ro")).FullName;
        File.WriteAllText(Path.Combine(hostDir, "existing"), "keep");
        var pod = Pod("ro", Shell("main", "cat /ro/existing; echo; echo changed > /ro/existing", Mount("host", "/ro", readOnly: true)))
            .WithVolumes(new V1Volume { Name = "host", HostPath = new V1HostPathVolumeSource { Path = hostDir } });
        _runtime.PodCreated(pod);

        var final = await CompletedAsync("ro");

        Assert.Equal("Failed", final.Phase);
        Assert.NotEqual(0, final.Container("main").State.Terminated.ExitCode);
        Assert.Equal("keep", File.ReadAllText(Path.Combine(hostDir, "existing")));
        Assert.Contains("Read-only file system", await LogsAsync("ro"));
    }

    [Fact]
    public async Task Secret_items_and_config_map_files_appear_at_their_paths()
    {
        _host.Secrets[("ci", "creds")] = new V1Secret
        {
            Data = new Dictionary<string, byte[]> { ["user"] = "bob"u8.ToArray(), ["password"] = "s3cret"u8.ToArray() },
        };
        _host.ConfigMaps[("ci", "settings")] = new V1ConfigMap { Data = new Dictionary<string, string> { ["a.conf"] = "alpha", ["b.conf"] = "beta" } };
        var pod = Pod("files",
                Shell("main", "cat /creds/nested/dir/pw; echo; ls /creds; cat /app-config/a.conf /app-config/b.conf",
                    Mount("creds", "/creds", readOnly: true), Mount("settings", "/app-config")))
            .WithVolumes(
                new V1Volume { Name = "creds", Secret = new V1SecretVolumeSource { SecretName = "creds", Items = [new V1KeyToPath { Key = "password", Path = "nested/dir/pw" }] } },
                new V1Volume { Name = "settings", ConfigMap = new V1ConfigMapVolumeSource { Name = "settings" } });
        _runtime.PodCreated(pod);

        Assert.Equal("Succeeded", (await CompletedAsync("files")).Phase);
        Assert.Equal("s3cret\nnested\nalphabeta", await LogsAsync("files"));
    }

    [Fact]
    public async Task A_claim_directory_survives_its_pod()
    {
        _host.Claims[("ci", "cache")] = new V1PersistentVolumeClaim { Metadata = new V1ObjectMeta { Name = "cache" } };
        var pod = Pod("pvc", Shell("main", "echo kept > /cache/file", Mount("cache", "/cache")))
            .WithVolumes(new V1Volume { Name = "cache", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = "cache" } });
        _runtime.PodCreated(pod);
        Assert.Equal("Succeeded", (await CompletedAsync("pvc")).Phase);

        await _runtime.KillPodAsync("ci", "pvc", pod.Metadata.Uid, 0);

        Assert.Equal("kept\n", File.ReadAllText(Path.Combine(_stateDir, "pvc", "ci", "cache", "file")));
        Assert.False(Directory.Exists(Path.Combine(_stateDir, "pods", pod.Metadata.Uid)));
    }

    [Fact]
    public async Task A_missing_secret_holds_the_container_until_it_appears()
    {
        var pod = Pod("late", Shell("main", "cat /s/token", Mount("token", "/s")))
            .WithVolumes(new V1Volume { Name = "token", Secret = new V1SecretVolumeSource { SecretName = "job-token" } });
        _runtime.PodCreated(pod);

        var failedMount = await _host.WaitForEventAsync("late", "FailedMount");
        Assert.Equal("Warning", failedMount.Type);
        Assert.Contains("secret \"job-token\" not found", failedMount.Message);
        var waiting = await _host.WaitForStatusAsync("late", s => s.ContainerStatuses?.Count == 1);
        Assert.Equal("ContainerCreating", waiting.Container("main").State.Waiting.Reason);
        Assert.Equal("Pending", waiting.Phase);

        _host.Secrets[("ci", "job-token")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["token"] = "abc"u8.ToArray() } };

        Assert.Equal("Succeeded", (await CompletedAsync("late")).Phase);
        Assert.Equal("abc", await LogsAsync("late"));
    }

    [Fact]
    public async Task A_missing_env_secret_key_is_a_config_error_until_it_appears()
    {
        var container = Shell("main", "echo $TOKEN");
        container.Env = [new V1EnvVar { Name = "TOKEN", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "env", Key = "token" } } }];
        _runtime.PodCreated(Pod("envsecret", container));

        var waiting = await _host.WaitForStatusAsync("envsecret", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "CreateContainerConfigError");
        Assert.Equal("secret \"env\" not found", waiting.Container("main").State.Waiting.Message);

        _host.Secrets[("ci", "env")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["token"] = "t0k"u8.ToArray() } };

        Assert.Equal("Succeeded", (await CompletedAsync("envsecret")).Phase);
        Assert.Equal("t0k\n", await LogsAsync("envsecret"));
    }

    [Fact]
    public async Task A_missing_image_fails_to_pull_then_backs_off()
    {
        var container = Shell("main", "echo never");
        container.Image = "registry.example/missing/app:1";
        _runtime.PodCreated(Pod("noimage", container));

        await _host.WaitForStatusAsync("noimage", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "ImagePullBackOff");

        var reasons = _host.Statuses("noimage").Select(s => s.ContainerStatuses?.FirstOrDefault()?.State.Waiting?.Reason).Distinct().ToList();
        Assert.Contains("ErrImagePull", reasons);
        Assert.True(reasons.IndexOf("ErrImagePull") < reasons.IndexOf("ImagePullBackOff"));
        Assert.Contains(_host.Events("noimage"), e => e.Type == "Warning" && e.Reason == "Failed" && e.Message.StartsWith("Failed to pull image \"registry.example/missing/app:1\""));
        Assert.DoesNotContain(_host.Events("noimage"), e => e.Reason == "Started");
        Assert.Equal("Pending", _host.Latest("noimage")!.Phase);
        var error = await Assert.ThrowsAsync<PodRuntimeException>(() => LogsAsync("noimage"));
        Assert.Equal(400, error.HttpStatus);
        Assert.Equal("container \"main\" in pod \"noimage\" is waiting to start: ImagePullBackOff", error.Message);
    }

    [Theory]
    [InlineData("echo out; echo err >&2", 0, "out\n", "err\n")]
    [InlineData("echo partial; exit 3", 3, "partial\n", "")]
    [InlineData("no-such-command-here", 127, "", "not found")]
    public async Task Exec_returns_the_exit_code_and_output(string script, int exitCode, string stdout, string stderrContains)
    {
        _runtime.PodCreated(Pod("exec", Shell("main", "sleep 30")));
        await _host.WaitForStatusAsync("exec", s => s.Phase == "Running");

        using var output = new MemoryStream();
        using var errors = new MemoryStream();
        var code = await _runtime.ExecAsync(new ExecRequest("ci", "exec", null, ["sh", "-c", script], false), new ExecStreams(null, output, errors), CancellationToken.None);

        Assert.Equal(exitCode, code);
        Assert.Equal(stdout, Encoding.UTF8.GetString(output.ToArray()));
        Assert.Contains(stderrContains, Encoding.UTF8.GetString(errors.ToArray()));
    }

    [Fact]
    public async Task Exec_of_a_missing_binary_is_127_and_stdin_reaches_the_command()
    {
        var container = Shell("main", "sleep 30", Mount("work", "/work"));
        container.WorkingDir = "/work";
        _runtime.PodCreated(Pod("exec2", container).WithVolumes(new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() }));
        await _host.WaitForStatusAsync("exec2", s => s.Phase == "Running");

        Assert.Equal(127, await _runtime.ExecAsync(new ExecRequest("ci", "exec2", "main", ["/no/such/binary"], false), new ExecStreams(null, null, null), CancellationToken.None));

        using var output = new MemoryStream();
        var code = await _runtime.ExecAsync(new ExecRequest("ci", "exec2", "main", ["sh", "-c", "cat > script.sh; sh script.sh; pwd"], false),
            new ExecStreams(new MemoryStream("echo from-stdin\n"u8.ToArray()), output, null), CancellationToken.None);
        Assert.Equal(0, code);
        Assert.Equal("from-stdin\n/work\n", Encoding.UTF8.GetString(output.ToArray()));

        using var terminal = new MemoryStream();
        var ttyCode = await _runtime.ExecAsync(new ExecRequest("ci", "exec2", "main", ["sh", "-c", "echo oops >&2; exit 4"], true),
            new ExecStreams(null, terminal, null), CancellationToken.None);
        Assert.Equal(4, ttyCode);
        Assert.Equal("oops\n", Encoding.UTF8.GetString(terminal.ToArray()));
    }

    [Theory]
    [InlineData(null, null)] // the pod's volume group is its own gid: nsenter changes the user
    [InlineData(3000L, 4000L)] // supplementary groups: setpriv sets them
    public async Task Exec_runs_with_the_containers_uid_gid_and_supplementary_groups(long? fsGroup, long? supplementalGroup)
    {
        var pod = Pod("ids", Shell("main", "id -u; id -g; id -G; sleep 30"));
        pod.Spec.SecurityContext = new V1PodSecurityContext { FsGroup = fsGroup, SupplementalGroups = supplementalGroup is { } g ? [g] : null };
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("ids", s => s.Phase == "Running");
        string container;
        do
        {
            await Task.Delay(20);
            container = await LogsAsync("ids");
        } while (container.Split('\n').Length < 4);

        using var output = new MemoryStream();
        var code = await _runtime.ExecAsync(new ExecRequest("ci", "ids", "main", ["sh", "-c", "id -u; id -g; id -G"], false),
            new ExecStreams(null, output, null), CancellationToken.None);

        Assert.Equal(0, code);
        Assert.Equal(container, Encoding.UTF8.GetString(output.ToArray()));
        Assert.Equal(fsGroup is null ? "65532\n65532\n65532\n" : "65532\n65532\n65532 3000 4000\n", container);
    }

    [Theory]
    [InlineData("/no/such/binary", 127, "No such file or directory")]
    [InlineData("/etc", 126, "Permission denied")]
    public async Task A_container_command_that_cannot_start_exits_as_from_a_shell(string command, int exitCode, string message)
    {
        _runtime.PodCreated(Pod("nostart", new V1Container { Name = "main", Image = "alpine:3", Command = [command] }));

        var final = await CompletedAsync("nostart");

        Assert.Equal(exitCode, final.Container("main").State.Terminated.ExitCode);
        Assert.Contains(message, await LogsAsync("nostart"));
    }

    [Fact]
    public async Task Exec_into_a_finished_pod_or_unknown_container_is_refused()
    {
        _runtime.PodCreated(Pod("done", Shell("main", "true")));
        await CompletedAsync("done");

        var finished = await Assert.ThrowsAsync<PodRuntimeException>(() =>
            _runtime.ExecAsync(new ExecRequest("ci", "done", null, ["true"], false), new ExecStreams(null, null, null), CancellationToken.None));
        Assert.Equal(400, finished.HttpStatus);
        var unknown = await Assert.ThrowsAsync<PodRuntimeException>(() =>
            _runtime.ExecAsync(new ExecRequest("ci", "done", "nope", ["true"], false), new ExecStreams(null, null, null), CancellationToken.None));
        Assert.Equal("container nope is not valid for pod done", unknown.Message);
        var missing = await Assert.ThrowsAsync<PodRuntimeException>(() => LogsAsync("absent"));
        Assert.Equal(404, missing.HttpStatus);
    }

    [Fact]
    public async Task Logs_honour_tail_lines_limit_bytes_and_timestamps()
    {
        _runtime.PodCreated(Pod("logs", Shell("main", "for i in 1 2 3 4 5; do echo line$i; done; printf tail")));
        await CompletedAsync("logs");

        Assert.Equal("line4\nline5\ntail", await LogsAsync("logs", new PodLogOptions { TailLines = 3 }));
        Assert.Equal("line1\nli", await LogsAsync("logs", new PodLogOptions { LimitBytes = 8 }));
        var stamped = (await LogsAsync("logs", new PodLogOptions { Timestamps = true, TailLines = 1 })).Split(' ', 2);
        Assert.True(ContainerLog.TryParseTime(stamped[0], out var time));
        Assert.InRange(time, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow);
        Assert.Equal("tail", stamped[1]);
        Assert.Equal("", await LogsAsync("logs", new PodLogOptions { SinceTime = DateTimeOffset.UtcNow.AddMinutes(1) }));
    }

    [Fact]
    public async Task Follow_streams_until_the_container_ends()
    {
        _runtime.PodCreated(Pod("follow", Shell("main", "echo first; sleep 0.5; printf 'no-newline'; sleep 0.5; echo ' last'")));
        await _host.WaitForStatusAsync("follow", s => s.Phase == "Running");

        var text = await LogsAsync("follow", new PodLogOptions { Follow = true });

        Assert.Equal("first\nno-newline last\n", text);
        Assert.Equal("Succeeded", _host.Latest("follow")!.Phase);
    }

    [Fact]
    public async Task Env_working_dir_and_run_as_user_are_honoured()
    {
        var container = Shell("main", "echo $GREETING $COMPOSED $HOSTNAME; pwd; id -u; id -g");
        container.Env =
        [
            new V1EnvVar { Name = "GREETING", Value = "hi" },
            new V1EnvVar { Name = "COMPOSED", Value = "$(GREETING)-there" },
        ];
        container.WorkingDir = Path.Combine(_stateDir, "made", "for", "me");
        container.SecurityContext = new V1SecurityContext { RunAsUser = 1234 };
        var pod = Pod("identity", container);
        pod.Spec.SecurityContext = new V1PodSecurityContext { RunAsGroup = 4321 };
        _runtime.PodCreated(pod);

        Assert.Equal("Succeeded", (await CompletedAsync("identity")).Phase);
        Assert.Equal($"hi hi-there identity\n{container.WorkingDir}\n1234\n4321\n", await LogsAsync("identity"));
    }

    [Fact]
    public async Task Active_deadline_kills_the_pod()
    {
        var pod = Pod("deadline", Shell("main", "sleep 30"));
        pod.Spec.ActiveDeadlineSeconds = 1;
        _runtime.PodCreated(pod);

        var final = await _host.WaitForStatusAsync("deadline", s => s.Phase == "Failed", timeoutSeconds: 8);

        Assert.Equal("DeadlineExceeded", final.Reason);
        Assert.Equal(143, final.Container("main").State.Terminated.ExitCode);
        Assert.Contains(_host.Events("deadline"), e => e.Reason == "DeadlineExceeded");
    }

    [Fact]
    public async Task Active_deadline_also_ends_a_pod_waiting_for_its_image()
    {
        var container = Shell("main", "true");
        container.Image = "registry.example/missing:1";
        var pod = Pod("deadline-pull", container);
        pod.Spec.ActiveDeadlineSeconds = 1;
        _runtime.PodCreated(pod);

        var final = await _host.WaitForStatusAsync("deadline-pull", s => s.Phase == "Failed", timeoutSeconds: 8);

        Assert.Equal("DeadlineExceeded", final.Reason);
    }

    [Fact]
    public async Task Kill_leaves_no_process_of_the_pod()
    {
        // A sleep length unique to this run, so that only this pod's processes are counted.
        var sleep = $"sleep 60.{Random.Shared.Next(100000, 999999)}";
        var pod = Pod("victim", Shell("main", $"trap '' TERM; {sleep} & {sleep} & wait"));
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("victim", s => s.Phase == "Running");
        _runtime.PodCreated(Pod("bystander", Shell("main", "sleep 30")));
        await _host.WaitForStatusAsync("bystander", s => s.Phase == "Running");
        var execTask = _runtime.ExecAsync(new ExecRequest("ci", "victim", null, sleep.Split(' '), false), new ExecStreams(null, null, null), CancellationToken.None);
        var podPids = await WaitForProcessesAsync(sleep, 3);
        Assert.Equal(3, podPids.Count);

        await _runtime.KillPodAsync("ci", "victim", pod.Metadata.Uid, 3);

        Assert.All(podPids, pid => Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ")));
        // The exec got SIGTERM; the container (TERM ignored, inherited by its sleeps) needed the SIGKILL.
        Assert.Equal(143, await execTask.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(Directory.Exists(Path.Combine(_stateDir, "pods", pod.Metadata.Uid)));
        Assert.Equal("Running", _host.Latest("bystander")!.Phase);
    }

    // Finds host processes whose command line is exactly the given one (this test's unique sleep length); the program
    // may be named by its path (an exec's argv[0] is the path its command was found at).
    private static async Task<List<int>> WaitForProcessesAsync(string commandLine, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var pids = Directory.EnumerateDirectories("/proc")
                .Select(Path.GetFileName)
                .Where(name => int.TryParse(name, out _))
                .Where(name =>
                {
                    try
                    {
                        var words = File.ReadAllText($"/proc/{name}/cmdline").TrimEnd('\0').Split('\0');
                        return string.Join(' ', [Path.GetFileName(words[0]), .. words[1..]]) == commandLine;
                    }
                    catch (IOException) { return false; }
                })
                .Select(name => int.Parse(name!))
                .ToList();
            if (pids.Count >= count || DateTime.UtcNow > deadline) return pids;
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task An_unschedulable_pod_stays_pending_with_a_reason()
    {
        var pod = Pod("picky", Shell("main", "true"));
        pod.Spec.NodeSelector = new Dictionary<string, string> { ["disk"] = "ssd" };
        _runtime.PodCreated(pod);

        var status = await _host.WaitForStatusAsync("picky", s => s.Conditions?.Count > 0);
        var scheduled = Assert.Single(status.Conditions);
        Assert.Equal(("PodScheduled", "False", "Unschedulable"), (scheduled.Type, scheduled.Status, scheduled.Reason));
        Assert.Equal("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", scheduled.Message);
        Assert.Equal("Pending", status.Phase);
        var failed = await _host.WaitForEventAsync("picky", "FailedScheduling");
        Assert.Equal("Warning", failed.Type);
        Assert.False(_host.Bindings.ContainsKey("picky"));
    }

    [Fact]
    public async Task Init_containers_run_in_order_before_the_containers()
    {
        var pod = Pod("init", Shell("main", "cat /work/order", Mount("work", "/work")))
            .WithVolumes(new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() });
        pod.Spec.InitContainers = [Shell("first", "echo first >> /work/order", Mount("work", "/work")), Shell("second", "echo second >> /work/order", Mount("work", "/work"))];
        _runtime.PodCreated(pod);

        var final = await CompletedAsync("init");

        Assert.Equal("Succeeded", final.Phase);
        Assert.Equal("first\nsecond\n", await LogsAsync("init"));
        Assert.All(final.InitContainerStatuses, s => Assert.Equal("Completed", s.State.Terminated.Reason));
        var initializing = _host.Statuses("init").First(s => s.InitContainerStatuses?[0].State.Running is not null);
        Assert.Equal("PodInitializing", initializing.Container("main").State.Waiting.Reason);
        Assert.Contains(initializing.Conditions, c => c.Type == "Initialized" && c.Status == "False");
        Assert.Contains(final.Conditions, c => c.Type == "Initialized" && c.Status == "True");
    }

    [Fact]
    public async Task A_failed_init_container_fails_the_pod_and_the_containers_never_start()
    {
        var pod = Pod("badinit", Shell("main", "echo never"));
        pod.Spec.InitContainers = [Shell("setup", "exit 2")];
        _runtime.PodCreated(pod);

        var final = await CompletedAsync("badinit");

        Assert.Equal("Failed", final.Phase);
        Assert.Equal(2, final.InitContainerStatuses[0].State.Terminated.ExitCode);
        Assert.NotNull(final.Container("main").State.Waiting);
    }

    [Fact]
    public async Task Killing_a_pod_that_waits_for_its_volumes_completes_at_once()
    {
        var pod = Pod("stuck", Shell("main", "true", Mount("v", "/v")))
            .WithVolumes(new V1Volume { Name = "v", ConfigMap = new V1ConfigMapVolumeSource { Name = "never" } });
        _runtime.PodCreated(pod);
        await _host.WaitForEventAsync("stuck", "FailedMount");

        await _runtime.KillPodAsync("ci", "stuck", pod.Metadata.Uid, 30).WaitAsync(TimeSpan.FromSeconds(5));

        var missing = await Assert.ThrowsAsync<PodRuntimeException>(() => LogsAsync("stuck"));
        Assert.Equal(404, missing.HttpStatus);
    }

    [Fact]
    public async Task Graceful_kill_lets_a_term_handler_finish_and_reports_its_exit_code()
    {
        var pod = Pod("graceful", Shell("main", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done"));
        _runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("graceful", s => s.Phase == "Running");
        // SIGTERM before the trap is set would simply end the shell: wait until it is.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!(await LogsAsync("graceful")).Contains("ready") && DateTime.UtcNow < deadline) await Task.Delay(20);

        var kill = _runtime.KillPodAsync("ci", "graceful", pod.Metadata.Uid, 10);
        await kill.WaitAsync(TimeSpan.FromSeconds(5));

        // Exit 0, not 143: the shell's TERM trap ran.
        var final = _host.Latest("graceful")!;
        Assert.Equal(0, final.Container("main").State.Terminated.ExitCode);
        Assert.Equal("Succeeded", final.Phase);
    }

    [Fact]
    public async Task Hostile_names_stay_inside_the_state_dir_and_a_bad_sub_path_is_a_container_error()
    {
        var outside = Path.Combine(Path.GetTempPath(), "evil-" + Guid.NewGuid().ToString("N"));
        var pod = Pod("hostile", Shell("main", "echo in > /v/f", Mount("../../" + Path.GetFileName(outside), "/v")))
            .WithVolumes(new V1Volume { Name = "../../" + Path.GetFileName(outside), EmptyDir = new V1EmptyDirVolumeSource() });
        pod.Metadata.Uid = "../../" + Path.GetFileName(outside);
        _runtime.PodCreated(pod);
        Assert.Equal("Succeeded", (await CompletedAsync("hostile")).Phase);

        var badSubPath = Shell("main", "true", Mount("v", "/v"));
        badSubPath.VolumeMounts[0].SubPath = "../../etc";
        _runtime.PodCreated(Pod("subpath", badSubPath).WithVolumes(new V1Volume { Name = "v", EmptyDir = new V1EmptyDirVolumeSource() }));
        var refused = await _host.WaitForStatusAsync("subpath", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "RunContainerError");

        Assert.False(Directory.Exists(outside));
        Assert.Single(Directory.GetFiles(Path.Combine(_stateDir, "pods"), "f", SearchOption.AllDirectories));
        Assert.Contains("subPath", refused.Container("main").State.Waiting.Message);
        await _runtime.KillPodAsync("ci", "hostile", pod.Metadata.Uid, 0);
        Assert.False(Directory.Exists(outside));
    }

    [Fact]
    public async Task Projected_and_downward_volumes_write_their_files()
    {
        _host.ConfigMaps[("ci", "kube-root-ca.crt")] = new V1ConfigMap { Data = new Dictionary<string, string> { ["ca.crt"] = "CA" } };
        var pod = Pod("projected", Shell("main", "cat /sa/ca.crt /sa/namespace /info/name; wc -c < /sa/token", Mount("sa", "/sa", readOnly: true), Mount("info", "/info")))
            .WithVolumes(
                new V1Volume
                {
                    Name = "sa",
                    Projected = new V1ProjectedVolumeSource
                    {
                        Sources =
                        [
                            new V1VolumeProjection { ServiceAccountToken = new V1ServiceAccountTokenProjection { Path = "token" } },
                            new V1VolumeProjection { ConfigMap = new V1ConfigMapProjection { Name = "kube-root-ca.crt", Items = [new V1KeyToPath { Key = "ca.crt", Path = "ca.crt" }] } },
                            new V1VolumeProjection { DownwardAPI = new V1DownwardAPIProjection { Items = [new V1DownwardAPIVolumeFile { Path = "namespace", FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } }] } },
                        ],
                    },
                },
                new V1Volume { Name = "info", DownwardAPI = new V1DownwardAPIVolumeSource { Items = [new V1DownwardAPIVolumeFile { Path = "name", FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } }] } });
        _runtime.PodCreated(pod);

        Assert.Equal("Succeeded", (await CompletedAsync("projected")).Phase);
        Assert.Equal("CAciprojected0\n", await LogsAsync("projected"));
    }

    [Theory]
    [InlineData("OnFailure", "Succeeded")]
    [InlineData("Always", "Running")]
    public async Task Restart_policies_restart_a_failed_container_with_back_off(string policy, string phaseAfterSuccess)
    {
        // Fails on its first run, succeeds on the next: the marker lives in an emptyDir that survives restarts.
        var pod = Pod("restarts", Shell("main", "if [ -f /state/ran ]; then echo second; exit 0; fi; touch /state/ran; echo first; exit 1", Mount("state", "/state")))
            .WithVolumes(new V1Volume { Name = "state", EmptyDir = new V1EmptyDirVolumeSource() });
        pod.Spec.RestartPolicy = policy;
        _runtime.PodCreated(pod);

        var backOff = await _host.WaitForReportedStatusAsync("restarts", s => s.ContainerStatuses?[0].State.Waiting?.Reason == "CrashLoopBackOff");
        Assert.Equal(1, backOff.Container("main").RestartCount);
        Assert.Equal(1, backOff.Container("main").LastState.Terminated.ExitCode);
        Assert.Equal("Running", backOff.Phase);
        var restarted = await _host.WaitForReportedStatusAsync("restarts", s => s.ContainerStatuses?[0].RestartCount >= 1 && s.ContainerStatuses[0].State.Running is not null);
        Assert.Equal("Running", restarted.Phase);
        var succeeded = await _host.WaitForReportedStatusAsync("restarts", s => s.ContainerStatuses?[0].State.Terminated?.ExitCode == 0);

        // OnFailure keeps a successful container; Always restarts it too, so the pod never completes.
        Assert.Equal(phaseAfterSuccess, succeeded.Phase);
        if (policy == "OnFailure")
        {
            Assert.Equal("second\n", await LogsAsync("restarts"));
            Assert.Equal("first\n", await LogsAsync("restarts", new PodLogOptions { Previous = true }));
        }
        Assert.Contains(_host.Events("restarts"), e => e.Reason == "BackOff");
    }

    [Fact]
    public async Task A_pod_bound_by_name_skips_the_scheduler()
    {
        var mine = Pod("bound", Shell("main", "echo ran"));
        mine.Spec.NodeName = "local-node";
        mine.Spec.NodeSelector = new Dictionary<string, string> { ["no"] = "such-label" };
        var elsewhere = Pod("elsewhere", Shell("main", "echo ran"));
        elsewhere.Spec.NodeName = "another-node";
        _runtime.PodCreated(mine);
        _runtime.PodCreated(elsewhere);

        Assert.Equal("Succeeded", (await CompletedAsync("bound")).Phase);
        Assert.False(_host.Bindings.ContainsKey("bound"));
        Assert.Empty(_host.Statuses("elsewhere"));
        Assert.Empty(_host.Events("elsewhere"));
    }

    [Fact]
    public async Task New_top_level_paths_stay_inside_the_sandbox()
    {
        var unique = "/scheduler-test-" + Guid.NewGuid().ToString("N")[..12];
        var container = Shell("main", $"echo x > {unique}-file && ls -d {unique} && pwd", Mount("v", unique));
        container.WorkingDir = unique + "-wd";
        container.SecurityContext = new V1SecurityContext { RunAsUser = 0 };
        _runtime.PodCreated(Pod("toplevel", container).WithVolumes(new V1Volume { Name = "v", EmptyDir = new V1EmptyDirVolumeSource() }));

        Assert.Equal("Succeeded", (await CompletedAsync("toplevel")).Phase);
        Assert.Equal($"{unique}\n{unique}-wd\n", await LogsAsync("toplevel"));
        Assert.False(Directory.Exists(unique));
        Assert.False(Directory.Exists(unique + "-wd"));
        Assert.False(File.Exists(unique + "-file"));
    }
}
