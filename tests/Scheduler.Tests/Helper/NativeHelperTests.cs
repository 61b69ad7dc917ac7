using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography.X509Certificates;
using Scheduler.Actors.Scripts;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Helper;
using Scheduler.Messages.Jobs;
using Scheduler.Scheduler.Tests.GitLab;
using Xunit.Abstractions;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>The native <c>scheduler-helper</c> (src/PodHelper, published to artifacts/pod-helper by scripts/test.sh) against
/// the managed <c>scheduler helper</c>: the same commands give the same bytes, messages and exit codes (the artifact
/// transfers against the fake GitLab and a scripted one); and where the runner finds it.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class NativeHelperTests(ITestOutputHelper output) : FakeGitLabTest, IDisposable
{
    private readonly TemporaryDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The published native helper, or null. In CI (env CI set) a missing one fails the test with how to build it;
    /// elsewhere the test says why it checked nothing and returns.</summary>
    private string? Native()
    {
        var native = HelperLocation.FindNative(AppContext.BaseDirectory, Environment.GetEnvironmentVariable(HelperLocation.NativePathVariable));
        if (native is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") is null,
                $"the native helper is not built: dotnet publish src/PodHelper -c Release -o artifacts/pod-helper (needs clang and zlib1g-dev)");
            output.WriteLine("not run: no native helper (dotnet publish src/PodHelper -c Release -o artifacts/pod-helper)");
        }

        return native;
    }

    private static IReadOnlyList<string> Managed => HelperInvocation.ForAssembly(HelperLocation.DotnetHost(), typeof(HelperLocation).Assembly.Location).Prefix;

    [Fact]
    public void The_native_helper_has_exactly_the_commands_the_scripts_send_it() =>
        Assert.Equal(HelperInvocation.NativeCommands, PodCommands.Names);

    [Theory]
    [InlineData(0L)]
    [InlineData(7L)]
    [InlineData(100_000L)]
    public void Read_log_gives_the_same_bytes_as_the_managed_helper(long offset)
    {
        if (Native() is not { } native)
        {
            return;
        }

        var log = _dir.Write("output.log", string.Concat(Enumerable.Range(0, 20_000).Select(i => $"line {i}\n")));
        string[] args = ["read-log", "--path", log, "--offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)];

        var fromNative = Run([native, .. args]);
        var fromManaged = Run([.. Managed, "helper", .. args]);

        Assert.Equal(0, fromNative.Code);
        Assert.Equal(fromManaged, fromNative);
        Assert.Equal(File.ReadAllText(log)[(int)offset..], fromNative.Output);
    }

    [Fact]
    public void The_artifacts_archiver_makes_the_same_archive_entries_as_the_managed_helper()
    {
        if (Native() is not { } native)
        {
            return;
        }

        var project = Path.Combine(_dir.Path, "project");
        _dir.Write("project/out/a.txt", "alpha\n");
        _dir.Write("project/out/sub/b.bin", new string('b', 70_000));
        _dir.Write("project/other.txt", "not selected\n");

        var nativeZip = Path.Combine(_dir.Path, "native.zip");
        var managedZip = Path.Combine(_dir.Path, "managed.zip");
        var fromNative = Run([native, "artifacts-archiver", "--output", nativeZip, "--path", "out"], project);
        var fromManaged = Run([.. Managed, "helper", "artifacts-archiver", "--output", managedZip, "--path", "out"], project);

        Assert.True(fromNative.Code == 0, fromNative.Output);
        Assert.Equal(fromManaged, (fromNative.Code, fromNative.Output.Replace(nativeZip, managedZip, StringComparison.Ordinal)));
        Assert.Equal(Entries(managedZip), Entries(nativeZip));
        Assert.Contains(("out/sub/b.bin", new string('b', 70_000)), Entries(nativeZip));
    }

    [Theory]
    [InlineData("read-log")]
    [InlineData("cache-extractor")]
    [InlineData("no-such-command")]
    public void Usage_errors_exit_1_as_in_the_managed_helper(string subcommand)
    {
        if (Native() is not { } native)
        {
            return;
        }

        Assert.Equal(1, Run([native, subcommand]).Code);
    }

    [Fact]
    public void A_helper_named_by_the_variable_wins_and_a_missing_one_is_not_replaced()
    {
        var named = _dir.Write("elsewhere/scheduler-helper", "");
        var build = Directory.CreateDirectory(Path.Combine(_dir.Path, "repo", "src", "Scheduler", "bin", "Debug")).FullName;
        var published = _dir.Write("repo/" + HelperLocation.RepositoryPublishPath, "");

        Assert.Equal(named, HelperLocation.FindNative(build, named));
        Assert.Null(HelperLocation.FindNative(build, Path.Combine(_dir.Path, "missing")));
        Assert.Equal(published, HelperLocation.FindNative(build, null)); // the repository's publish output, found upwards
        var beside = _dir.Write("repo/src/Scheduler/bin/Debug/scheduler-helper", "");
        Assert.Equal(beside, HelperLocation.FindNative(build, null));    // one beside the runner comes first
        Assert.Null(HelperLocation.FindNative(Directory.CreateDirectory(Path.Combine(_dir.Path, "bare")).FullName, null));
    }

    [Fact]
    public void Scripts_run_the_native_helper_for_its_commands_and_the_managed_one_for_the_rest()
    {
        var helper = new HelperInvocation(["scheduler"]) { Native = ["/opt/scheduler-helper"] };

        Assert.Equal(["/opt/scheduler-helper", "read-log"], helper.Command("read-log"));
        Assert.Equal(["/opt/scheduler-helper", "cache-archiver"], helper.Command("cache-archiver"));
        Assert.Equal(["/opt/scheduler-helper", "artifacts-uploader"], helper.Command("artifacts-uploader"));
        Assert.Equal(["/opt/scheduler-helper", "artifacts-downloader"], helper.Command("artifacts-downloader"));
        Assert.Equal(["scheduler", "helper", "no-such-command"], helper.Command("no-such-command"));
        Assert.Equal(["scheduler", "helper", "read-log"], (helper with { Native = null }).Command("read-log"));
    }

    [Theory]
    [InlineData("artifacts-uploader")]
    [InlineData("artifacts-downloader")]
    public void In_images_the_probe_finds_the_transfers_in_the_native_helpers_help(string command)
    {
        if (Native() is not { } native)
        {
            return;
        }

        // A PATH with the real native helper, and a stand-in for the managed one that says it ran.
        var bin = Directory.CreateDirectory(Path.Combine(_dir.Path, "bin")).FullName;
        File.CreateSymbolicLink(Path.Combine(bin, "scheduler-helper"), native);
        File.WriteAllText(Path.Combine(bin, "scheduler"), "#!/bin/sh\necho managed\n");
        File.SetUnixFileMode(Path.Combine(bin, "scheduler"), (UnixFileMode)0b111_101_101);
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in HelperInvocation.Default.Command(command).Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["PATH"] = bin + ":/usr/bin:/bin";
        using var process = Process.Start(start)!;
        var printed = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));

        // The native command ran (no options: a usage error of its own), not the stand-in.
        Assert.Equal((2, $"{command}: "), (process.ExitCode, printed[..(command.Length + 2)]));
    }

    // --- The artifact transfers: the native helper beside the managed one, against the same server. ---

    private async Task<JobPayload> RunningJobAsync() => await StartJobAsync(Client(), GitLab.AddRunner());

    private string TokenFile(string token) => _dir.Write("secret/job-token-" + Guid.NewGuid().ToString("N"), token + "\n");

    private string ZipOf(string name, string content)
    {
        var project = Path.Combine(_dir.Path, "project-" + name);
        _dir.Write($"project-{name}/out/{name}.txt", content);
        var archive = Path.Combine(_dir.Path, name + ".zip");
        ZipArchives.Create(project, ["out", $"out/{name}.txt"], archive);
        return archive;
    }

    private static string[] Upload(string url, long jobId, string tokenFile, string archive) =>
        ["artifacts-uploader", "--url", url, "--id", jobId.ToString(CultureInfo.InvariantCulture), "--token-file", tokenFile, "--file", archive];

    private static string[] Download(string url, long jobId, string tokenFile, string target, string? extractTo = null) =>
        ["artifacts-downloader", "--url", url, "--id", jobId.ToString(CultureInfo.InvariantCulture), "--token-file", tokenFile, "--output", target,
            .. extractTo is null ? Array.Empty<string>() : ["--extract-to", extractTo]];

    [Fact]
    public async Task Upload_and_download_give_the_same_results_as_the_managed_helper()
    {
        if (Native() is not { } native)
        {
            return;
        }

        var job = await RunningJobAsync();
        var tokenFile = TokenFile(job.Token);
        var archive = ZipOf("result", "result\n");

        var uploads = new List<(int Code, string Output)>();
        foreach (var helper in Helpers(native))
        {
            uploads.Add(await RunAsync([.. helper, .. Upload(GitLab.Url, job.Id, tokenFile, archive)]));
        }

        Assert.Equal(0, uploads[0].Code);
        Assert.Equal(uploads[1], uploads[0]);
        Assert.Contains($"201 Created  id={job.Id} file=artifacts.zip ({new FileInfo(archive).Length} bytes)", uploads[0].Output);
        var requests = GitLab.RequestsTo(FakeEndpoint.UploadArtifacts);
        Assert.Equal(2, requests.Count);
        Assert.All(requests, r => Assert.Equal(job.Token, r.Header("JOB-TOKEN")));
        Assert.StartsWith("multipart/form-data; boundary=", requests[0].Header("Content-Type"));
        // The same User-Agent but for the revision, which is the commit each was built at (a stale native build has another).
        Assert.Equal(WithoutRevision(requests[1].Header("User-Agent")), WithoutRevision(requests[0].Header("User-Agent")));
        Assert.Matches(@"^scheduler \S+ \([^;]+; dotnet; linux/\w+\)$", requests[0].Header("User-Agent"));
        Assert.All(GitLab.Job(job.Id)!.Artifacts, stored => Assert.Equal(File.ReadAllBytes(archive), stored.Content));

        var nativeTarget = Path.Combine(_dir.Path, "native", "deps", "a.zip");
        var managedTarget = Path.Combine(_dir.Path, "managed", "deps", "a.zip");
        var fromNative = await RunAsync([native, .. Download(GitLab.Url, job.Id, tokenFile, nativeTarget, Path.Combine(_dir.Path, "native", "build"))]);
        var fromManaged = await RunAsync([.. Managed, "helper", .. Download(GitLab.Url, job.Id, tokenFile, managedTarget, Path.Combine(_dir.Path, "managed", "build"))]);

        Assert.True(fromNative.Code == 0, fromNative.Output);
        Assert.Equal(fromManaged, (fromNative.Code, fromNative.Output.Replace("/native/", "/managed/", StringComparison.Ordinal)));
        Assert.Equal(File.ReadAllBytes(managedTarget), File.ReadAllBytes(nativeTarget));
        Assert.Equal("result\n", File.ReadAllText(Path.Combine(_dir.Path, "native", "build", "out", "result.txt")));
        Assert.DoesNotContain(job.Token, string.Concat(uploads.Select(u => u.Output)) + fromNative.Output);
    }

    public static TheoryData<int, int, int[], int, string> UploadFaults => new()
    {
        // status injected, how often, the statuses GitLab saw (per helper), exit code, what the trace says
        { 503, 2, [503, 503, 201], 0, "201 Created" },
        { 503, 6, [503, 503, 503, 503, 503, 503], 1, "FATAL: the artifacts were not uploaded" },
        { 502, 3, [502, 502, 502], 1, "FATAL: the artifacts were not uploaded" },
        { 413, 1, [413], 1, "FATAL: too large" },
        { 401, 1, [401], 1, "FATAL: permission denied" },
        { 403, 1, [403], 1, "FATAL: permission denied" },
    };

    [Theory]
    [MemberData(nameof(UploadFaults))]
    public async Task Upload_retries_and_final_answers_are_those_of_the_managed_helper(int status, int count, int[] seen, int expectedExit, string last)
    {
        if (Native() is not { } native)
        {
            return;
        }

        var job = await RunningJobAsync();
        var tokenFile = TokenFile(job.Token);
        var archive = ZipOf("faulty", "x\n");
        var results = new List<(int Code, string Output)>();
        foreach (var helper in Helpers(native))
        {
            var before = GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Count;
            GitLab.InjectFault(FakeEndpoint.UploadArtifacts, status, count);
            results.Add(await RunAsync([.. helper, .. Upload(GitLab.Url, job.Id, tokenFile, archive)]));
            Assert.Equal(seen, GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Skip(before).Select(r => r.Status));
        }

        Assert.Equal(expectedExit, results[0].Code);
        Assert.Contains(last, results[0].Output);
        Assert.Equal(results[1], results[0]);
        Assert.Equal(expectedExit == 0 ? 2 : 0, GitLab.Job(job.Id)!.Artifacts.Count);
    }

    [Fact]
    public async Task Over_https_the_native_uploader_trusts_the_jobs_CA_file_and_nothing_else()
    {
        if (Native() is not { } native)
        {
            return;
        }

        using var certificates = new global::Scheduler.Scheduler.Tests.Fleet.TestCertificates("self-managed GitLab CA");
        var (certificatePath, keyPath, _) = certificates.Issue("gitlab");
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        using var serving = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        await using var https = await FakeGitLabServer.StartHttpsAsync(serving);
        using var http = GitLabHttp.CreateClient(File.ReadAllText(certificates.CaPath));
        Assert.True(GitLabUrl.TryApiBase(https.Url, out var apiBase, out var urlError), urlError);
        var client = new GitLabClient(http, apiBase, new GitLabClientOptions(Identity, ""));
        var runner = https.AddRunner();
        https.EnqueueJob(runner);
        var job = Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runner, null)).Job;
        await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running));
        var upload = Upload(https.Url, job.Id, TokenFile(job.Token), ZipOf("tls", "over https\n"));

        // Without the CA the certificate is refused (a network error, retried, then given up); with it the upload lands.
        var untrusted = await RunAsync([native, .. upload]);
        var trusted = await RunAsync([native, .. upload], new() { ["CI_SERVER_TLS_CA_FILE"] = certificates.CaPath });

        Assert.Equal(1, untrusted.Code);
        Assert.Contains("network error", untrusted.Output);
        Assert.True(trusted.Code == 0, trusted.Output);
        Assert.Single(https.Job(job.Id)!.Artifacts);
    }

    [Fact]
    public async Task A_download_redirected_to_another_host_arrives_there_without_the_job_token()
    {
        if (Native() is not { } native)
        {
            return;
        }

        using var gitLab = new ScriptedHttpServer("127.0.0.1");
        using var storage = new ScriptedHttpServer("127.0.0.2");
        var archive = File.ReadAllBytes(ZipOf("stored", "from storage\n"));
        gitLab.Answer = (context, _) => context.Response.Redirect($"{storage.Url}blob?signature=abc");
        storage.Answer = (context, _) => context.Response.OutputStream.Write(archive);
        const string token = "job-token-secret-0001";
        var tokenFile = TokenFile(token);

        var target = Path.Combine(_dir.Path, "redirected", "a.zip");
        var fromNative = await RunAsync([native, .. Download(gitLab.Url, 7, tokenFile, target)]);

        Assert.True(fromNative.Code == 0, fromNative.Output);
        Assert.Equal(archive, File.ReadAllBytes(target));
        Assert.Equal(token, Assert.Single(gitLab.Requests).Headers["JOB-TOKEN"]);
        var atStorage = Assert.Single(storage.Requests);
        Assert.Equal("/blob?signature=abc", atStorage.Path);
        Assert.DoesNotContain(token, atStorage.AllHeaders, StringComparison.Ordinal);
        Assert.Equal(await RunAsync([.. Managed, "helper", .. Download(gitLab.Url, 7, tokenFile, target)]), fromNative);
    }

    [Fact]
    public async Task An_upload_redirected_to_another_host_is_not_sent_there()
    {
        if (Native() is not { } native)
        {
            return;
        }

        using var gitLab = new ScriptedHttpServer("127.0.0.1");
        using var storage = new ScriptedHttpServer("127.0.0.2");
        gitLab.Answer = (context, _) =>
        {
            context.Response.StatusCode = 307;
            context.Response.RedirectLocation = $"{storage.Url}upload";
        };
        var tokenFile = TokenFile("job-token-secret-0002");

        var fromNative = await RunAsync([native, .. Upload(gitLab.Url, 7, tokenFile, ZipOf("kept", "kept\n"))]);

        Assert.Equal(1, fromNative.Code);
        Assert.Contains("FATAL: the artifacts were not uploaded", fromNative.Output);
        Assert.Empty(storage.Requests);
        Assert.Equal(await RunAsync([.. Managed, "helper", .. Upload(gitLab.Url, 7, tokenFile, ZipOf("kept", "kept\n"))]), fromNative);
        Assert.Empty(storage.Requests);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 1)]
    public async Task A_download_that_breaks_midway_is_retried_and_never_left_in_place_half_written(int breaks, int expectedExit)
    {
        if (Native() is not { } native)
        {
            return;
        }

        var archive = File.ReadAllBytes(ZipOf("large", string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i * 7919 % 100_003}\n"))));
        var tokenFile = TokenFile("job-token-secret-0003");
        foreach (var helper in Helpers(native))
        {
            using var gitLab = new ScriptedHttpServer();
            gitLab.Answer = (context, number) =>
            {
                context.Response.ContentLength64 = archive.Length;
                if (number <= breaks)
                {
                    // Half the promised bytes, then the connection drops.
                    context.Response.OutputStream.Write(archive, 0, archive.Length / 2);
                    context.Response.OutputStream.Flush();
                    context.Response.Abort();
                    return;
                }

                context.Response.OutputStream.Write(archive);
            };
            var target = Path.Combine(_dir.Path, "broken-" + Guid.NewGuid().ToString("N"), "a.zip");

            var (code, printed) = await RunAsync([.. helper, .. Download(gitLab.Url, 7, tokenFile, target)]);

            Assert.True(code == expectedExit, printed);
            Assert.Equal(Math.Min(breaks + 1, ArtifactsDownloaderCommand.MaxAttempts), gitLab.Requests.Count);
            Assert.Contains("WARNING: Downloading artifacts from coordinator... network error while downloading", printed);
            Assert.Equal(expectedExit == 0, File.Exists(target));
            Assert.False(File.Exists(target + ".part"));
            if (expectedExit == 0)
            {
                Assert.Equal(archive, File.ReadAllBytes(target));
            }
            else
            {
                Assert.Contains("FATAL: the artifacts of job 7 were not downloaded", printed);
            }
        }
    }

    private static string WithoutRevision(string? userAgent) =>
        System.Text.RegularExpressions.Regex.Replace(userAgent ?? "", @"\(\w+;", "(revision;");

    /// <summary>The native helper's argv prefix, then the managed one's.</summary>
    private static string[][] Helpers(string native) => [[native], [.. Managed, "helper"]];

    private static HashSet<(string Name, string Content)> Entries(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Where(e => !e.FullName.EndsWith('/'))
            .Select(e => (e.FullName, new StreamReader(e.Open()).ReadToEnd())).ToHashSet();
    }

    private static async Task<(int Code, string Output)> RunAsync(IReadOnlyList<string> argv, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static (int Code, string Output) Run(IReadOnlyList<string> argv, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), $"{string.Join(' ', argv)} did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
