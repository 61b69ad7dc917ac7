using System.CommandLine;
using System.IO.Compression;
using System.Text;
using Scheduler.FakeGitLab;
using Scheduler.Helper;
using Scheduler.Messages.Jobs;
using Scheduler.Scheduler.Tests.GitLab;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary><c>scheduler helper artifacts-uploader</c> and <c>artifacts-downloader</c> against the fake GitLab, as the
/// stage scripts call them: token from the job Secret's file, GitLab Runner's retries and messages.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ArtifactTransferTests : FakeGitLabTest, IDisposable
{
    private readonly TemporaryDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(Command command, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = await command.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    private async Task<JobPayload> RunningJobAsync() => await StartJobAsync(Client(), GitLab.AddRunner());

    // The Secret's file ends with whatever the token has; a trailing newline must not reach the header.
    private string TokenFile(JobPayload job) => _dir.Write("job/job-token-" + job.Id, job.Token + "\n");

    private string Archive(string name = "a.zip")
    {
        _dir.Write("project/out/result.txt", "result\n");
        var path = Path.Combine(_dir.Path, name);
        ZipArchives.Create(Path.Combine(_dir.Path, "project"), ["out", "out/result.txt"], path);
        return path;
    }

    private Task<(int ExitCode, string Output, string Error)> UploadAsync(JobPayload job, string archive, params string[] extra) =>
        RunAsync(ArtifactsUploaderCommand.Create(), ["--url", GitLab.Url, "--id", job.Id.ToString(), "--token-file", TokenFile(job), "--file", archive, .. extra]);

    public static TheoryData<string[], string, string> UploadFields => new()
    {
        { [], "artifacts.zip", "?artifact_format=zip&artifact_type=archive" },
        { ["--name", "build-output", "--expire-in", "7d"], "build-output.zip", "?artifact_format=zip&artifact_type=archive&expire_in=7d" },
        { ["--name", "junit.xml", "--format", "gzip", "--type", "junit"], "junit.xml.gz", "?artifact_format=gzip&artifact_type=junit" },
    };

    [Theory]
    [MemberData(nameof(UploadFields))]
    public async Task Upload_is_one_multipart_file_with_the_job_token_from_the_file(string[] options, string fileName, string query)
    {
        var job = await RunningJobAsync();
        var archive = Archive();

        var (exitCode, output, error) = await UploadAsync(job, archive, options);

        Assert.Equal((0, ""), (exitCode, error));
        Assert.StartsWith("Uploading artifacts as \"", output);
        Assert.Contains($"to coordinator... 201 Created  id={job.Id} file={fileName}", output);
        var request = Assert.Single(GitLab.RequestsTo(FakeEndpoint.UploadArtifacts));
        Assert.Equal(("POST", $"/api/v4/jobs/{job.Id}/artifacts", query), (request.Method, request.Path, request.Query));
        Assert.Equal(job.Token, request.Header("JOB-TOKEN"));
        Assert.StartsWith("multipart/form-data; boundary=", request.Header("Content-Type"));
        // The fake keeps a form's part named "file" (GitLab's field) as the artifact, and records its content as the body.
        Assert.Equal(await File.ReadAllBytesAsync(archive), request.Body);
        var stored = Assert.Single(GitLab.Job(job.Id)!.Artifacts);
        Assert.Equal(fileName, stored.FileName);
        Assert.Equal(await File.ReadAllBytesAsync(archive), stored.Content);
        Assert.DoesNotContain(job.Token, output + error);
    }

    public static TheoryData<int, int, int[], int, string> UploadFailures => new()
    {
        // status injected, how often, the statuses GitLab saw, exit code, what the trace says last
        { 500, 1, [500, 201], 0, "201 Created" },
        { 503, 5, [503, 503, 503, 503, 503, 201], 0, "201 Created" },
        { 503, 6, [503, 503, 503, 503, 503, 503], 1, "FATAL: the artifacts were not uploaded" },
        { 502, 3, [502, 502, 502], 1, "FATAL: the artifacts were not uploaded" },
        { 429, 1, [429, 201], 0, "201 Created" },
        { 400, 1, [400], 1, "FATAL: the artifacts were not uploaded" },
        { 403, 1, [403], 1, "FATAL: permission denied" },
        { 413, 1, [413], 1, "FATAL: too large" },
    };

    [Theory]
    [MemberData(nameof(UploadFailures))]
    public async Task Upload_retries_5xx_and_stops_at_4xx(int status, int count, int[] seen, int expectedExit, string last)
    {
        var job = await RunningJobAsync();
        GitLab.InjectFault(FakeEndpoint.UploadArtifacts, status, count);

        var (exitCode, output, error) = await UploadAsync(job, Archive());

        Assert.Equal(seen, GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Select(r => r.Status));
        Assert.Equal(expectedExit, exitCode);
        Assert.Contains(last, (exitCode == 0 ? output : error).TrimEnd().Split('\n')[^1]);
        Assert.Equal(expectedExit == 0 ? 1 : 0, GitLab.Job(job.Id)!.Artifacts.Count);
    }

    [Fact]
    public async Task An_archive_GitLab_finds_too_large_fails_with_its_reason()
    {
        var job = await RunningJobAsync();
        GitLab.MaxArtifactBytes = 10;

        var (exitCode, _, error) = await UploadAsync(job, Archive());

        Assert.Equal(1, exitCode);
        Assert.Contains("ERROR: Uploading artifacts as \"archive\" to coordinator... too large (HTTP 413)", error);
        Assert.Contains("FATAL: too large", error);
        Assert.Single(GitLab.RequestsTo(FakeEndpoint.UploadArtifacts));
    }

    [Fact]
    public async Task Download_extracts_into_the_folder_keeping_modes_and_links()
    {
        var job = await RunningJobAsync();
        _dir.Write("project/bin/tool", "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(_dir.Path, "project/bin/tool"), (UnixFileMode)0x1ED);
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "project/bin/link"), "tool");
        var archive = Path.Combine(_dir.Path, "tools.zip");
        ZipArchives.Create(Path.Combine(_dir.Path, "project"), ["bin", "bin/tool", "bin/link"], archive);
        Assert.Equal(0, (await UploadAsync(job, archive)).ExitCode);
        var target = Path.Combine(_dir.Path, "build");
        var output = Path.Combine(_dir.Path, "run", "dependencies", job.Id + ".zip");

        var (exitCode, stdout, error) = await RunAsync(ArtifactsDownloaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", TokenFile(job), "--output", output, "--extract-to", target);

        Assert.Equal((0, ""), (exitCode, error));
        Assert.Contains($"Downloading artifacts from coordinator... ok  id={job.Id} responseStatus=200 OK", stdout);
        Assert.Contains($"Extracted 3 files and directories to {target}", stdout);
        Assert.Equal("#!/bin/sh\necho tool\n", await File.ReadAllTextAsync(Path.Combine(target, "bin/tool")));
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(Path.Combine(target, "bin/tool")));
        Assert.Equal("tool", new FileInfo(Path.Combine(target, "bin/link")).LinkTarget);
        Assert.Equal(job.Token, GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts)[0].Header("JOB-TOKEN"));
    }

    public static TheoryData<int, int, int[], int, string> DownloadFailures => new()
    {
        { 500, 1, [500, 200], 0, "Extracted" },
        { 502, 3, [502, 502, 502], 1, "were not downloaded" },
        { 404, 1, [404], 1, "do not exist: they expired or were removed" },
        { 403, 1, [403], 1, "permission denied" },
        { 401, 1, [401], 1, "permission denied" },
    };

    [Theory]
    [MemberData(nameof(DownloadFailures))]
    public async Task Download_retries_server_errors_and_stops_at_missing_or_forbidden(int status, int count, int[] seen, int expectedExit, string last)
    {
        var job = await RunningJobAsync();
        Assert.Equal(0, (await UploadAsync(job, Archive())).ExitCode);
        GitLab.InjectFault(FakeEndpoint.DownloadArtifacts, status, count);
        var output = Path.Combine(_dir.Path, "dl", "a.zip");
        var target = Path.Combine(_dir.Path, "build");

        var (exitCode, stdout, error) = await RunAsync(ArtifactsDownloaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", TokenFile(job), "--output", output, "--extract-to", target);

        Assert.Equal(seen, GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts).Select(r => r.Status));
        Assert.Equal(expectedExit, exitCode);
        Assert.Contains(last, (exitCode == 0 ? stdout : error).TrimEnd().Split('\n')[^1]);
        Assert.Equal(expectedExit == 0, File.Exists(Path.Combine(target, "out/result.txt")));
        Assert.False(File.Exists(output + ".part"));
    }

    [Fact]
    public async Task Download_refuses_an_archive_that_writes_outside_the_folder()
    {
        var job = await RunningJobAsync();
        var archive = Path.Combine(_dir.Path, "evil.zip");
        using (var zip = ZipFile.Open(archive, ZipArchiveMode.Create))
        {
            using var writer = new StreamWriter(zip.CreateEntry("../escaped.txt").Open(), Encoding.UTF8);
            writer.Write("x");
        }

        Assert.Equal(0, (await UploadAsync(job, archive)).ExitCode);
        var target = Path.Combine(_dir.Path, "build", "project");

        var (exitCode, _, error) = await RunAsync(ArtifactsDownloaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", TokenFile(job), "--output", Path.Combine(_dir.Path, "evil-download.zip"), "--extract-to", target);

        Assert.Equal(1, exitCode);
        Assert.Contains($"ERROR: cannot extract the artifacts of job {job.Id}", error);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "build", "escaped.txt")));
    }
}
