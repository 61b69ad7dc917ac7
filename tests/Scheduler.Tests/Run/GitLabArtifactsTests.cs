using System.IO.Compression;
using System.Text;
using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Jobs from the fake GitLab on the embedded cluster whose artifacts go to GitLab, and jobs that depend on them.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class GitLabArtifactsTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task Artifacts_reach_GitLab_and_a_dependent_job_finds_them_in_its_build_dir()
    {
        var token = GitLab.AddRunner();
        // One 503 on the upload: the uploader retries it inside the stage.
        GitLab.InjectFault(FakeEndpoint.UploadArtifacts, 503);
        var producer = GitLab.EnqueueJob(token, Job("mkdir -p out/sub", "echo produced-by-first-job > out/sub/result.txt", "echo not-kept > other.txt")
            .Name("compile").Artifact("build-output", ["out/"], expireIn: "1 week"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(producer);
        AssertFinal(producer, "success");
        var trace = producer.TraceText();
        Assert.Contains("Uploading artifacts for successful job", trace);
        Assert.Contains("out/: found 3 matching artifact files and directories", trace);
        Assert.Contains("Uploading artifacts as \"archive\" to coordinator... 201 Created", trace);
        Assert.Equal([503, 201], GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Select(r => r.Status));
        Assert.All(GitLab.RequestsTo(FakeEndpoint.UploadArtifacts), r => Assert.Equal(producer.Token, r.Header("JOB-TOKEN")));
        var stored = Assert.Single(producer.Artifacts);
        Assert.Equal(("build-output.zip", "zip", "archive", "1 week"), (stored.FileName, stored.Format, stored.Type, stored.ExpireIn));
        using (var zip = new ZipArchive(new MemoryStream(stored.Content)))
        {
            Assert.Equal(["out/", "out/sub/", "out/sub/result.txt"], zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
            using var reader = new StreamReader(zip.GetEntry("out/sub/result.txt")!.Open(), Encoding.UTF8);
            Assert.Equal("produced-by-first-job\n", await reader.ReadToEndAsync());
        }

        var consumer = GitLab.EnqueueJob(token, Job("cat out/sub/result.txt", "test ! -e other.txt").Name("test").DependsOn(producer.Id));

        await WaitFinishedAsync(consumer);
        AssertFinal(consumer, "success");
        var consumerTrace = consumer.TraceText();
        Assert.Contains($"Downloading artifacts for compile ({producer.Id})...", consumerTrace);
        Assert.Contains("Downloading artifacts from coordinator... ok", consumerTrace);
        Assert.Contains("\nproduced-by-first-job\n", consumerTrace);
        var download = Assert.Single(GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts));
        Assert.Equal($"/api/v4/jobs/{producer.Id}/artifacts", download.Path);
        Assert.Equal(consumer.Token, download.Header("JOB-TOKEN"));
        Assert.DoesNotContain(consumer.Token, consumerTrace);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task Reports_are_uploaded_each_in_its_format_beside_the_archive()
    {
        var token = GitLab.AddRunner();
        // As GitLab sends artifacts:reports: one entry per report, when always, named after the report's default file.
        var job = GitLab.EnqueueJob(token, Job(
                "mkdir -p reports out",
                "printf '<testsuites><testsuite name=\"unit\" tests=\"1\"/></testsuites>\\n' > reports/unit.xml",
                "printf '<testsuites><testsuite name=\"api\" tests=\"2\"/></testsuites>\\n' > reports/api.xml",
                "printf 'VERSION=1.2.3\\n' > build.env",
                "echo binary > out/app")
            .Artifact("out", ["out/"], expireIn: "1 day")
            .Artifact("junit.xml", ["reports/*.xml"], when: "always", type: "junit", format: "gzip", expireIn: "1 day")
            .Artifact(".env", ["build.env"], when: "always", type: "dotenv", format: "gzip", expireIn: "1 day"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        Assert.Contains("Uploading artifacts as \"junit\" to coordinator... 201 Created", job.TraceText());
        Assert.Equal(["out.zip", "junit.xml.gz", ".env.gz"], job.Artifacts.Select(a => a.FileName));

        var junit = job.Artifacts.Single(a => a.Type == "junit");
        Assert.Equal("?artifact_format=gzip&artifact_type=junit&expire_in=1%20day", junit.Query);
        Assert.Equal("<testsuites><testsuite name=\"api\" tests=\"2\"/></testsuites>\n<testsuites><testsuite name=\"unit\" tests=\"1\"/></testsuites>\n",
            Gunzip(junit.Content));

        var dotenv = job.Artifacts.Single(a => a.Type == "dotenv");
        Assert.Equal("?artifact_format=gzip&artifact_type=dotenv&expire_in=1%20day", dotenv.Query);
        Assert.Equal("VERSION=1.2.3\n", Gunzip(dotenv.Content));

        var archive = job.Artifacts.Single(a => a.Type == "archive");
        Assert.Equal("?artifact_format=zip&artifact_type=archive&expire_in=1%20day", archive.Query);
        using var zip = new ZipArchive(new MemoryStream(archive.Content));
        Assert.Equal(["out/", "out/app"], zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
    }

    private static string Gunzip(byte[] content)
    {
        using var gzip = new GZipStream(new MemoryStream(content), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [Fact]
    public async Task Artifacts_of_a_failed_job_are_uploaded_when_asked_for()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("mkdir -p logs", "echo failure-details > logs/error.log", "exit 4")
            .Artifact("kept", ["out/"]).Artifact("logs", ["logs/"], when: "on_failure"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "failed", "script_failure", 4);
        Assert.Contains("Uploading artifacts for failed job", job.TraceText());
        var stored = Assert.Single(job.Artifacts);
        Assert.Equal("logs.zip", stored.FileName);
        using var zip = new ZipArchive(new MemoryStream(stored.Content));
        Assert.NotNull(zip.GetEntry("logs/error.log"));
    }

    [Fact]
    public async Task Missing_dependency_artifacts_fail_the_job_before_its_script()
    {
        var token = GitLab.AddRunner();
        var producer = GitLab.EnqueueJob(token, Job("echo x > a.txt").Name("compile").Artifact("a", ["a.txt"]));
        StartHost(Settings(1, Entry("r1", token)));
        await WaitFinishedAsync(producer);
        AssertFinal(producer, "success");

        // GitLab listed the archive, but it expired before the download.
        GitLab.InjectFault(FakeEndpoint.DownloadArtifacts, 404);
        var consumer = GitLab.EnqueueJob(token, Job("echo script-must-not-run").Name("test").DependsOn(producer.Id));

        await WaitFinishedAsync(consumer);
        Assert.True(consumer.Status == "failed", $"expected failed, got {consumer.Status}\n{consumer.TraceText()}");
        var trace = consumer.TraceText();
        Assert.Contains($"Downloading artifacts for compile ({producer.Id})...", trace);
        Assert.Contains($"FATAL: the artifacts of job {producer.Id} do not exist", trace);
        Assert.DoesNotContain("\nscript-must-not-run", trace);
        Assert.Single(GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts));
    }

    [Fact]
    public async Task A_dependency_without_artifacts_is_not_downloaded()
    {
        var token = GitLab.AddRunner();
        var producer = GitLab.EnqueueJob(token, Job("echo no-artifacts").Name("lint"));
        StartHost(Settings(1, Entry("r1", token)));
        await WaitFinishedAsync(producer);

        var consumer = GitLab.EnqueueJob(token, Job("echo consumer-ran").DependsOn(producer.Id));

        await WaitFinishedAsync(consumer);
        AssertFinal(consumer, "success");
        Assert.DoesNotContain("Downloading artifacts", consumer.TraceText());
        Assert.Empty(GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts));
    }
}
