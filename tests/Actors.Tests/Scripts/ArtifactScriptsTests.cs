using System.Text;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>Which stages download and upload artifacts, and what they call, with and without a GitLab to talk to.</summary>
public sealed class ArtifactScriptsTests
{
    private const string GitLab = "https://gitlab.example.com";
    private const string TokenFile = "'/var/run/scheduler/job/job-token'";

    private static readonly ScriptOptions WithGitLab = new(HelperInvocation.Default, GitLabUrl: GitLab);
    private static readonly ScriptOptions WithoutGitLab = new(HelperInvocation.Default);

    private static JobArtifact Artifact(string when, params string[] paths) => new() { Name = "out-" + when, Paths = paths, When = when, ExpireIn = "7d" };

    private static JobDependency Dependency(long id, string name, bool withArchive) => new()
    {
        Id = id,
        Name = name,
        Token = TestData.JobToken,
        ArtifactsFile = withArchive ? new ArtifactsFile { Filename = "artifacts.zip", Size = 10 } : null,
    };

    private static JobPayload Job(IReadOnlyList<JobArtifact>? artifacts = null, IReadOnlyList<JobDependency>? dependencies = null,
        IReadOnlyList<JobVariable>? variables = null, bool afterScript = false)
    {
        var steps = new List<JobStep> { new() { Name = "script", Script = ["echo hello"] } };
        if (afterScript)
        {
            steps.Add(new JobStep { Name = "after_script", Script = ["echo bye"], When = "always" });
        }

        return TestData.Job(variables: variables) with { Steps = steps, Artifacts = artifacts ?? [], Dependencies = dependencies ?? [] };
    }

