using System.Diagnostics;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>A job's pod layout in a temporary directory: the job Secret's files (from a real <see cref="JobPodPlan"/>), the
/// run directory and the builds directory. Scripts and exec argv are run with /bin/sh after rewriting
/// <c>/var/run/scheduler/</c> to the temporary directory, so tests run the generated shell code itself.</summary>
internal sealed class PodSandbox : IDisposable
{
    private const string PodRoot = "/var/run/scheduler/";

    public PodSandbox(JobPayload job, RunnerEntry? runner = null, HelperInvocation? helper = null)
    {
        Root = Directory.CreateTempSubdirectory("scripts-").FullName;
        BuildsDir = Path.Combine(Root, "builds");
        CacheDir = Path.Combine(Root, "cache");
        Job = job;
        Runner = runner ?? TestData.Runner();
        Plan = JobScripts.Build(job, Runner, 3, TestData.Identity, new ScriptOptions(helper ?? HelperInvocation.Default, BuildsDir, CacheDir));
        var pod = PodBuilder.Build(Runner, job, 3, TestData.Identity, Plan, () => TestData.Suffix);
        Assert.True(pod.Plan is not null, pod.Refusal);
        PodPlan = pod.Plan;
        Directory.CreateDirectory(SecretDir);
        foreach (var (key, value) in PodPlan.JobSecret.Data)
        {
            // Stage scripts refer to the pod's paths: the copies here refer to the sandbox's.
            var bytes = key.EndsWith(".sh", StringComparison.Ordinal)
                ? System.Text.Encoding.UTF8.GetBytes(Local(System.Text.Encoding.UTF8.GetString(value)))
                : value;
            File.WriteAllBytes(Path.Combine(SecretDir, key), bytes);
        }
    }

    public string Root { get; }
    public string BuildsDir { get; }
    public string CacheDir { get; }
    public JobPayload Job { get; }
    public RunnerEntry Runner { get; }
    public JobScriptPlan Plan { get; }
    public JobPodPlan PodPlan { get; }
    public string SecretDir => Path.Combine(Root, "job");
    public string RunDir => Path.Combine(Root, "run");
    public string ProjectDir => JobScripts.ProjectDir(Job, BuildsDir);

    public string Local(string podPath) => podPath.Replace(PodRoot, Root + "/", StringComparison.Ordinal);

    public StagePlan Stage(string name) => Plan.Find(name) ?? throw new InvalidOperationException($"no stage {name} in the plan");

    /// <summary>Runs a stage script in the foreground, as the launcher would, and returns its exit code and output.</summary>
    /// <param name="shell">A shell to run the script with, as the stage runner does once it has detected it (the script's
    /// own detection is then skipped); null: <c>sh</c>, and the script detects its shell itself.</param>
    public (int ExitCode, string Output) RunStage(string name, IReadOnlyDictionary<string, string>? env = null, string[]? shell = null)
    {
        var script = Path.Combine(Root, name + ".sh");
        File.WriteAllText(script, Local(Stage(name).Script));
        return Run(shell is null ? ["sh", script] : [.. shell, script, "--detected-shell"], env);
    }

    /// <summary>Runs an exec argv (from <see cref="StageCommands"/>) with the pod paths rewritten.</summary>
    public (int ExitCode, string Output) Exec(IReadOnlyList<string> argv, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? env = null) =>
        Run(argv.Select(Local).ToList(), env, timeout);

    /// <summary>Starts an exec argv with the pod paths rewritten and returns at once (its output is discarded): a test ends it
    /// as a dropped connection would.</summary>
    public Process Start(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(argv[0]) { UseShellExecute = false, RedirectStandardOutput = true, WorkingDirectory = "/" };
        foreach (var arg in argv.Skip(1).Select(Local))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        return process;
    }

    public static (int ExitCode, string Output) Run(IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? env = null,
        TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? "/",
        };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', argv)} did not finish");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A detached stage of a failed test may still write here; the temp dir is left behind.
        }
    }
}
