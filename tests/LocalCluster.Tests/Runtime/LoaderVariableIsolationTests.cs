using System.Diagnostics;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>
/// Attack: a job sets LD_* variables in its container's environment so that the runtime's root programs (bwrap, setpriv,
/// nsenter, the join program) load what it chooses as root on the host. LD_DEBUG with LD_DEBUG_OUTPUT makes every
/// dynamic program that reads them write a dbg.PID file as its user: none may be root's. The command still gets every
/// variable with its exact value.
/// </summary>
public sealed partial class LoaderVariableIsolationTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "loader-env-tests-" + Guid.NewGuid().ToString("N"));
    private readonly string _debugDir = Directory.CreateTempSubdirectory("loader-env-debug-").FullName;
    private readonly FakePodHost _host = new();
    private readonly List<ProcessPodRuntime> _runtimes = [];

    public Task InitializeAsync()
    {
        // Every user may write there (the container's command does, as 65532); sticky.
        FileOwnership.SetMode(_debugDir, (UnixFileMode)0b1_111_111_111);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes) await runtime.DisposeAsync();
        if (Directory.Exists(_stateDir)) Directory.Delete(_stateDir, recursive: true);
        Directory.Delete(_debugDir, recursive: true);
    }

    /// <summary>The loader variables a job sets, with values the command must see exactly (an empty one, spaces, '=').</summary>
    internal static Dictionary<string, string> LoaderVariables(string debugDir) => new()
    {
        ["LD_DEBUG"] = "libs",
        ["LD_DEBUG_OUTPUT"] = Path.Combine(debugDir, "dbg"),
        ["LD_LIBRARY_PATH"] = "/no such/dir=x",
        ["GCONV_PATH"] = "/nonexistent/gconv",
        ["TZDIR"] = "",
        ["MALLOC_ARENA_MAX"] = "2",
        ["PLAIN"] = "kept",
    };

    /// <summary>A variable with the reserved prefix: the command sees it as it is, never as the variable it names.</summary>
    internal const string Injected = "SCHEDULER_DEFERRED_ENV_LD_BIND_NOW";

    internal static List<V1EnvVar> EnvOf(Dictionary<string, string> variables) =>
        [.. variables.Select(variable => new V1EnvVar { Name = variable.Key, Value = variable.Value }), new V1EnvVar { Name = Injected, Value = "1" }];

    /// <summary>Each variable with its exact value, the prefixed one as it is, and no LD_BIND_NOW made of it.</summary>
    internal static void AssertEnvironment(Dictionary<string, string> expected, string envOutput, string what)
    {
        // env's lines only (a log may hold a loader's debug lines too); the last of a name wins.
        var seen = new Dictionary<string, string>();
        foreach (var line in envOutput.Split('\n').Where(line => EnvLine().IsMatch(line))) seen[line[..line.IndexOf('=')]] = line[(line.IndexOf('=') + 1)..];
        foreach (var (name, value) in expected)
        {
            Assert.True(seen.TryGetValue(name, out var actual) && actual == value, $"{what}: {name}={value} expected, got {(actual is null ? "nothing" : name + "=" + actual)}\n{envOutput}");
        }
        Assert.True(seen.TryGetValue(Injected, out var injected) && injected == "1", $"{what}: {Injected}=1 expected\n{envOutput}");
        Assert.False(seen.ContainsKey("LD_BIND_NOW"), $"{what}: a prefixed variable became LD_BIND_NOW\n{envOutput}");
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*=")]
    private static partial System.Text.RegularExpressions.Regex EnvLine();

    /// <summary>The owner uid of each dbg.* file the loaders wrote, by file name.</summary>
    internal static async Task<List<string>> DebugFileOwnersAsync(string debugDir)
    {
        var startInfo = new ProcessStartInfo("find", [debugDir, "-name", "dbg.*", "-printf", "%U %f\n"]) { RedirectStandardOutput = true };
        using var find = Process.Start(startInfo)!;
        var output = await find.StandardOutput.ReadToEndAsync();
        await find.WaitForExitAsync();
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    private ProcessPodRuntime Runtime(bool program)
    {
        Assert.True(Environment.IsPrivilegedProcess, "the runtime's programs run as root only where the runtime is root");
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.Bubblewrap,
            joinProgram: program ? null : Path.Combine(_stateDir, "no-such-dir", SandboxCommand.JoinProgramName));
        _runtimes.Add(runtime);
        Assert.True(program == runtime.ExecsUseJoinProgram, program ? "the join program was not built: is clang installed?" : "the join program was found");
        return runtime;
    }

    private static async Task<(int ExitCode, string Stdout)> ExecAsync(ProcessPodRuntime runtime, string pod, params string[] command)
    {
        using var stdout = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await runtime.ExecAsync(new ExecRequest("ci", pod, "main", command, false), new ExecStreams(null, stdout, new MemoryStream()), timeout.Token);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task No_root_program_of_a_container_or_an_exec_sees_the_jobs_loader_variables_and_the_command_sees_them_all(bool program)
    {
        var runtime = Runtime(program);
        var variables = LoaderVariables(_debugDir);
        var container = Shell("main", "env > /work/env; exec sleep 60", Mount("work", "/work"));
        container.Env = EnvOf(variables);
        var pod = Pod("loader", container).WithVolumes(new V1Volume { Name = "work", EmptyDir = new V1EmptyDirVolumeSource() });
        runtime.PodCreated(pod);
        await _host.WaitForStatusAsync("loader", s => s.Phase == "Running");
        var containerEnv = "";
        for (var i = 0; i < 200 && !containerEnv.Contains("PLAIN=", StringComparison.Ordinal); i++)
        {
            containerEnv = (await ExecAsync(runtime, "loader", "cat", "/work/env")).Stdout;
            await Task.Delay(25);
        }

        var exec = await ExecAsync(runtime, "loader", "env");
        var user = await ExecAsync(runtime, "loader", "id", "-u");

        AssertEnvironment(variables, containerEnv, "the container");
        Assert.Equal(0, exec.ExitCode);
        AssertEnvironment(variables, exec.Stdout, program ? "an exec through the join program" : "an exec through nsenter");
        Assert.Equal("65532\n", user.Stdout);
        var owners = await DebugFileOwnersAsync(_debugDir);
        Assert.DoesNotContain(owners, owner => owner.StartsWith("0 ", StringComparison.Ordinal));
        // The command's own loader read them: the check above sees what a root program would have written.
        Assert.Contains(owners, owner => owner.StartsWith("65532 ", StringComparison.Ordinal));
    }

    private async Task<string> CompletedLogAsync(ProcessPodRuntime runtime, string pod)
    {
        var final = await _host.WaitForStatusAsync(pod, s => s.Phase is "Succeeded" or "Failed");
        Assert.Equal("Succeeded", final.Phase);
        using var output = new MemoryStream();
        await runtime.StreamLogAsync("ci", pod, new PodLogOptions(), output, CancellationToken.None);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Fact]
    public async Task The_unshare_sandboxs_root_programs_do_not_see_them_and_the_command_sees_them_all()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the unshare sandbox needs root");
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host, SandboxKind.Unshare);
        _runtimes.Add(runtime);
        var variables = LoaderVariables(_debugDir);
        var container = new V1Container { Name = "main", Image = "alpine:3", Command = ["env"], Env = EnvOf(variables) };
        runtime.PodCreated(Pod("unshared", container));

        var log = await CompletedLogAsync(runtime, "unshared");

        AssertEnvironment(variables, log, "a container in the unshare sandbox");
        var owners = await DebugFileOwnersAsync(_debugDir);
        Assert.DoesNotContain(owners, owner => owner.StartsWith("0 ", StringComparison.Ordinal));
        Assert.Contains(owners, owner => owner.StartsWith("65532 ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_jobs_PATH_runs_no_file_of_its_own_as_root_and_the_command_still_searches_it(bool program)
    {
        // Attack: a directory every user can write holds programs named as the runtime's (setpriv, which bubblewrap starts
        // as root by name; mount, mkdir, env…), first on the container's PATH. Each writes down who ran it.
        var runtime = Runtime(program);
        var fakes = Path.Combine(_debugDir, "bin");
        Directory.CreateDirectory(fakes);
        foreach (var name in new[] { "setpriv", "unshare", "mount", "mkdir", "touch", "dirname", "hostname", "env", "nsenter", "mine" })
        {
            var fake = Path.Combine(fakes, name);
            File.WriteAllText(fake, $"#!/bin/sh\necho \"$(id -u) {name}\" >> {Path.Combine(_debugDir, "ran")}\nexit 0\n");
            FileOwnership.SetMode(fake, (UnixFileMode)0b111_101_101);
        }
        var container = Shell("main", "exec sleep 60");
        container.Env = [new V1EnvVar { Name = "PATH", Value = fakes + ":/usr/sbin:/usr/bin:/sbin:/bin" }];
        runtime.PodCreated(Pod("path", container));
        await _host.WaitForStatusAsync("path", s => s.Phase == "Running");

        // The command looks up names on its PATH, as the container's user.
        var exec = await ExecAsync(runtime, "path", "/bin/sh", "-c", "mine; echo \"$PATH\"");

        Assert.Equal((0, fakes + ":/usr/sbin:/usr/bin:/sbin:/bin\n"), exec);
        var ran = File.Exists(Path.Combine(_debugDir, "ran")) ? await File.ReadAllLinesAsync(Path.Combine(_debugDir, "ran")) : [];
        Assert.Equal(["65532 mine"], ran);
    }

    [Fact]
    public async Task A_root_container_gets_them_all_from_bubblewrap()
    {
        Assert.True(Environment.IsPrivilegedProcess, "the runtime's programs run as root only where the runtime is root");
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir, AllowRootContainers = true }, _host, SandboxKind.Bubblewrap);
        _runtimes.Add(runtime);
        var variables = LoaderVariables(_debugDir);
        var container = new V1Container
        {
            Name = "main", Image = "alpine:3", Command = ["sh", "-c", "env; id -u"], Env = EnvOf(variables),
            SecurityContext = new V1SecurityContext { RunAsUser = 0 },
        };
        runtime.PodCreated(Pod("rooted", container));

        var log = await CompletedLogAsync(runtime, "rooted");

        AssertEnvironment(variables, log, "a root container");
        Assert.EndsWith("\n0\n", log);
    }
}
