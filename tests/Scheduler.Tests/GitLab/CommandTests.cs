using System.CommandLine;
using System.IO.Compression;
using Scheduler.Cli;
using Scheduler.Config;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary><c>register</c>, <c>verify</c> and the artifacts helper commands against the fake GitLab.</summary>
public sealed class CommandTests : FakeGitLabTest
{
    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(Command command, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = await command.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Register_creates_a_config_that_loads_and_verify_accepts()
    {
        using var directory = new TemporaryDirectory();
        var config = Path.Combine(directory.Path, "config.toml");
        GitLab.AddRegistrationToken("GR1348941registration");

        var (exitCode, output, error) = await RunAsync(RegisterCommand.Create(), "--non-interactive", "--url", GitLab.Url,
            "--registration-token", "GR1348941registration", "--name", "fleet \"one\"", "--tag-list", "k8s, linux", "--config", config);

        Assert.Equal("", error);
        Assert.Equal(0, exitCode);
        var runner = Assert.Single(GitLab.Runners);
        Assert.Equal("fleet \"one\"", runner.Description);
        Assert.Equal(["k8s", "linux"], runner.TagList);
        Assert.False(System.Text.Json.Nodes.JsonNode.Parse(GitLab.RequestsTo(FakeEndpoint.Register)[0].BodyText)!["run_untagged"]!.GetValue<bool>());
        Assert.DoesNotContain(runner.Token, output);
        var text = await File.ReadAllTextAsync(config);
        Assert.StartsWith("concurrent = 1\ncheck_interval = 3\n", text);
        var loaded = ConfigLoader.LoadFile(config, new Dictionary<string, string>());
        Assert.Empty(loaded.Errors);
        Assert.Empty(loaded.Warnings);
        var entry = Assert.Single(loaded.Settings!.Runners);
        Assert.Equal(("fleet \"one\"", GitLab.Url, runner.Token, "kubernetes"), (entry.Name, entry.Url, entry.Token, entry.Executor));
        Assert.Equal(("default", "alpine:latest"), (entry.Kubernetes.Namespace, entry.Kubernetes.Image));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
        }

        Assert.True(RunnerSystemId.IsValid((await File.ReadAllTextAsync(Path.Combine(directory.Path, RunnerSystemId.FileName))).Trim()));

        var verify = await RunAsync(VerifyCommand.Create(), "--config", config);

        Assert.Equal((0, "runner fleet \"one\": valid\n", ""), verify);
    }