    private static JobScriptPlan Build(JobPayload job, ScriptOptions options) =>
        JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, options);

    public static TheoryData<string, JobPayload, string[]> StageLists => new()
    {
        { "no artifacts, no dependencies", Job(), ["get_sources", "step_script"] },
        { "when on_success", Job([Artifact("on_success", "out")]), ["get_sources", "step_script", "upload_artifacts_on_success"] },
        { "when on_failure", Job([Artifact("on_failure", "out")]), ["get_sources", "step_script", "upload_artifacts_on_failure"] },
        {
            "when always", Job([Artifact("always", "out")]),
            ["get_sources", "step_script", "upload_artifacts_on_success", "upload_artifacts_on_failure"]
        },
        {
            "a dependency with artifacts, after_script", Job(dependencies: [Dependency(7, "build", true)], afterScript: true),
            ["get_sources", "download_artifacts", "step_script", "after_script"]
        },
        { "dependencies without artifacts_file", Job(dependencies: [Dependency(7, "build", false), Dependency(8, "lint", false)]), ["get_sources", "step_script"] },
        {
            "download before the script, uploads last", Job([Artifact("always", "out")], [Dependency(7, "build", true)], afterScript: true),
            ["get_sources", "download_artifacts", "step_script", "after_script", "upload_artifacts_on_success", "upload_artifacts_on_failure"]
        },
    };

    [Theory]
    [MemberData(nameof(StageLists))]
    public void Stages_download_before_the_script_and_upload_after_it(string _, JobPayload job, string[] expected)
    {
        var plan = Build(job, WithGitLab);
        Assert.Equal(expected, plan.Stages.Select(s => s.Name));
        Assert.All(plan.Stages.Where(s => s.Name.Contains("artifacts", StringComparison.Ordinal)), s => Assert.Equal(PodBuilder.HelperContainer, s.Container));
    }

    public static TheoryData<string, string, StageRunsWhen> UploadConditions => new()
    {
        { "on_success", "upload_artifacts_on_success", StageRunsWhen.OnSuccess },
        { "on_failure", "upload_artifacts_on_failure", StageRunsWhen.OnFailure },
        { "always", "upload_artifacts_on_success", StageRunsWhen.OnSuccess },
        { "always", "upload_artifacts_on_failure", StageRunsWhen.OnFailure },
    };

    [Theory]
    [MemberData(nameof(UploadConditions))]
    public void Each_upload_stage_archives_then_uploads_the_archive(string when, string stage, StageRunsWhen runsWhen)
    {
        var plan = Build(Job([Artifact(when, "out", "bin/*.so")]), WithGitLab);
        var upload = plan.Find(stage)!;
        Assert.Equal(runsWhen, upload.When);
        var archiver = upload.Script.IndexOf(
            // The archiver is one of the native helper's commands: the image's scheduler-helper when it is there.
            ShellText.QuoteAll(HelperInvocation.Default.Command("artifacts-archiver")) +
            " '--output' '/var/run/scheduler/run/artifacts/0.zip' '--path' 'out' '--path' 'bin/*.so'",
            StringComparison.Ordinal);
        var uploader = upload.Script.IndexOf(
            // So is the uploader.
            $"if [ -f '/var/run/scheduler/run/artifacts/0.zip' ]; then {ShellText.QuoteAll(HelperInvocation.Default.Command("artifacts-uploader"))} '--url' '{GitLab}' '--id' '1234' " +
            $"'--token-file' {TokenFile} '--file' '/var/run/scheduler/run/artifacts/0.zip' '--name' 'out-{when}' '--format' 'zip' " +
            "'--type' 'archive' '--expire-in' '7d'; fi", StringComparison.Ordinal);
        Assert.True(archiver >= 0 && uploader > archiver, upload.Script);
    }

    [Fact]
    public void Only_the_artifacts_of_a_stage_are_uploaded_in_it_in_job_order()
    {
        var plan = Build(Job([Artifact("on_failure", "log"), Artifact("always", "a"), Artifact("on_success", "b")]), WithGitLab);
        Assert.Equal(["/var/run/scheduler/run/artifacts/1.zip", "/var/run/scheduler/run/artifacts/2.zip"],
            UploadedFiles(plan.Find("upload_artifacts_on_success")!.Script));
        Assert.Equal(["/var/run/scheduler/run/artifacts/0.zip", "/var/run/scheduler/run/artifacts/1.zip"],
            UploadedFiles(plan.Find("upload_artifacts_on_failure")!.Script));
    }

    [Fact]
    public void Download_fetches_each_dependency_with_an_archive_into_the_project_dir()
    {
        var plan = Build(Job(dependencies: [Dependency(7, "build", true), Dependency(8, "lint", false), Dependency(9, "it's", true)]), WithGitLab);
        var script = plan.Find("download_artifacts")!.Script;
        Assert.Equal(StageRunsWhen.OnSuccess, plan.Find("download_artifacts")!.When);
        Assert.Contains("cd \"$CI_PROJECT_DIR\"", script, StringComparison.Ordinal);
        Assert.Contains("printf 'Downloading artifacts for %s (%s)...\\n' 'build' 7\n_n=1\n" +
                        $"until {ShellText.QuoteAll(HelperInvocation.Default.Command("artifacts-downloader"))} '--url' '{GitLab}' '--id' '7' '--token-file' {TokenFile} " +
                        "'--output' '/var/run/scheduler/run/dependencies/7.zip' '--extract-to' '.'; do\n", script, StringComparison.Ordinal);
        Assert.Contains("printf 'Downloading artifacts for %s (%s)...\\n' 'it'\\''s' 9\n", script, StringComparison.Ordinal);
        Assert.DoesNotContain("'8'", script, StringComparison.Ordinal);
        Assert.True(script.IndexOf("'7'", StringComparison.Ordinal) < script.IndexOf("'9'", StringComparison.Ordinal));
    }

    [Fact]
    public void Tokens_are_read_by_the_helper_from_the_Secret_never_written_in_a_script()
    {
        var job = Job([Artifact("always", "out")], [Dependency(7, "build", true) with { Token = "glcbt-dependency-token-secret" }]);
        var plan = Build(job, WithGitLab);
        Assert.All(plan.Stages, stage =>
        {
            Assert.DoesNotContain(TestData.JobToken, stage.Script, StringComparison.Ordinal);
            Assert.DoesNotContain("glcbt-dependency-token-secret", stage.Script, StringComparison.Ordinal);
        });
        Assert.Contains("'--token-file' " + TokenFile, plan.Find("download_artifacts")!.Script, StringComparison.Ordinal);
    }

    public static TheoryData<string, ScriptOptions, JobVariable[]> NoGitLab => new()
    {
        { "no GitLab URL (exec)", WithoutGitLab, [] },
        { "the runner names an .invalid host", new ScriptOptions(HelperInvocation.Default, GitLabUrl: "http://gitlab.exec.invalid"), [] },
        { "the job names an .invalid server", WithGitLab, [TestData.Public("CI_SERVER_URL", "http://gitlab.exec.invalid")] },
    };

    [Theory]
    [MemberData(nameof(NoGitLab))]
    public void Without_a_reachable_GitLab_archives_stay_in_the_pod_and_nothing_is_downloaded(string _, ScriptOptions options, JobVariable[] variables)
    {
        var plan = Build(Job([Artifact("on_success", "out")], [Dependency(7, "build", true)], variables), options);
        Assert.Equal(["get_sources", "step_script", "upload_artifacts_on_success"], plan.Stages.Select(s => s.Name));
        var script = plan.Find("upload_artifacts_on_success")!.Script;
        Assert.Contains("'artifacts-archiver' '--output' '/var/run/scheduler/run/artifacts/0.zip'", script, StringComparison.Ordinal);
        Assert.DoesNotContain("artifacts-uploader", script, StringComparison.Ordinal);
        Assert.Equal(["/var/run/scheduler/run/artifacts/0.zip"], plan.ArtifactArchives);
    }

    [Fact]
    public void A_job_whose_server_is_the_runners_GitLab_transfers()
    {
        var plan = Build(Job([Artifact("on_success", "out")], variables: [TestData.Public("CI_SERVER_URL", GitLab)]), WithGitLab);
        Assert.Contains("artifacts-uploader", plan.Find("upload_artifacts_on_success")!.Script, StringComparison.Ordinal);
    }

    [Fact]
    public void Reports_are_archived_in_their_format_and_uploaded_each_on_its_own()
    {
        var junit = new JobArtifact { Name = "junit.xml", Paths = ["rspec.xml"], Type = "junit", Format = "gzip", When = "always", ExpireIn = "1 week" };
        var metrics = new JobArtifact { Name = "metrics.txt", Paths = ["metrics.txt"], Type = "metrics", Format = "raw", When = "always" };
        var plan = Build(Job([junit, Artifact("on_success", "out"), metrics]), WithGitLab);
        var script = plan.Find("upload_artifacts_on_success")!.Script;
        Assert.Contains("'artifacts-archiver' '--output' '/var/run/scheduler/run/artifacts/0.gz' '--path' 'rspec.xml' '--format' 'gzip'\n",
            script, StringComparison.Ordinal);
        Assert.Contains("'artifacts-archiver' '--output' '/var/run/scheduler/run/artifacts/2.raw' '--path' 'metrics.txt' '--format' 'raw'\n",
            script, StringComparison.Ordinal);
        Assert.Contains("'--file' '/var/run/scheduler/run/artifacts/0.gz' '--name' 'junit.xml' '--format' 'gzip' '--type' 'junit' '--expire-in' '1 week'",
            script, StringComparison.Ordinal);
        Assert.Contains("'--file' '/var/run/scheduler/run/artifacts/2.raw' '--name' 'metrics.txt' '--format' 'raw' '--type' 'metrics';",
            script, StringComparison.Ordinal);
        Assert.Equal(["/var/run/scheduler/run/artifacts/0.gz", "/var/run/scheduler/run/artifacts/1.zip", "/var/run/scheduler/run/artifacts/2.raw"],
            UploadedFiles(script));
        Assert.Equal(["/var/run/scheduler/run/artifacts/0.gz", "/var/run/scheduler/run/artifacts/2.raw"],
            UploadedFiles(plan.Find("upload_artifacts_on_failure")!.Script));
    }

    [Fact]
    public void A_format_the_helper_cannot_make_is_not_uploaded_and_says_so()
    {
        var zstd = new JobArtifact { Name = "big", Paths = ["out"], Format = "tarzstd", When = "on_success" };
        var plan = Build(Job([zstd, Artifact("on_success", "out")]), WithGitLab);
        var script = plan.Find("upload_artifacts_on_success")!.Script;
        Assert.Contains("echo 'WARNING: artifacts \"big\" in format tarzstd: only zip, gzip and raw are made; not uploaded'", script, StringComparison.Ordinal);
        Assert.Equal(["/var/run/scheduler/run/artifacts/1.zip"], UploadedFiles(script));
        Assert.Equal(["/var/run/scheduler/run/artifacts/1.zip"], plan.ArtifactArchives);
    }

    [Theory]
    [InlineData("https://gitlab.example.com", true)]
    [InlineData("http://127.0.0.1:8080/", true)]
    [InlineData("http://gitlab.exec.invalid", false)]
    [InlineData("http://GITLAB.EXEC.INVALID.", false)]
    [InlineData("http://invalid", false)]
    [InlineData("ftp://gitlab.example.com", false)]
    [InlineData("gitlab.example.com", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Reachable_GitLab_urls(string? url, bool reachable)
    {
        Assert.Equal(reachable, ScriptOptions.IsReachableGitLab(url));
        Assert.Equal(reachable ? url : null, ScriptOptions.For(TestData.Runner() with { Url = url ?? "" }, HelperInvocation.Default).GitLabUrl);
    }

    [Fact]
    public void Artifact_scripts_are_valid_sh()
    {
        var job = Job([Artifact("always", "o b", "c")], [Dependency(7, "b'uild", true)]);
        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity,
            new ScriptOptions(HelperInvocation.ForAssembly("/usr/bin/dotnet", "/x y/scheduler.dll"), GitLabUrl: GitLab));
        foreach (var stage in plan.Stages)
        {
            var file = Path.GetTempFileName();
            File.WriteAllText(file, stage.Script, new UTF8Encoding(false));
            var (code, output) = PodSandbox.Run(["sh", "-n", file]);
            File.Delete(file);
            Assert.True(code == 0, $"{stage.Name}: {output}");
        }
    }

    private static List<string> UploadedFiles(string script) =>
        script.Split('\n').Where(line => line.Contains("'artifacts-uploader'", StringComparison.Ordinal))
            .Select(line => line.Split("'--file' '")[1].Split('\'')[0]).ToList();
}
