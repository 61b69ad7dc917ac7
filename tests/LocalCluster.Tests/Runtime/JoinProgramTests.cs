using System.Diagnostics;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>
/// Execs enter their container through the join program (scheduler-join, built from Native/join.c next to the
/// assemblies), or through nsenter where it is missing: both ways give the command the same container, user, groups,
/// exit codes and process tree. The program refuses a pid whose process is not the one the runtime found.
/// </summary>
public sealed class JoinProgramTests : IAsyncLifetime
{
    private static readonly string Program = Path.Combine(AppContext.BaseDirectory, SandboxCommand.JoinProgramName);

    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "join-program-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private readonly List<ProcessPodRuntime> _runtimes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes) await runtime.DisposeAsync();
        if (Directory.Exists(_stateDir)) Directory.Delete(_stateDir, recursive: true);
    }

    /// <summary>A runtime whose execs go through the join program, or (<paramref name="program"/> false) find none and use nsenter.</summary>
    private ProcessPodRuntime Runtime(bool program)
    {
        Assert.True(Environment.IsPrivilegedProcess, "an exec joins its container only where the runtime is root");
        Assert.True(File.Exists(Program), $"{Program} was not built: is clang installed?");
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.Bubblewrap,
            joinProgram: program ? null : Path.Combine(_stateDir, "no-such-dir", SandboxCommand.JoinProgramName));
        _runtimes.Add(runtime);
        Assert.Equal(program, runtime.ExecsUseJoinProgram);
        return runtime;
    }

    private Task RunningAsync(ProcessPodRuntime runtime, V1Pod pod) => RuntimeExecs.RunningAsync(_host, runtime, pod);

    private static Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(ProcessPodRuntime runtime, string pod, params string[] command) =>
        RuntimeExecs.ExecAsync(runtime, pod, command);

    private static V1Pod WorkPod(string name, string script, long? fsGroup = null, long? supplementalGroup = null)
    {
        var container = Shell("main", script, Mount("work", "/work"));
        container.WorkingDir = "/work/deep";
        var pod = Pod(name, container).WithVolumes(new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() });
        pod.Spec.SecurityContext = new V1PodSecurityContext { FsGroup = fsGroup, SupplementalGroups = supplementalGroup is { } g ? [g] : null };
        return pod;
    }

    // The argv, a table: the program, the process and its start time, the working directory, then the identity.

    private static SandboxSpec Spec(string? workingDir = null, long? user = null, long? group = null, long[]? groups = null, bool image = false) => new()
    {
        Hostname = "pod", Mounts = [], Command = ["sh", "-c", "echo hi"], WorkingDir = workingDir, RunAsUser = user, RunAsGroup = group,
        SupplementalGroups = groups ?? [],
        Image = image ? new ImageRoot("/l", "/u", "/w", "/m", HasShell: true) : null,
    };

    public static TheoryData<string, SandboxSpec, string[]> JoinArguments => new()
    {
        { "root, no identity change", Spec("/work"), ["--wd", "/work", "--", "sh", "-c", "echo hi"] },
        { "no working directory: /", Spec(), ["--wd", "/", "--", "sh", "-c", "echo hi"] },
        { "a user: gid 0, no groups", Spec(user: 1000), ["--wd", "/", "--user", "1000", "--group", "0", "--clear-groups", "--", "sh", "-c", "echo hi"] },
        { "a group alone: uid 0", Spec(group: 2000), ["--wd", "/", "--user", "0", "--group", "2000", "--clear-groups", "--", "sh", "-c", "echo hi"] },
        {
            "supplementary groups", Spec("/w", 1000, 2000, [3000, 4000]),
            ["--wd", "/w", "--user", "1000", "--group", "2000", "--groups", "3000,4000", "--", "sh", "-c", "echo hi"]
        },
        {
            "in an image the groups are kept too", Spec(user: 1000, group: 2000, groups: [3000], image: true),
            ["--wd", "/", "--user", "1000", "--group", "2000", "--groups", "3000", "--", "sh", "-c", "echo hi"]
        },
    };

    [Theory]
    [MemberData(nameof(JoinArguments))]
    public void The_join_programs_arguments_name_the_process_its_start_time_the_directory_and_the_identity(string rule, SandboxSpec spec, string[] rest)
    {
        var argv = SandboxCommand.BuildJoinProgram("/opt/scheduler-join", new ContainerProcess(4321, 987654321), spec);

        string[] expected = ["/opt/scheduler-join", "--target", "4321", "--start-time", "987654321", .. rest];
        Assert.True(expected.SequenceEqual(argv), $"{rule}: {string.Join(" ", argv)}");
    }

    public static TheoryData<string, ulong?> StatLines => new()
    {
        { "12 (sleep) S 1 12 12 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 7240786 2547712 218 18446744073709551615", 7240786 },
        // A command name with spaces and a ')' of its own: the fields are counted from the last one.
        { "12 (a) b) c) S 1 12 12 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 55 2547712 218", 55 },
        { "12 (sleep) S 1 12 12 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0", null },
        { "12 (sleep) S 1 12 12 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 -5 1", null },
        { "", null },
    };

    [Theory]
    [MemberData(nameof(StatLines))]
    public void A_processes_start_time_is_field_22_of_its_stat_line(string stat, ulong? expected) =>
        Assert.Equal(expected, HostProcesses.ParseStartTime(stat));

    [Theory]
    [InlineData("12 (sleep) S 1 12 12 0", 'S')]
    // An ended process not yet reaped keeps its start time: its state tells that nothing can join it.
    [InlineData("12 (sleep) Z 1 12 12 0", 'Z')]
    [InlineData("12 (a) Z) R 1 12", 'R')]
    [InlineData("12 (sleep)", null)]
    [InlineData("", null)]
    public void A_processes_state_is_field_3_of_its_stat_line(string stat, char? expected) =>
        Assert.Equal(expected, HostProcesses.ParseState(stat));

    // Execs through the program, each compared with the nsenter fallback.

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_exec_runs_in_the_container_in_its_working_directory_with_its_exit_code(bool program)
    {
        var runtime = Runtime(program);
        await RunningAsync(runtime, WorkPod("codes", "echo from-container > /work/mark; exec sleep 60"));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "codes", "cat", "/work/mark")).ExitCode != 0; i++) await Task.Delay(25);

        var view = await ExecAsync(runtime, "codes", "sh", "-c", "cat /work/mark; pwd; hostname; echo $0");
        var failed = await ExecAsync(runtime, "codes", "sh", "-c", "exit 42");
        // 125 is the program's own code for a refusal: a command of the container that exits with it keeps it.
        var refusalCode = await ExecAsync(runtime, "codes", "sh", "-c", "exit 125");

        Assert.Equal((0, "from-container\n/work/deep\ncodes\nsh\n"), (view.ExitCode, view.Stdout));
        Assert.Equal(42, failed.ExitCode);
        Assert.Equal((125, ""), (refusalCode.ExitCode, refusalCode.Stderr));
    }

    [Theory]
    [InlineData(true, "/no/such/binary", 127)]
    [InlineData(true, "no-such-command", 127)]
    [InlineData(true, "/etc", 126)]
    [InlineData(true, "/work/not-executable", 126)]
    [InlineData(false, "/no/such/binary", 127)]
    [InlineData(false, "/etc", 126)]
    public async Task A_command_that_cannot_start_exits_127_or_126_with_a_message(bool program, string command, int exitCode)
    {
        var runtime = Runtime(program);
        await RunningAsync(runtime, WorkPod("nostart", "echo echo x > /work/not-executable; exec sleep 60"));
        for (var i = 0; i < 200 && !(await ExecAsync(runtime, "nostart", "cat", "/work/not-executable")).Stdout.Contains('x'); i++) await Task.Delay(25);

        var (code, stdout, stderr) = await ExecAsync(runtime, "nostart", command);

        Assert.Equal((exitCode, ""), (code, stdout));
        Assert.Contains(command, stderr);
    }

    [Theory]
    [InlineData(true, null, null, "65532\n65532\n65532\n")]
    [InlineData(true, 3000L, 4000L, "65532\n65532\n65532 3000 4000\n")]
    [InlineData(false, null, null, "65532\n65532\n65532\n")]
    [InlineData(false, 3000L, 4000L, "65532\n65532\n65532 3000 4000\n")]
    public async Task An_exec_has_the_containers_uid_gid_and_supplementary_groups_and_no_capability(bool program, long? fsGroup, long? supplementalGroup, string ids)
    {
        var runtime = Runtime(program);
        await RunningAsync(runtime, WorkPod("ids", "id -u > /work/ids; id -g >> /work/ids; id -G >> /work/ids; exec sleep 60", fsGroup, supplementalGroup));
        for (var i = 0; i < 200 && (await ExecAsync(runtime, "ids", "cat", "/work/ids")).Stdout.Split('\n').Length < 4; i++) await Task.Delay(25);

        var container = await ExecAsync(runtime, "ids", "cat", "/work/ids");
        var exec = await ExecAsync(runtime, "ids", "sh", "-c", "id -u; id -g; id -G");
        var caps = await ExecAsync(runtime, "ids", "sh", "-c", "grep -E '^(CapPrm|CapEff|CapAmb):' /proc/self/status");

        Assert.Equal(ids, container.Stdout);
        Assert.Equal((0, ids), (exec.ExitCode, exec.Stdout));
        Assert.Equal("CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n", caps.Stdout);
    }

    [Fact]
    public async Task An_exec_through_the_program_gains_no_privileges()
    {
        var runtime = Runtime(program: true);
        await RunningAsync(runtime, WorkPod("noprivs", "exec sleep 60"));

        // As the container's own processes have it (bubblewrap sets it): a setuid file gives nothing.
        var noNewPrivs = await ExecAsync(runtime, "noprivs", "sh", "-c", "grep '^NoNewPrivs:' /proc/self/status");

        Assert.Equal((0, "NoNewPrivs:\t1\n"), (noNewPrivs.ExitCode, noNewPrivs.Stdout));
    }

    [Fact]
    public async Task A_descriptor_the_program_inherits_does_not_reach_the_command()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the join program needs root");
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        var started = HostProcesses.StartTime(sleeper.Id)!.Value;
        try
        {
            // The shell opens descriptor 7 without close-on-exec and execs the program with it; the command lists its own.
            string[] words = [Program, .. Target(sleeper, started, "ls", "/proc/self/fd")];
            var argv = string.Join(' ', words.Select(SandboxCommand.Quote));
            var listed = await RunAsync("/bin/sh", "-c", "exec 7</etc/hostname; exec " + argv);

            Assert.Equal(0, listed.ExitCode);
            // ls's own directory handle (3) is the only one past the three streams.
            Assert.Equal(["0", "1", "2", "3"], listed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Theory]
    [InlineData(true, "scheduler-join")]
    [InlineData(false, "nsenter")]
    public async Task The_command_is_the_joining_programs_child_and_a_background_process_outlives_the_exec(bool program, string parent)
    {
        var runtime = Runtime(program);
        var pod = WorkPod("tree", "exec sleep 60");
        await RunningAsync(runtime, pod);
        var marker = program ? "4343.25" : "4343.75";
        using var stdout = new MemoryStream();
        var exec = runtime.ExecAsync(new ExecRequest("ci", "tree", "main", ["sh", "-c", $"echo ready; exec sleep {marker}"], false),
            new ExecStreams(null, stdout, null), CancellationToken.None);
        for (var i = 0; i < 400 && !Encoding.UTF8.GetString(stdout.ToArray()).Contains("ready"); i++) await Task.Delay(25);
        var command = Assert.Single(await HostPidsRunningSoonAsync("sleep " + marker, 1));

        // The kill and the process-tree walk see the same shape either way: the command at depth 1 below the exec's process.
        Assert.Equal(parent, File.ReadAllText($"/proc/{ParentOf(command)}/comm").Trim());

        await runtime.KillPodAsync("ci", "tree", pod.Metadata.Uid, 0);
        Assert.Equal(137, await exec.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Empty(await HostPidsRunningSoonAsync("sleep " + marker, 0));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_background_process_of_an_exec_outlives_it_and_goes_with_the_pod(bool program)
    {
        var runtime = Runtime(program);
        var pod = WorkPod("daemon", "exec sleep 60");
        await RunningAsync(runtime, pod);
        var marker = program ? "4444.25" : "4444.75";

        var started = await ExecAsync(runtime, "daemon", "sh", "-c", $"sleep {marker} >/dev/null 2>&1 & echo $!");
        var alive = await ExecAsync(runtime, "daemon", "sh", "-c", $"kill -0 {started.Stdout.Trim()} && echo alive");

        Assert.Equal((0, "alive\n"), (alive.ExitCode, alive.Stdout));
        Assert.Single(await HostPidsRunningSoonAsync("sleep " + marker, 1));
        await runtime.KillPodAsync("ci", "daemon", pod.Metadata.Uid, 0);
        Assert.Empty(await HostPidsRunningSoonAsync("sleep " + marker, 0));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_canceled_exec_is_killed_with_everything_it_started(bool program)
    {
        var runtime = Runtime(program);
        await RunningAsync(runtime, WorkPod("cancel", "exec sleep 60"));
        var marker = program ? "4545.25" : "4545.75";
        using var stdout = new MemoryStream();
        using var cancel = new CancellationTokenSource();
        var exec = runtime.ExecAsync(new ExecRequest("ci", "cancel", "main", ["sh", "-c", $"sleep {marker} & echo ready; wait"], false),
            new ExecStreams(null, stdout, null), cancel.Token);
        for (var i = 0; i < 400 && !Encoding.UTF8.GetString(stdout.ToArray()).Contains("ready"); i++) await Task.Delay(25);
        Assert.Single(await HostPidsRunningSoonAsync("sleep " + marker, 1));

        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => exec.WaitAsync(TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 200 && HostPidsRunning("sleep " + marker).Count > 0; i++) await Task.Delay(25);
        Assert.Empty(HostPidsRunning("sleep " + marker));
        Assert.Equal(0, (await ExecAsync(runtime, "cancel", "true")).ExitCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_command_killed_by_a_signal_reports_it_as_128_plus_the_signal(bool program)
    {
        var runtime = Runtime(program);
        await RunningAsync(runtime, WorkPod("signal", "exec sleep 60"));

        var killed = await ExecAsync(runtime, "signal", "sh", "-c", "kill -KILL $$");
        var terminated = await ExecAsync(runtime, "signal", "sh", "-c", "kill -TERM $$");

        Assert.Equal((137, 143), (killed.ExitCode, terminated.ExitCode));
    }

    [Fact]
    public async Task An_exec_whose_container_process_has_another_start_time_is_refused_as_not_running_and_the_next_finds_it_again()
    {
        Assert.True(Environment.IsPrivilegedProcess, "an exec joins its container only where the runtime is root");
        Assert.True(File.Exists(Program), $"{Program} was not built: is clang installed?");
        // A pod of its own, to reach the process the runtime keeps for its container.
        using var spawner = new ProcessSpawner();
        var env = new PodEnvironment(new NodeSettings { StateDir = _stateDir }, _host, spawner, SandboxKind.Bubblewrap, RuntimeIsRoot: true,
            new Scheduler.LocalCluster.Images.ImageStore(_stateDir, runtimeIsRoot: true)) { JoinProgram = PodEnvironment.FindJoinProgram(runtimeIsRoot: true) };
        var v1Pod = WorkPod("reused", "exec sleep 60");
        var pod = new LocalPod(v1Pod, env);
        pod.Start();
        try
        {
            await _host.WaitForStatusAsync("reused", s => s.Phase == "Running");
            Assert.Equal(0, await PodExecAsync(pod, new MemoryStream(), "true"));
            var container = pod.SelectContainer("main");
            var found = container.JoinProcess!;

            // The pid it keeps is now another process's: the same number, a later start.
            container.JoinProcess = found with { StartTime = found.StartTime + 1 };
            var stderr = new MemoryStream();
            var refused = await Assert.ThrowsAsync<PodRuntimeException>(() => PodExecAsync(pod, stderr, "touch", "/work/ran"));

            Assert.Equal((400, "container main is not running in pod reused"), (refused.HttpStatus, refused.Message));
            Assert.Contains("refusing to join", Encoding.UTF8.GetString(stderr.ToArray()));
            Assert.Null(container.JoinProcess);
            // Nothing ran; the next exec looks for the container's process again and joins it.
            Assert.Equal(1, await PodExecAsync(pod, new MemoryStream(), "test", "-e", "/work/ran"));
            Assert.Equal(found, container.JoinProcess);
        }
        finally
        {
            await pod.KillAsync(0);
        }
    }

    private static async Task<int> PodExecAsync(LocalPod pod, MemoryStream stderr, params string[] command)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await pod.ExecAsync(new ExecRequest("ci", pod.Name, "main", command, false), new ExecStreams(null, new MemoryStream(), stderr), timeout.Token);
    }

    // The program itself, run against a process of the test's own namespaces.

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var startInfo = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) startInfo.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string[] Target(System.Diagnostics.Process process, ulong startTime, params string[] command) =>
        ["--target", process.Id.ToString(), "--start-time", startTime.ToString(), "--wd", "/", "--", .. command];

    [Fact]
    public async Task A_pid_whose_start_time_differs_is_refused_and_nothing_runs()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the join program needs root");
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        var started = HostProcesses.StartTime(sleeper.Id)!.Value;
        var marker = Path.Combine(Path.GetTempPath(), "join-refused-" + Guid.NewGuid().ToString("N"));
        try
        {
            // A process given the pid later (a reused pid) has a later start time; an earlier one is as wrong.
            var later = await RunAsync(Program, Target(sleeper, started + 1, "touch", marker));
            var earlier = await RunAsync(Program, Target(sleeper, started - 1, "touch", marker));
            var right = await RunAsync(Program, Target(sleeper, started, "sh", "-c", "echo joined"));

            Assert.Equal((SandboxCommand.JoinRefused, ""), (later.ExitCode, later.Stdout));
            Assert.Contains($"process {sleeper.Id} is not the container's", later.Stderr);
            Assert.Equal(SandboxCommand.JoinRefused, earlier.ExitCode);
            Assert.False(File.Exists(marker));
            Assert.Equal((0, "joined\n"), (right.ExitCode, right.Stdout));
        }
        finally
        {
            sleeper.Kill();
            File.Delete(marker);
        }
    }

    [Fact]
    public async Task A_process_that_is_gone_is_refused()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the join program needs root");
        using var gone = System.Diagnostics.Process.Start("true")!;
        var started = HostProcesses.StartTime(gone.Id) ?? 0;
        await gone.WaitForExitAsync();

        var refused = await RunAsync(Program, Target(gone, started, "true"));

        Assert.Equal(SandboxCommand.JoinRefused, refused.ExitCode);
        Assert.Contains("gone", refused.Stderr);
    }

    [Theory]
    [InlineData("kill -KILL $$", 9)]
    [InlineData("kill -TERM $$", 15)]
    [InlineData("exit 9", 0)]
    public async Task The_program_dies_of_the_signal_its_command_died_of(string script, int signal)
    {
        Assert.True(Environment.IsPrivilegedProcess, "the join program needs root");
        using var sleeper = System.Diagnostics.Process.Start("sleep", "30");
        try
        {
            // perl tells a death by a signal (the low bits of $?) from an exit code, which .NET and shells fold into 128+n.
            var (_, stdout, _) = await RunAsync("perl", ["-e", "system(@ARGV); print $? & 127", Program,
                .. Target(sleeper, HostProcesses.StartTime(sleeper.Id)!.Value, "sh", "-c", script)]);

            Assert.Equal(signal.ToString(), stdout);
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Theory]
    [InlineData("--target 1 --wd / -- true")] // no start time
    [InlineData("--target x --start-time 1 --wd / -- true")]
    [InlineData("--target 1 --start-time 1 --wd / --user 1000 --group 1000 -- true")] // groups unsaid
    [InlineData("--target 1 --start-time 1 --wd / --user 4294967296 --group 0 --clear-groups -- true")]
    [InlineData("--target 1 --start-time 1 --wd / --")] // no command
    public async Task Arguments_it_does_not_understand_are_refused_before_anything_is_joined(string arguments)
    {
        var (code, _, stderr) = await RunAsync(Program, arguments.Split(' '));

        Assert.Equal(2, code);
        Assert.StartsWith("scheduler-join: ", stderr);
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
    }

    /// <summary>
    /// <see cref="HostPidsRunning"/> once it finds <paramref name="expected"/> processes, or after 10 s: a shell that has
    /// printed its line may not have exec'd its command yet, and a killed process may take a moment to go.
    /// </summary>
    private static async Task<List<int>> HostPidsRunningSoonAsync(string marker, int expected)
    {
        var pids = HostPidsRunning(marker);
        for (var i = 0; i < 400 && pids.Count != expected; i++)
        {
            await Task.Delay(25);
            pids = HostPidsRunning(marker);
        }
        return pids;
    }

    /// <summary>Host pids of processes whose command line starts with <paramref name="marker"/> (not the shells that name it).</summary>
    private static List<int> HostPidsRunning(string marker)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').StartsWith(marker, StringComparison.Ordinal)) pids.Add(pid);
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        return pids;
    }
}
