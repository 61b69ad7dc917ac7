using System.Diagnostics;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>
/// An exec joins its running container: started straight in it by the runtime (the joiner, one program per exec) or,
/// where that cannot work, through nsenter. Both ways give the command the same container, user and exit codes.
/// </summary>
public sealed class ExecJoinTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "exec-join-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private readonly List<ProcessPodRuntime> _runtimes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes) await runtime.DisposeAsync();
        if (Directory.Exists(_stateDir)) Directory.Delete(_stateDir, recursive: true);
    }

    private ProcessPodRuntime Runtime(bool direct)
    {
        Assert.True(Environment.IsPrivilegedProcess, "an exec joins its container only where the runtime is root");
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.Bubblewrap, directExec: direct);
        _runtimes.Add(runtime);
        Assert.Equal(direct, runtime.ExecsJoinDirectly);
        return runtime;
    }

    private Task RunningAsync(ProcessPodRuntime runtime, V1Pod pod) => RuntimeExecs.RunningAsync(_host, runtime, pod);

    private static Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(ProcessPodRuntime runtime, string pod, params string[] command) =>
        RuntimeExecs.ExecAsync(runtime, pod, command);

    private static V1Pod WorkPod(string name, string script)
    {
        var container = Shell("main", script, Mount("work", "/work"));
        container.WorkingDir = "/work/deep";
        container.Env = [new V1EnvVar { Name = "GREETING", Value = "hello from env" }];
        return Pod(name, container).WithVolumes(new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_exec_sees_the_containers_volumes_directory_hostname_pids_environment_and_user(bool direct)
    {
        var runtime = Runtime(direct);
        await RunningAsync(runtime, WorkPod("view", "echo from-container > /work/mark; exec sleep 60"));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "view", "cat", "/work/mark")).ExitCode != 0; i++) await Task.Delay(25);

        var (code, stdout, _) = await ExecAsync(runtime, "view", "sh", "-c", "cat /work/mark; pwd; hostname; echo $GREETING; id -u; cat /proc/1/cmdline | tr '\\0' ' '");

        Assert.Equal(0, code);
        var lines = stdout.Split('\n');
        Assert.Equal(["from-container", "/work/deep", "view", "hello from env", "65532"], lines[..5]);
        // pid 1 is the sandbox's init: the exec is in the container's pid namespace, not the host's.
        Assert.Contains("bwrap --", lines[5]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_exec_gets_no_capability_and_no_root_uid_to_return_to(bool direct)
    {
        var runtime = Runtime(direct);
        await RunningAsync(runtime, WorkPod("caps", "exec sleep 60"));

        var (code, stdout, _) = await ExecAsync(runtime, "caps", "sh", "-c", "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapAmb):' /proc/self/status");

        Assert.Equal(0, code);
        Assert.Equal(
            "Uid:\t65532\t65532\t65532\t65532\nGid:\t65532\t65532\t65532\t65532\n"
            + "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n",
            stdout);
    }

    [Theory]
    [InlineData(true, "/no/such/binary", 127)]
    [InlineData(true, "no-such-command", 127)]
    [InlineData(true, "/etc", 126)]
    [InlineData(true, "/work/not-executable", 126)]
    [InlineData(true, "./not-there", 127)]
    [InlineData(false, "/no/such/binary", 127)]
    [InlineData(false, "no-such-command", 127)]
    [InlineData(false, "/etc", 126)]
    [InlineData(false, "/work/not-executable", 126)]
    [InlineData(false, "./not-there", 127)]
    public async Task A_command_that_cannot_start_exits_as_from_a_shell_with_a_message(bool direct, string command, int exitCode)
    {
        var runtime = Runtime(direct);
        await RunningAsync(runtime, WorkPod("nostart", "echo echo x > /work/not-executable; exec sleep 60"));
        for (var i = 0; i < 200 && !(await ExecAsync(runtime, "nostart", "cat", "/work/not-executable")).Stdout.Contains('x'); i++) await Task.Delay(25);

        var (code, stdout, stderr) = await ExecAsync(runtime, "nostart", command);

        Assert.Equal(exitCode, code);
        Assert.Equal("", stdout);
        Assert.Contains(command, stderr);
    }

    [Fact]
    public async Task The_runtime_loads_no_assembly_while_inside_a_container()
    {
        // Inside a container the runtime's assembly paths are the image's files: every path the joiner takes there must
        // have been taken once before, from the runtime's own namespaces (its warm-up).
        var runtime = Runtime(direct: true);
        await RunningAsync(runtime, WorkPod("loads", "printf 'exit 3\\n' > /work/script; chmod +x /work/script; exec sleep 60"));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "loads", "test", "-x", "/work/script")).ExitCode != 0; i++) await Task.Delay(25);

        var codes = new List<int>();
        foreach (var command in new[] { "true", "/no/such/binary", "no-such-command", "/etc", "/work/script", "./not-there" })
        {
            codes.Add((await ExecAsync(runtime, "loads", command)).ExitCode);
        }

        Assert.Equal([0, 127, 127, 126, 3, 127], codes);
        Assert.True(runtime.ExecsJoinDirectly);
        Assert.Equal(0, NamespaceJoiner.AssemblyLoadsInsideContainers);
    }

    [Theory]
    [InlineData(true, "/work/script")]
    [InlineData(true, "../script")]
    [InlineData(false, "/work/script")]
    [InlineData(false, "../script")]
    public async Task A_script_without_an_interpreter_line_runs_in_the_shell_as_execvp_does(bool direct, string command)
    {
        var runtime = Runtime(direct);
        await RunningAsync(runtime, WorkPod("script", "printf 'echo ran as $(id -u) with $1\\nexit 5\\n' > /work/script; chmod +x /work/script; exec sleep 60"));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "script", "test", "-x", "/work/script")).ExitCode != 0; i++) await Task.Delay(25);

        // A relative command is found from the working directory (/work/deep).
        var (code, stdout, _) = await ExecAsync(runtime, "script", command, "arg1");

        Assert.Equal(5, code);
        Assert.Equal("ran as 65532 with arg1\n", stdout);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_missing_working_directory_fails_the_exec_and_the_next_exec_still_works(bool direct)
    {
        var runtime = Runtime(direct);
        await RunningAsync(runtime, WorkPod("nodir", "cd /; rmdir /work/deep; exec sleep 60"));
        await RunningAsync(runtime, WorkPod("other", "exec sleep 60"));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "nodir", "test", "-d", "/work/deep")).ExitCode == 0; i++) await Task.Delay(25);

        var (code, _, stderr) = await ExecAsync(runtime, "nodir", "true");
        var next = await ExecAsync(runtime, "other", "hostname");

        Assert.NotEqual(0, code);
        Assert.NotEqual("", stderr);
        Assert.Equal((0, "other\n"), (next.ExitCode, next.Stdout));
        Assert.Equal(direct, runtime.ExecsJoinDirectly);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_background_process_of_an_exec_outlives_it_and_goes_with_the_pod(bool direct)
    {
        var runtime = Runtime(direct);
        var pod = WorkPod("daemon", "exec sleep 60");
        await RunningAsync(runtime, pod);
        var marker = direct ? "4242.25" : "4242.75";

        var started = await ExecAsync(runtime, "daemon", "sh", "-c", $"sleep {marker} >/dev/null 2>&1 & echo $!");
        var alive = await ExecAsync(runtime, "daemon", "sh", "-c", $"kill -0 {started.Stdout.Trim()} && echo alive");

        Assert.Equal((0, "alive\n"), (alive.ExitCode, alive.Stdout));
        Assert.Single(HostPidsRunning(marker));
        await runtime.KillPodAsync("ci", "daemon", pod.Metadata.Uid, 0);
        Assert.Empty(HostPidsRunning(marker));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Deleting_the_pod_sends_sigterm_to_a_running_exec_before_the_grace_runs_out(bool direct)
    {
        var runtime = Runtime(direct);
        // The container takes a while to stop on SIGTERM: when its command exits, its pid namespace ends, execs with it.
        var pod = WorkPod("graceful", "trap 'sleep 3; exit 0' TERM; sleep 60 & wait");
        await RunningAsync(runtime, pod);
        var stdout = new MemoryStream();
        var exec = runtime.ExecAsync(new ExecRequest("ci", "graceful", "main", ["sh", "-c", "trap 'echo term; exit 7' TERM; echo ready; sleep 50 & wait"], false),
            new ExecStreams(null, stdout, null), CancellationToken.None);
        for (var i = 0; i < 400 && !Encoding.UTF8.GetString(stdout.ToArray()).Contains("ready"); i++) await Task.Delay(25);

        var watch = Stopwatch.StartNew();
        await runtime.KillPodAsync("ci", "graceful", pod.Metadata.Uid, 20);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the kill took {watch.Elapsed}");
        Assert.Equal(7, await exec.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("ready\nterm\n", Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Fact]
    public async Task The_joiner_refuses_a_container_that_is_gone_and_carries_on()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the joiner needs root");
        using var joiner = NamespaceJoiner.TryCreate(runtimeIsRoot: true);
        Assert.NotNull(joiner);
        var gone = Process.Start(new ProcessStartInfo("true"))!;
        await gone.WaitForExitAsync();

        var refused = await joiner.StartAsync(new JoinTarget(gone.Id, 65532, 65532, [], "/", ContainerEnvironment.DefaultPath), new ProcessStartInfo("id"));
        var startInfo = new ProcessStartInfo("id") { RedirectStandardOutput = true };
        var started = await joiner.StartAsync(new JoinTarget(Environment.ProcessId, 4321, 4322, [4323], "/", ContainerEnvironment.DefaultPath), startInfo);

        Assert.Null(refused);
        Assert.True(joiner.Usable);
        using var process = started!.Process!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Matches(@"^uid=4321 gid=4322 groups=4322,4323\n$", output);
        // The runtime's own threads never changed user.
        Assert.Equal("0", File.ReadAllLines("/proc/self/status").Single(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t')[1]);
    }

    [Fact]
    public async Task A_request_the_joiner_cannot_take_in_time_goes_another_way_and_is_never_started_by_it()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the joiner needs root");
        using var joiner = NamespaceJoiner.TryCreate(runtimeIsRoot: true);
        Assert.NotNull(joiner);
        // A start that hangs (a stalled filesystem) is played by holding the thread before its first request.
        using var hold = new ManualResetEventSlim(false);
        joiner.QueueTimeout = TimeSpan.FromMilliseconds(300);
        joiner.HoldNextStart = hold;
        var marker = Path.Combine(Path.GetTempPath(), "joiner-skipped-" + Guid.NewGuid().ToString("N"));
        var target = new JoinTarget(Environment.ProcessId, 4321, 4322, [], "/", ContainerEnvironment.DefaultPath);

        var held = joiner.StartAsync(target, new ProcessStartInfo("id") { RedirectStandardOutput = true });
        var waiting = joiner.StartAsync(target, new ProcessStartInfo("sh", ["-c", $"echo ran > {marker}"]));

        Assert.Null(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(joiner.Usable);
        Assert.Null(await joiner.StartAsync(target, new ProcessStartInfo("true")));
        joiner.HoldNextStart = null;
        hold.Set();
        // The held request was taken before the thread stopped: it still starts, once.
        using var process = (await held.WaitAsync(TimeSpan.FromSeconds(10)))!.Process!;
        Assert.StartsWith("uid=4321", await process.StandardOutput.ReadToEndAsync());
        for (var i = 0; i < 400 && joiner.SkippedRequests == 0; i++) await Task.Delay(25);
        Assert.Equal(1, joiner.SkippedRequests);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task A_joiner_that_cannot_return_hands_over_its_command_and_execs_go_through_nsenter_from_then_on()
    {
        var runtime = Runtime(direct: true);
        await RunningAsync(runtime, WorkPod("fallback", "exec sleep 60"));

        runtime.FailJoinerReturn();
        var handedOver = await ExecAsync(runtime, "fallback", "sh", "-c", "echo once >> /work/count; hostname");
        var next = await ExecAsync(runtime, "fallback", "sh", "-c", "echo twice >> /work/count; cat /work/count; id -u");

        Assert.Equal((0, "fallback\n"), (handedOver.ExitCode, handedOver.Stdout));
        Assert.False(runtime.ExecsJoinDirectly);
        // The first command ran exactly once (not again through nsenter), and the next went through nsenter.
        Assert.Equal((0, "once\ntwice\n65532\n"), (next.ExitCode, next.Stdout));
    }

    [Fact]
    public async Task A_thread_started_from_the_joiner_does_not_stop_it_joining_nor_follow_it_into_a_container()
    {
        // The thread pool starts a worker on the thread that queues work when none is free, and the joiner queues work when
        // it answers a request: such a thread shares the joiner's filesystem context, which kept the joiner out of every
        // later container (execs then went through nsenter). The thread must stay in the runtime's root meanwhile.
        var runtime = Runtime(direct: true);
        await RunningAsync(runtime, WorkPod("shared", "echo inside > /work/marker; exec sleep 60"));
        using var release = new ManualResetEventSlim();
        var roots = new List<string>();
        Thread? started = null;
        runtime.AfterJoinerReturn(() =>
        {
            if (started is not null) return;
            started = new Thread(() =>
            {
                release.Wait();
                lock (roots) roots.Add(Directory.GetCurrentDirectory() + " " + File.Exists("/work/marker"));
            });
            started.Start();
        });

        Assert.Equal(0, (await ExecAsync(runtime, "shared", "true")).ExitCode);
        var next = await ExecAsync(runtime, "shared", "sh", "-c", "cat /work/marker; hostname");
        var third = await ExecAsync(runtime, "shared", "id", "-u");
        release.Set();
        started!.Join();

        Assert.Equal((0, "inside\nshared\n"), (next.ExitCode, next.Stdout));
        Assert.Equal((0, "65532\n"), (third.ExitCode, third.Stdout));
        Assert.True(runtime.ExecsJoinDirectly);
        // The thread kept the runtime's own root and directory while the joiner was in the container.
        Assert.Equal(["/ False"], roots);
    }

    /// <summary>Host pids of processes whose command line contains <paramref name="marker"/>.</summary>
    private static List<int> HostPidsRunning(string marker)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(marker, StringComparison.Ordinal)) pids.Add(pid);
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        return pids;
    }
}