    [Fact]
    public async Task Register_appends_to_an_existing_file_keeping_it_byte_for_byte()
    {
        using var directory = new TemporaryDirectory();
        var original = await File.ReadAllBytesAsync(RepositoryPaths.Example("config.toml"));
        var config = Path.Combine(directory.Path, "config.toml");
        await File.WriteAllBytesAsync(config, original);
        GitLab.AddRegistrationToken("reg");

        var (exitCode, _, error) = await RunAsync(RegisterCommand.Create(), "--url", GitLab.Url, "--registration-token", "reg",
            "--name", "second", "--kubernetes-namespace", "ci", "--kubernetes-image", "busybox:1.36", "--config", config);

        Assert.Equal((0, ""), (exitCode, error));
        var written = await File.ReadAllBytesAsync(config);
        Assert.Equal(original, written[..original.Length]);
        var loaded = ConfigLoader.LoadFile(config, new Dictionary<string, string>());
        Assert.Empty(loaded.Errors);
        var added = loaded.Settings!.Runners[^1];
        Assert.Equal(("second", "ci", "busybox:1.36"), (added.Name, added.Kubernetes.Namespace, added.Kubernetes.Image));
        Assert.Equal(4, loaded.Settings.Concurrent);
        Assert.True(System.Text.Json.Nodes.JsonNode.Parse(GitLab.RequestsTo(FakeEndpoint.Register)[0].BodyText)!["run_untagged"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Register_sends_the_runner_settings_gitlab_runner_accepts()
    {
        using var directory = new TemporaryDirectory();
        GitLab.AddRegistrationToken("reg");

        var (exitCode, _, error) = await RunAsync(RegisterCommand.Create(), "--url", GitLab.Url, "--registration-token", "reg",
            "--executor", "kubernetes", "--run-untagged", "--locked=false", "--paused", "--maximum-timeout", "600",
            "--config", Path.Combine(directory.Path, "config.toml"));

        Assert.Equal((0, ""), (exitCode, error));
        var body = System.Text.Json.Nodes.JsonNode.Parse(GitLab.RequestsTo(FakeEndpoint.Register)[0].BodyText)!;
        Assert.True(body["run_untagged"]!.GetValue<bool>());
        Assert.False(body["locked"]!.GetValue<bool>());
        Assert.True(body["paused"]!.GetValue<bool>());
        Assert.Equal(600, body["maximum_timeout"]!.GetValue<int>());
        Assert.Null(body["tag_list"]);
    }

    [Fact]
    public async Task Register_with_a_glrt_token_verifies_it_and_writes_it()
    {
        using var directory = new TemporaryDirectory();
        var config = Path.Combine(directory.Path, "config.toml");
        var token = GitLab.AddRunner("glrt-t3_AbCdEfGhIjKlMnOpQrSt");

        var (exitCode, _, error) = await RunAsync(RegisterCommand.Create(), "--url", GitLab.Url + "/", "--token", token,
            "--name", "ui-created", "--config", config);

        Assert.Equal((0, ""), (exitCode, error));
        Assert.Empty(GitLab.RequestsTo(FakeEndpoint.Register));
        Assert.Single(GitLab.RequestsTo(FakeEndpoint.Verify));
        Assert.NotNull(GitLab.Runner(token)!.SystemId);
        var entry = Assert.Single(ConfigLoader.LoadFile(config, new Dictionary<string, string>()).Settings!.Runners);
        Assert.Equal(token, entry.Token);
    }

    [Theory]
    [InlineData("--registration-token", "wrong", 1, "register: GitLab refused the registration token (403 Forbidden)")]
    [InlineData("--token", "glrt-unknown", 1, "register: GitLab refused the runner token (403 Forbidden)")]
    public async Task Register_with_a_refused_token_exits_1_and_writes_nothing(string option, string token, int expectedExit, string expectedError)
    {
        using var directory = new TemporaryDirectory();
        var config = Path.Combine(directory.Path, "config.toml");

        var (exitCode, output, error) = await RunAsync(RegisterCommand.Create(), "--url", GitLab.Url, option, token, "--config", config);

        Assert.Equal((expectedExit, "", expectedError), (exitCode, output, error.Trim()));
        Assert.False(File.Exists(config));
    }

    [Theory]
    [InlineData(new[] { "--url", "http://x" }, "register: give exactly one of --registration-token and --token")]
    [InlineData(new[] { "--url", "http://x", "--token", "a", "--registration-token", "b" }, "register: give exactly one of --registration-token and --token")]
    [InlineData(new[] { "--url", "ftp://x", "--token", "a" }, "register: invalid GitLab URL 'ftp://x': only http and https are supported")]
    [InlineData(new[] { "--token", "a" }, "register: invalid GitLab URL '': expected an absolute http or https URL")]
    [InlineData(new[] { "--url", "http://x", "--token", "a", "--executor", "docker" }, "register: this runner only has the kubernetes executor")]
    [InlineData(new[] { "--url", "http://x", "--token", "a", "--maximum-timeout", "0" }, "register: --maximum-timeout must be a positive number of seconds")]
    public async Task Register_with_bad_arguments_exits_2(string[] args, string expectedError)
    {
        using var directory = new TemporaryDirectory();
        var config = Path.Combine(directory.Path, "config.toml");

        var (exitCode, _, error) = await RunAsync(RegisterCommand.Create(), [.. args, "--config", config]);

        Assert.Equal((2, expectedError), (exitCode, error.Trim()));
        Assert.Empty(GitLab.Requests);
    }

    [Fact]
    public async Task Register_refuses_to_touch_a_file_that_would_not_load()
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("config.toml", "concurrent = 0\n");
        GitLab.AddRegistrationToken("reg");

        var (exitCode, _, error) = await RunAsync(RegisterCommand.Create(), "--url", GitLab.Url, "--registration-token", "reg", "--config", config);

        Assert.Equal(2, exitCode);
        Assert.Contains("was not changed", error);
        Assert.Equal("concurrent = 0\n", await File.ReadAllTextAsync(config));
    }

    [Fact]
    public async Task Verify_prints_each_runner_and_exits_1_when_one_is_invalid()
    {
        using var directory = new TemporaryDirectory();
        var good = GitLab.AddRunner("glrt-good_token_0123456789");
        var config = directory.Write("config.toml",
            $"concurrent = 2\n\n[[runners]]\nname = \"good\"\nurl = \"{GitLab.Url}\"\ntoken = \"{good}\"\n\n" +
            $"[[runners]]\nname = \"revoked\"\nurl = \"{GitLab.Url}\"\ntoken = \"glrt-revoked_0123456789\"\n");

        var (exitCode, output, error) = await RunAsync(VerifyCommand.Create(), "--config", config);

        Assert.Equal((1, "runner good: valid\nrunner revoked: invalid (403)\n", ""), (exitCode, output, error));
        Assert.DoesNotContain("glrt-revoked", output + error);
    }

    [Fact]
    public async Task Verify_of_a_config_that_does_not_load_exits_2()
    {
        var (exitCode, output, error) = await RunAsync(VerifyCommand.Create(), "--config", "/nonexistent/config.toml");

        Assert.Equal((2, ""), (exitCode, output));
        Assert.Contains("cannot read config file", error);
    }

    [Fact]
    public async Task Artifacts_round_trip_through_the_helper_commands_with_tokens_from_files()
    {
        using var directory = new TemporaryDirectory();
        var runner = GitLab.AddRunner();
        var client = Client();
        var producer = await StartJobAsync(client, runner);
        var source = Path.Combine(directory.Path, "out");
        directory.Write("out/bin/tool", "#!/bin/sh\necho tool\n");
        directory.Write("out/report.txt", new string('x', 100_000));
        var archive = Path.Combine(directory.Path, "upload.zip");
        ZipFile.CreateFromDirectory(source, archive);
        var producerToken = directory.Write("producer-token", producer.Token + "\n");

        var upload = await RunAsync(ArtifactsUploaderCommand.Create(), "--url", GitLab.Url, "--id", producer.Id.ToString(),
            "--token-file", producerToken, "--file", archive, "--name", "build-output", "--expire-in", "1 week");

        Assert.Equal(0, upload.ExitCode);
        Assert.Contains("build-output.zip", upload.Output);
        var stored = Assert.Single(GitLab.Job(producer.Id)!.Artifacts);
        Assert.Equal(("build-output.zip", "zip", "archive", "1 week"), (stored.FileName, stored.Format, stored.Type, stored.ExpireIn));
        Assert.Equal("?artifact_format=zip&artifact_type=archive&expire_in=1%20week", GitLab.RequestsTo(FakeEndpoint.UploadArtifacts)[0].Query);
        await client.UpdateJobAsync(producer.Id, producer.Token, new JobUpdate(JobState.Success));

        var consumer = await StartJobAsync(client, runner, new FakeJobBuilder().DependsOn(producer.Id));
        var dependency = Assert.Single(consumer.Dependencies);
        var consumerToken = directory.Write("consumer-token", dependency.Token);
        var downloaded = Path.Combine(directory.Path, "download.zip");
        var extracted = Path.Combine(directory.Path, "extracted");

        var download = await RunAsync(ArtifactsDownloaderCommand.Create(), "--url", GitLab.Url, "--id", dependency.Id.ToString(),
            "--token-file", consumerToken, "--output", downloaded, "--extract-to", extracted);

        Assert.Equal((0, ""), (download.ExitCode, download.Error));
        Assert.Equal(await File.ReadAllBytesAsync(archive), await File.ReadAllBytesAsync(downloaded));
        Assert.Equal("#!/bin/sh\necho tool\n", await File.ReadAllTextAsync(Path.Combine(extracted, "bin", "tool")));
        Assert.Equal(100_000, new FileInfo(Path.Combine(extracted, "report.txt")).Length);
        Assert.False(File.Exists(downloaded + ".part"));
        Assert.Equal(dependency.Token, GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts)[0].Header("JOB-TOKEN"));
    }

    [Fact]
    public async Task Uploader_retries_a_503_and_stops_at_403()
    {
        using var directory = new TemporaryDirectory();
        var runner = GitLab.AddRunner();
        var job = await StartJobAsync(Client(), runner);
        var archive = directory.Write("a.zip", "not really a zip");
        var token = directory.Write("token", job.Token);
        GitLab.InjectFault(FakeEndpoint.UploadArtifacts, 503);

        var retried = await RunAsync(ArtifactsUploaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", token, "--file", archive, "--format", "raw", "--name", "a.txt");

        Assert.Equal(0, retried.ExitCode);
        Assert.Equal([503, 201], GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Select(r => r.Status));
        Assert.Equal("a.txt", GitLab.Job(job.Id)!.Artifacts[0].FileName);

        var wrongToken = directory.Write("wrong", "wrong-token");
        var refused = await RunAsync(ArtifactsUploaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", wrongToken, "--file", archive);

        Assert.Equal(1, refused.ExitCode);
        Assert.Equal(3, GitLab.RequestsTo(FakeEndpoint.UploadArtifacts).Count);
        Assert.DoesNotContain("wrong-token", refused.Error);
    }

    [Fact]
    public async Task Downloader_that_is_refused_exits_1_and_leaves_no_file()
    {
        using var directory = new TemporaryDirectory();
        var runner = GitLab.AddRunner();
        var job = await StartJobAsync(Client(), runner);
        var token = directory.Write("token", "not-the-token");
        var output = Path.Combine(directory.Path, "a.zip");

        var (exitCode, _, error) = await RunAsync(ArtifactsDownloaderCommand.Create(), "--url", GitLab.Url, "--id", job.Id.ToString(),
            "--token-file", token, "--output", output);

        Assert.Equal(1, exitCode);
        Assert.Contains("403", error);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(output + ".part"));
        Assert.Single(GitLab.RequestsTo(FakeEndpoint.DownloadArtifacts));
    }

    [Theory]
    [InlineData(null, "artifacts-uploader: --token-file FILE is required")]
    [InlineData("empty", "artifacts-uploader: the token file {dir}/empty is empty")]
    [InlineData("missing", "artifacts-uploader: cannot read the token file {dir}/missing")]
    public async Task Uploader_needs_a_readable_token_file(string? tokenFile, string expectedError)
    {
        using var directory = new TemporaryDirectory();
        directory.Write("empty", "  \n");
        var archive = directory.Write("a.zip", "zip");
        string[] args = ["--url", GitLab.Url, "--id", "5", "--file", archive];
        if (tokenFile is not null)
        {
            args = [.. args, "--token-file", Path.Combine(directory.Path, tokenFile)];
        }

        var (exitCode, _, error) = await RunAsync(ArtifactsUploaderCommand.Create(), args);

        Assert.Equal(2, exitCode);
        Assert.StartsWith(expectedError.Replace("{dir}", directory.Path), error.Trim());
        Assert.Empty(GitLab.Requests);
    }

    [Theory]
    [InlineData("artifacts", "zip", "artifacts.zip")]
    [InlineData("artifacts.zip", "zip", "artifacts.zip")]
    [InlineData("junit.xml", "gzip", "junit.xml.gz")]
    [InlineData("report", "raw", "report")]
    [InlineData("", "zip", "artifacts.zip")]
    [InlineData("x", "tarzstd", "x.tar.zst")]
    public void Archive_file_name_gets_the_extension_of_its_format(string name, string format, string expected)
    {
        Assert.Equal(expected, ArtifactsUploaderCommand.ArchiveFileName(name, format));
    }
}
