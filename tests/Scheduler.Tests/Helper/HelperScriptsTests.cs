using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Helper;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>Stage scripts that call <c>scheduler helper</c>, run with /bin/sh against this build's scheduler.dll, with the
/// pod's <c>/var/run/scheduler/</c> rewritten to a temporary directory.</summary>
public sealed class HelperScriptsTests : IDisposable
{
    private readonly TemporaryDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly RunnerEntry Runner = new() { Name = "r", Url = "https://gitlab.example.com", Token = "runner-token" };

    private static JobPayload Job(IReadOnlyList<string> script, IReadOnlyList<JobCache>? cache = null, IReadOnlyList<JobArtifact>? artifacts = null) => new()
    {
        Id = 77,
        Token = "job-token-secret",
        JobInfo = new JobInfo { Name = "build", ProjectId = 5, ProjectFullPath = "group/proj" },
        GitInfo = new GitInfo { Ref = "main", Sha = "abc" },
        Image = new JobImage { Name = "alpine" },
        Variables = [new JobVariable { Key = "GIT_STRATEGY", Value = "none", Public = true }],
        Steps = [new JobStep { Name = "script", Script = script }],
        Cache = cache ?? [],
        Artifacts = artifacts ?? [],
    };

    private (JobScriptPlan Plan, string ProjectDir) Prepare(JobPayload job)
    {
        var options = new ScriptOptions(HelperLocation.ForThisBuild(), Path.Combine(_dir.Path, "builds"), Path.Combine(_dir.Path, "cache"));
        var plan = JobScripts.Build(job, Runner, 0, new RunnerIdentity("1.0.0", "abc"), options);
        var pod = PodBuilder.Build(Runner, job, 0, new RunnerIdentity("1.0.0", "abc"), plan, () => "abcd1234").Plan!;
        var secretDir = Path.Combine(_dir.Path, "job");
        Directory.CreateDirectory(secretDir);
        foreach (var (key, value) in pod.JobSecret.Data)
        {
            // The variables script, like the stage scripts, refers to the pod's paths.
            if (key.EndsWith(".sh", StringComparison.Ordinal))
            {
                File.WriteAllText(Path.Combine(secretDir, key), Local(System.Text.Encoding.UTF8.GetString(value)));
            }
            else
            {
                File.WriteAllBytes(Path.Combine(secretDir, key), value);
            }
        }

        return (plan, JobScripts.ProjectDir(job, options.BuildsDir));
    }

    private (int Code, string Output) RunStage(JobScriptPlan plan, string name)
    {
        var script = Path.Combine(_dir.Path, name + ".sh");
        File.WriteAllText(script, Local(plan.Find(name)!.Script));
        return Run(["sh", script]);
    }

    private string Local(string text) => text.Replace("/var/run/scheduler/", _dir.Path + "/", StringComparison.Ordinal);

    private static (int Code, string Output) Run(IReadOnlyList<string> argv)
    {
        var start = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)));
        return (process.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void Cache_saved_by_one_job_is_restored_in_the_next()
    {
        var cache = new JobCache { Key = "deps-$CI_COMMIT_REF_NAME", Paths = ["vendor"] };
        var first = Prepare(Job(["mkdir -p vendor && echo lib > vendor/lib.txt"], [cache]));
        Assert.Contains("WARNING: Failed to extract cache", RunStage(first.Plan, "restore_cache").Output, StringComparison.Ordinal);
        Assert.Equal(0, RunStage(first.Plan, "step_script").Code);
        var (code, output) = RunStage(first.Plan, "archive_cache");
        Assert.True(code == 0, output);
        Assert.Contains("Creating cache deps-main...", output, StringComparison.Ordinal);
        Assert.Contains("Created cache", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir.Path, "cache", "group", "proj", "deps-main", "cache.zip")));

        Directory.Delete(first.ProjectDir, recursive: true);
        var second = Prepare(Job(["cat vendor/lib.txt"], [cache]));
        (code, output) = RunStage(second.Plan, "restore_cache");
        Assert.True(code == 0, output);
        Assert.Contains("Successfully extracted cache", output, StringComparison.Ordinal);
        (code, output) = RunStage(second.Plan, "step_script");
        Assert.Equal(0, code);
        Assert.Contains("\nlib\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Artifacts_stage_writes_the_listed_archive()
    {
        var job = Job(["mkdir -p out && echo bin > out/app && echo t > out/app.tmp"],
            artifacts: [new JobArtifact { Paths = ["out/"], Exclude = ["**/*.tmp"] }, new JobArtifact { Paths = ["nothing"] }]);
        var (plan, _) = Prepare(job);
        Assert.Equal(0, RunStage(plan, "step_script").Code);
        var (code, output) = RunStage(plan, "upload_artifacts_on_success");
        Assert.True(code == 0, output);
        Assert.Contains("out/: found 3 matching artifact files and directories", output, StringComparison.Ordinal);
        Assert.Contains("WARNING: nothing: no matching files", output, StringComparison.Ordinal);

        using var zip = ZipFile.OpenRead(Local(plan.ArtifactArchives[0]));
        Assert.Equal(["out/", "out/app"], zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(Local(plan.ArtifactArchives[1])));
    }

    [Theory]
    [InlineData(0L, "0123456789")]
    [InlineData(4L, "456789")]
    public void Read_log_through_the_command_line(long offset, string expected)
    {
        var log = _dir.Write("output.log", "0123456789");
        var argv = StageCommands.ReadLog(HelperLocation.ForThisBuild(), offset, follow: false).Select(a => a == StageCommands.OutputLog ? log : a).ToList();
        var (code, output) = Run(argv);
        Assert.Equal((0, expected), (code, output));
    }

    [Theory]
    [InlineData("read-log")]
    [InlineData("cache-extractor")]
    [InlineData("no-such-command")]
    public void Usage_errors_exit_1(string subcommand)
    {
        var (code, output) = Run([.. HelperLocation.ForThisBuild().Prefix, "helper", subcommand]);
        Assert.True(code == 1, output);
    }
}
