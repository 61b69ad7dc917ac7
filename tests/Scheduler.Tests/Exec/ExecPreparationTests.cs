using System.Diagnostics;
using Scheduler.Exec;

namespace Scheduler.Scheduler.Tests.Exec;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ExecPreparationTests : IDisposable
{
    private readonly string _repo = Directory.CreateTempSubdirectory("exec-prep-").FullName;

    private const string CiFile = """
        build:
          script: [echo hi]
        other:
          script: [echo other]
        """;

    public ExecPreparationTests()
    {
        // A repository the embedded cluster's non-root pods can read, used as it is (a closed one: see below).
        File.SetUnixFileMode(_repo, (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(_repo, ".gitlab-ci.yml"), CiFile);
        Git("init", "-q", "-b", "main");
        Git("add", ".gitlab-ci.yml");
        Git("commit", "-q", "-m", "CI file");
    }

    public void Dispose() => Directory.Delete(_repo, recursive: true);

    private void Git(params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = _repo, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-c", "user.name=t", "-c", "user.email=t@example.com" }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        process.WaitForExit();
    }

    private ExecRequest Request(string job = "build", string ciFile = ".gitlab-ci.yml", string? config = null,
        string[]? env = null, string[]? masked = null) =>
        new(job, ciFile, config, null, "artifacts", env ?? [], masked ?? [], _repo);

    [Fact]
    public async Task A_repository_the_pods_cannot_read_is_handed_to_them_as_a_copy_when_exec_runs_as_root()
    {
        File.SetUnixFileMode(_repo, (UnixFileMode)0b111_000_000);

        var result = await ExecPreparation.PrepareAsync(Request(), CancellationToken.None);

        Assert.Empty(result.Errors);
        var repoUrl = result.Prepared!.Job.GitInfo.RepoUrl;
        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Equal(_repo, repoUrl); // its pods run as this user
            return;
        }

        Assert.StartsWith(Path.Combine(Path.GetTempPath(), "scheduler-exec-repository-"), repoUrl, StringComparison.Ordinal);
        Assert.True(global::Scheduler.Helper.PodReachableCopy.ByOthers(repoUrl));
        Directory.Delete(Path.GetDirectoryName(repoUrl)!, recursive: true);
    }

    [Fact]
    public async Task A_valid_request_gives_the_payload_with_the_built_in_config()
    {
        var result = await ExecPreparation.PrepareAsync(Request(env: ["A=1"], masked: ["S=secret-value"]), CancellationToken.None);

        Assert.Empty(result.Errors);
        var prepared = result.Prepared!;
        Assert.Equal("build", prepared.Job.JobInfo.Name);
        Assert.Equal(_repo, prepared.Job.GitInfo.RepoUrl);
        Assert.Equal(ExecDefaults.RunnerName, prepared.Runner.Name);
        Assert.Equal("/cache", Assert.Single(prepared.Runner.Kubernetes.Volumes.HostPaths).MountPath);
        Assert.Equal(Path.Combine(_repo, "artifacts"), prepared.ArtifactsDir);
        Assert.Contains(prepared.Job.Variables, v => v is { Key: "S", Masked: true, Public: false });
        Assert.Contains(prepared.Job.Variables, v => v is { Key: "A", Value: "1", Public: true });
        Assert.NotEqual("", prepared.Job.Token);
    }

    [Theory]
    [InlineData("nope", ".gitlab-ci.yml", null, "has no job \"nope\"; its jobs: build, other")]
    [InlineData("build", "missing.yml", null, "cannot read missing.yml: file not found")]
    [InlineData("build", ".gitlab-ci.yml", "missing.toml", "cannot read config file")]
    public async Task Invalid_input_is_reported_not_thrown(string job, string ciFile, string? config, string expected)
    {
        var result = await ExecPreparation.PrepareAsync(Request(job, ciFile, config), CancellationToken.None);

        Assert.Null(result.Prepared);
        Assert.Contains(result.Errors, e => e.Contains(expected));
    }

    [Fact]
    public async Task Bad_flags_and_a_bad_file_are_all_reported_at_once()
    {
        await File.WriteAllTextAsync(Path.Combine(_repo, "bad.yml"), "job:\n  extends: .x\n  script: [a]\n");

        var result = await ExecPreparation.PrepareAsync(Request("job", "bad.yml", env: ["oops"], masked: ["S="]), CancellationToken.None);

        Assert.Null(result.Prepared);
        Assert.Contains(result.Errors, e => e.Contains("--env expects KEY=VALUE"));
        Assert.Contains(result.Errors, e => e.Contains("a masked value must not be empty"));
        Assert.Contains(result.Errors, e => e.StartsWith("bad.yml:2:3: job:extends:"));
    }

    [Fact]
    public async Task Uncommitted_changes_are_a_warning()
    {
        await File.AppendAllTextAsync(Path.Combine(_repo, ".gitlab-ci.yml"), "\n# edited\n");

        var result = await ExecPreparation.PrepareAsync(Request(), CancellationToken.None);

        Assert.NotNull(result.Prepared);
        Assert.Contains(result.Warnings, w => w.Contains("uncommitted changes: exec runs the committed HEAD"));
    }

    [Fact]
    public async Task The_program_exits_2_with_a_one_line_reason_on_invalid_input()
    {
        var status = new StringWriter();
        var console = new ExecConsole(new MemoryStream(), status, StatusIsTerminal: false);

        var code = await ExecProgram.RunAsync(Request("nope"), console,
            _ => throw new InvalidOperationException("no cluster must be contacted"), CancellationToken.None, CancellationToken.None);

        Assert.Equal(ExecProgram.InvalidExitCode, code);
        var lines = status.ToString().TrimEnd().Split(Environment.NewLine);
        Assert.Equal("Job not run: invalid input (1 error(s))", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("exec: .gitlab-ci.yml has no job \"nope\""));
    }

    [Theory]
    [InlineData("Success", null, "", "")]
    [InlineData("Failed", "script_failure", "ERROR: Job failed: exit code 3", "exit code 3 (script_failure)")]
    [InlineData("Canceled", "job_canceled", "ERROR: Job failed: canceled", "canceled (job_canceled)")]
    [InlineData("Failed", "runner_system_failure", "", "runner_system_failure")]
    [InlineData("Failed", null, "pod vanished", "pod vanished")]
    [InlineData("Failed", null, "", "unknown reason")]
    public void The_final_reason_combines_failure_reason_and_message(string state, string? reason, string message, string expected)
    {
        var result = new Messages.Protocol.JobResult(Enum.Parse<Messages.Protocol.JobState>(state), reason, null, message);
        Assert.Equal(expected, ExecProgram.Reason(result));
    }
}
