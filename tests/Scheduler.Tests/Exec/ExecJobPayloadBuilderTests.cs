using System.Diagnostics;
using System.Text;
using Scheduler.Exec;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.Exec;

public class ExecJobPayloadBuilderTests
{
    private static readonly GitRepositoryInfo Repo = new("/src/My Project", "0123456789abcdef0123456789abcdef01234567", "main", false, "Add things");

    private static CiJob Job(string yaml, string name = "job")
    {
        var result = CiFileParser.Parse(yaml, "ci.yml");
        Assert.True(result.IsSuccess, string.Join("\n", result.Errors));
        return result.File!.Job(name)!;
    }

    private static ExecJobOptions Options(params ExecVariableFlag[] flags) =>
        new(42, "glcbt-exec-secret", flags, new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    private static JobVariable Var(JobPayload payload, string key) => Assert.Single(payload.Variables, v => v.Key == key);

    [Fact]
    public void The_payload_carries_the_job_the_repository_and_the_run()
    {
        var payload = ExecJobPayloadBuilder.Build(Job("""
            job:
              stage: build
              image: { name: alpine, entrypoint: [""] }
              services: [{ name: python, alias: web, command: [python3] }]
              before_script: [echo before]
              script: [echo main]
              after_script: [echo after]
              cache: { key: deps, paths: [vendor/], policy: pull }
              artifacts: { paths: [out/], when: always }
              timeout: 90 minutes
            """), Repo, Options());

        Assert.Equal((42L, "glcbt-exec-secret"), (payload.Id, payload.Token));
        Assert.Equal(("job", "build", "my-project", "exec/my-project"),
            (payload.JobInfo.Name, payload.JobInfo.Stage, payload.JobInfo.ProjectName, payload.JobInfo.ProjectFullPath));
        Assert.Equal(("/src/My Project", "main", Repo.Sha, "branch"),
            (payload.GitInfo.RepoUrl, payload.GitInfo.Ref, payload.GitInfo.Sha, payload.GitInfo.RefType));
        Assert.Equal(["+refs/heads/main:refs/remotes/origin/main", "+refs/tags/*:refs/tags/*"], payload.GitInfo.Refspecs);
        Assert.Equal(5400, payload.RunnerInfo.Timeout);
        Assert.Equal(["echo before", "echo main"], payload.Steps[0].Script);
        Assert.Equal(("script", "on_success"), (payload.Steps[0].Name, payload.Steps[0].When));
        Assert.Equal(("after_script", "always"), (payload.Steps[1].Name, payload.Steps[1].When));
        Assert.Equal(["echo after"], payload.Steps[1].Script);
        Assert.Equal("alpine", payload.Image!.Name);
        Assert.Equal([""], payload.Image.Entrypoint);
        Assert.Equal(("python", "web"), (payload.Services[0].Name, payload.Services[0].Alias));
        Assert.Equal(["python3"], payload.Services[0].Command);
        var cache = Assert.Single(payload.Cache);
        Assert.Equal(("deps", "pull"), (cache.Key, cache.Policy));
        var artifact = Assert.Single(payload.Artifacts);
        Assert.Equal(("always", "archive", "zip"), (artifact.When, artifact.Type, artifact.Format));
        Assert.Equal(["out/"], artifact.Paths);
    }

    [Fact]
    public void A_job_without_after_script_image_or_artifacts_sends_none()
    {
        var payload = ExecJobPayloadBuilder.Build(Job("job: { script: [true] }"), Repo, Options());

        Assert.Single(payload.Steps);
        Assert.Null(payload.Image);
        Assert.Empty(payload.Artifacts);
        Assert.Equal(RunnerInfo.DefaultTimeoutSeconds, payload.RunnerInfo.Timeout);
    }

    [Theory]
    [InlineData("CI", "true")]
    [InlineData("GITLAB_CI", "true")]
    [InlineData("CI_JOB_ID", "42")]
    [InlineData("CI_JOB_NAME", "job")]
    [InlineData("CI_JOB_STAGE", "test")]
    [InlineData("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567")]
    [InlineData("CI_COMMIT_SHORT_SHA", "01234567")]
    [InlineData("CI_COMMIT_REF_NAME", "main")]
    [InlineData("CI_COMMIT_BRANCH", "main")]
    [InlineData("CI_COMMIT_TITLE", "Add things")]
    [InlineData("CI_PROJECT_NAME", "my-project")]
    [InlineData("CI_PROJECT_PATH", "exec/my-project")]
    [InlineData("CI_PROJECT_PATH_SLUG", "exec-my-project")]
    [InlineData("CI_PIPELINE_ID", "42")]
    [InlineData("CI_SERVER_URL", ExecJobPayloadBuilder.ServerUrl)]
    [InlineData("CI_REPOSITORY_URL", "/src/My Project")]
    [InlineData("CI_JOB_STARTED_AT", "2026-11-28T12:00:00Z")]
    public void Predefined_variables_are_public(string key, string value)
    {
        var payload = ExecJobPayloadBuilder.Build(Job("job: { script: [true] }"), Repo, Options());

        var variable = Var(payload, key);
        Assert.Equal(value, variable.Value);
        Assert.True(variable.Public);
        Assert.False(variable.Masked);
    }

    [Fact]
    public void A_detached_head_uses_the_sha_as_ref_and_fetches_HEAD()
    {
        var payload = ExecJobPayloadBuilder.Build(Job("job: { script: [true] }"), Repo with { Branch = null }, Options());

        Assert.Equal(Repo.Sha, payload.GitInfo.Ref);
        Assert.Contains("+HEAD:refs/remotes/origin/HEAD", payload.GitInfo.Refspecs);
        Assert.DoesNotContain(payload.Variables, v => v.Key == "CI_COMMIT_BRANCH");
    }

    [Fact]
    public void Later_variable_sources_win_and_masked_flags_are_masked_and_not_public()
    {
        var payload = ExecJobPayloadBuilder.Build(Job("""
            variables: { A: global, B: global, CI_JOB_NAME: renamed }
            job:
              variables: { B: job }
              script: [true]
            """), Repo, Options(new ExecVariableFlag("A", "flag", false), new ExecVariableFlag("SECRET", "hunter2-long", true)));

        Assert.Equal("flag", Var(payload, "A").Value);
        Assert.Equal("job", Var(payload, "B").Value);
        Assert.Equal("renamed", Var(payload, "CI_JOB_NAME").Value);
        var secret = Var(payload, "SECRET");
        Assert.Equal(("hunter2-long", true, false), (secret.Value, secret.Masked, secret.Public));
        Assert.Equal(payload.Variables.Count, payload.Variables.Select(v => v.Key).Distinct().Count());
    }

    [Theory]
    [InlineData("A=1", false, "A", "1", null)]
    [InlineData("A=", false, "A", "", null)]
    [InlineData("A=b=c", false, "A", "b=c", null)]
    [InlineData("_x9=y", true, "_x9", "y", null)]
    [InlineData("novalue", false, null, null, "--env expects KEY=VALUE")]
    [InlineData("=v", false, null, null, "--env expects KEY=VALUE")]
    [InlineData("9A=v", false, null, null, "not a variable name")]
    [InlineData("A-B=v", true, null, null, "not a variable name")]
    [InlineData("S=", true, null, null, "must not be empty")]
    public void Flags_parse_KEY_VALUE(string text, bool masked, string? key, string? value, string? error)
    {
        var (flag, message) = ExecJobPayloadBuilder.ParseFlag(text, masked);

        Assert.Equal(key, flag?.Key);
        Assert.Equal(value, flag?.Value);
        if (error is null)
        {
            Assert.Null(message);
        }
        else
        {
            Assert.Contains(error, message);
        }
    }

    [Fact]
    public void A_malformed_masked_flag_never_echoes_its_text()
    {
        var (_, message) = ExecJobPayloadBuilder.ParseFlag("topsecretvalue", masked: true);
        Assert.DoesNotContain("topsecretvalue", message);
    }

    [Fact]
    public void Tokens_and_ids_are_fresh_per_run()
    {
        Assert.NotEqual(ExecJobPayloadBuilder.NewJobToken(), ExecJobPayloadBuilder.NewJobToken());
        Assert.True(ExecJobPayloadBuilder.NewJobId() > 0);
    }

    [Theory]
    [InlineData("Main", "main")]
    [InlineData("feature/Foo_bar", "feature-foo-bar")]
    [InlineData("--x--", "x")]
    public void Slugs_follow_GitLab(string text, string slug) => Assert.Equal(slug, ExecJobPayloadBuilder.Slug(text));

    [Fact]
    public void The_payload_string_form_hides_the_masked_value_and_token()
    {
        var payload = ExecJobPayloadBuilder.Build(Job("job: { script: [true] }"), Repo,
            Options(new ExecVariableFlag("SECRET", "hunter2-long", true)));
        var text = payload.ToString() + string.Join(",", payload.Variables);
        Assert.DoesNotContain("hunter2-long", text);
        Assert.DoesNotContain("glcbt-exec-secret", text);
    }
}

public class GitRepositoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("exec-git-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Git(params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", "user.name=t", "-c", "user.email=t@example.com" }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task Reads_sha_branch_title_and_uncommitted_changes()
    {
        Git("init", "-q", "-b", "trunk");
        File.WriteAllText(Path.Combine(_dir, "a.txt"), "one");
        Git("add", "a.txt");
        Git("commit", "-q", "-m", "First commit");
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));

        var clean = await GitRepository.ReadAsync(Path.Combine(_dir, "sub"), CancellationToken.None);
        Assert.Null(clean.Error);
        Assert.Equal((Path.GetFullPath(_dir), "trunk", false, "First commit"),
            (clean.Info!.TopLevel, clean.Info.Branch, clean.Info.HasUncommittedChanges, clean.Info.CommitTitle));
        Assert.Equal(40, clean.Info.Sha.Length);

        File.WriteAllText(Path.Combine(_dir, "a.txt"), "two");
        var dirty = await GitRepository.ReadAsync(_dir, CancellationToken.None);
        Assert.True(dirty.Info!.HasUncommittedChanges);

        Git("checkout", "-q", "--detach");
        var detached = await GitRepository.ReadAsync(_dir, CancellationToken.None);
        Assert.Null(detached.Info!.Branch);
    }

    [Fact]
    public async Task A_directory_outside_a_repository_or_without_commits_is_an_error()
    {
        var outside = await GitRepository.ReadAsync(_dir, CancellationToken.None);
        Assert.Contains("not inside a git repository", outside.Error);

        Git("init", "-q");
        var empty = await GitRepository.ReadAsync(_dir, CancellationToken.None);
        Assert.Contains("no commit yet", empty.Error);
    }
}

