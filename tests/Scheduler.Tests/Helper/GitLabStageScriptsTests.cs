using System.Diagnostics;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Helper;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Scheduler.Tests.GitLab;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>The generated artifact stages, run with /bin/sh against this build's scheduler.dll and the fake GitLab, with
/// the pod's <c>/var/run/scheduler/</c> rewritten to a temporary directory.</summary>
public sealed class GitLabStageScriptsTests : FakeGitLabTest, IDisposable
{
    private readonly TemporaryDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (JobScriptPlan Plan, string ProjectDir) Prepare(JobPayload job)
    {
        var runner = new RunnerEntry { Name = "r", Url = GitLab.Url, Token = "runner-token" };
        var options = ScriptOptions.For(runner, HelperLocation.ForThisBuild()) with
        {
            BuildsDir = Path.Combine(_dir.Path, "builds"),
            CacheDir = Path.Combine(_dir.Path, "cache"),
        };
        var plan = JobScripts.Build(job, runner, 0, new RunnerIdentity("1.0.0", "abc"), options);
        var pod = PodBuilder.Build(runner, job, 0, new RunnerIdentity("1.0.0", "abc"), plan, () => "abcd1234").Plan!;
        var secretDir = Path.Combine(_dir.Path, "job");
        Directory.CreateDirectory(secretDir);
        foreach (var (key, value) in pod.JobSecret.Data)
        {
            // The variables script, like the stage scripts, refers to the pod's paths.
            if (key.EndsWith(".sh", StringComparison.Ordinal))
            {
                File.WriteAllText(Path.Combine(secretDir, key), System.Text.Encoding.UTF8.GetString(value).Replace("/var/run/scheduler/", _dir.Path + "/", StringComparison.Ordinal));
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
        File.WriteAllText(script, plan.Find(name)!.Script.Replace("/var/run/scheduler/", _dir.Path + "/", StringComparison.Ordinal));
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        start.ArgumentList.Add(script);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)));
        return (process.ExitCode, stdout + stderr.Result);
    }

    // The fake's CI_PROJECT_DIR names /builds: left out, so the predefined one (under the temporary builds dir) applies.
    private static JobPayload Payload(JobPayload received) => received with
    {
        Variables = [.. received.Variables.Where(v => v.Key != "CI_PROJECT_DIR"), new JobVariable { Key = "GIT_STRATEGY", Value = "none", Public = true }],
        Steps = [],
    };

    [Fact]
    public async Task Upload_stage_sends_the_archive_and_the_next_jobs_download_stage_extracts_it()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var producer = Payload(await StartJobAsync(client, runner, new FakeJobBuilder().Name("compile").Artifact("dist", ["out/"])));
        var (plan, projectDir) = Prepare(producer);
        Directory.CreateDirectory(Path.Combine(projectDir, "out"));
        await File.WriteAllTextAsync(Path.Combine(projectDir, "out", "app.txt"), "built\n");

        var upload = RunStage(plan, "upload_artifacts_on_success");

        Assert.True(upload.Code == 0, upload.Output);
        Assert.Contains("Uploading artifacts...", upload.Output);
        Assert.Contains($"Uploading artifacts as \"archive\" to coordinator... 201 Created  id={producer.Id} file=dist.zip", upload.Output);
        Assert.Equal("dist.zip", Assert.Single(GitLab.Job(producer.Id)!.Artifacts).FileName);
        Assert.DoesNotContain(producer.Token, upload.Output);
        await client.UpdateJobAsync(producer.Id, producer.Token, new JobUpdate(JobState.Success));

        var consumer = Payload(await StartJobAsync(client, runner, new FakeJobBuilder().DependsOn(producer.Id)));
        var consumerPlan = Prepare(consumer);
        var download = RunStage(consumerPlan.Plan, "download_artifacts");

        Assert.True(download.Code == 0, download.Output);
        Assert.Contains($"Downloading artifacts for compile ({producer.Id})...", download.Output);
        Assert.Equal("built\n", await File.ReadAllTextAsync(Path.Combine(consumerPlan.ProjectDir, "out", "app.txt")));
        Assert.Equal(consumer.Token, Assert.Single(GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts)).Header("JOB-TOKEN"));
    }

    [Theory]
    [InlineData(null, 1, 1, "FATAL: the artifacts of job")]
    [InlineData("2", 0, 2, "Retrying (attempt 2 of 2)...")]
    [InlineData("0", 1, 0, "ERROR: ARTIFACT_DOWNLOAD_ATTEMPTS=0: the number of attempts must be between 1 and 10")]
    [InlineData("x", 1, 0, "ERROR: ARTIFACT_DOWNLOAD_ATTEMPTS=x: the number of attempts must be between 1 and 10")]
    public async Task A_missing_dependency_archive_fails_the_stage_unless_a_later_attempt_finds_it(string? attempts, int expectedCode, int requests,
        string expectedText)
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var producer = await StartJobAsync(client, runner, new FakeJobBuilder().Name("compile"));
        var archive = Path.Combine(_dir.Path, "a.zip");
        _dir.Write("src/f.txt", "f");
        ZipArchives.Create(Path.Combine(_dir.Path, "src"), ["f.txt"], archive);
        await using (var file = File.OpenRead(archive))
        {
            await client.UploadArtifactsAsync(producer.Id, producer.Token, file, "artifacts.zip");
        }

        var builder = new FakeJobBuilder().DependsOn(producer.Id);
        if (attempts is not null)
        {
            builder.Variable("ARTIFACT_DOWNLOAD_ATTEMPTS", attempts);
        }

        var consumer = Payload(await StartJobAsync(client, runner, builder));
        GitLab.InjectFault(FakeEndpoint.DownloadArtifacts, 404);
        var (plan, projectDir) = Prepare(consumer);

        var (code, output) = RunStage(plan, "download_artifacts");

        Assert.True(expectedCode == code, output);
        Assert.Contains(expectedText, output);
        Assert.Equal(requests, GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts).Count);
        Assert.Equal(expectedCode == 0, File.Exists(Path.Combine(projectDir, "f.txt")));
    }
}