public class ConsoleTraceSinkTests
{
    [Fact]
    public void Trace_bytes_pass_through_untouched_and_the_outcome_is_one_line()
    {
        var trace = new MemoryStream();
        var status = new StringWriter();
        var sink = new ConsoleTraceSink(trace, status, showProgress: false);

        sink.WriteTrace("hello \x1b[32;1mworld\x1b[0;m\n"u8);
        sink.StageStarted("step_script");
        sink.StageFinished("step_script", 3);
        sink.Finished(false, "exit code 3");

        Assert.Equal("hello \x1b[32;1mworld\x1b[0;m\n", Encoding.UTF8.GetString(trace.ToArray()));
        Assert.Equal(trace.Length, sink.TraceBytes);
        Assert.Equal("Job failed: exit code 3" + Environment.NewLine, status.ToString());
    }

    [Fact]
    public void On_a_terminal_each_finished_stage_gets_a_progress_line_with_its_elapsed_time()
    {
        var now = TimeSpan.Zero;
        var status = new StringWriter();
        var sink = new ConsoleTraceSink(new MemoryStream(), status, showProgress: true, () => now);

        sink.StageStarted("get_sources");
        now = TimeSpan.FromSeconds(1.2);
        sink.StageFinished("get_sources", 0);
        sink.StageStarted("step_script");
        now = TimeSpan.FromSeconds(4.2);
        sink.StageFinished("step_script", 3);
        sink.Finished(true, "");

        Assert.Equal(
            ["── get_sources (helper) …… 1.2s", "── step_script (build) …… 3.0s, exit 3", "Job succeeded", ""],
            status.ToString().Split(Environment.NewLine));
    }
}
