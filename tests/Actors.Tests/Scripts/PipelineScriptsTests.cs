using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>What real pipelines rely on in the stage scripts: the shell GitLab Runner's detection picks, CI_DEBUG_TRACE,
/// the runner's pre/post scripts, stage attempts, CI_JOB_STATUS after a cancel, the helper's umask. The scripts are run
/// in a <see cref="PodSandbox"/>.</summary>
public sealed class PipelineScriptsTests
{
    private static JobPayload Job(string[] script, string[]? afterScript = null, params JobVariable[] variables) =>
        TestData.Job(variables: [TestData.Public("GIT_STRATEGY", "none"), .. variables]) with
        {
            Steps =
            [
                new JobStep { Name = "script", Script = script },
                .. afterScript is null ? Array.Empty<JobStep>() : [new JobStep { Name = "after_script", Script = afterScript }],
            ],
        };

    [Fact]
    public void Every_stage_script_detects_its_shell_in_GitLab_Runners_order()
    {
        var plan = JobScripts.Build(Job(["true"], ["true"]), TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        var order = new[] { "/usr/local/bin/bash", "/usr/bin/bash", "/bin/bash", "/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh", "/busybox/sh" };
        Assert.Contains(string.Join(' ', order), ScriptContext.ShellDetection, StringComparison.Ordinal);
        Assert.All(plan.Stages, stage => Assert.Contains(ScriptContext.ShellDetection, stage.Script, StringComparison.Ordinal));
    }

    [Fact]
    public void Bash_syntax_works_where_the_image_has_bash()
    {
        Assert.True(File.Exists("/bin/bash") || File.Exists("/usr/bin/bash"), "this test needs bash on the machine");
        using var pod = new PodSandbox(Job(
        [
            "if [[ \"$CI_JOB_NAME\" == un* ]]; then echo double-brackets; fi",
            "list=(a b c); echo \"array ${#list[@]} ${list[1]}\"",
            "echo \"shell ${BASH_VERSION:+bash}\"",
        ]));
        var (code, output) = pod.RunStage("step_script");
        Assert.True(code == 0, output);
        Assert.Contains("double-brackets", output, StringComparison.Ordinal);
        Assert.Contains("array 3 b", output, StringComparison.Ordinal);
        Assert.Contains("shell bash", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Pipefail_is_on_so_a_failing_pipeline_fails_the_script()
    {
        using var pod = new PodSandbox(Job(["false | cat", "echo not-reached"]));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(1, code);
        Assert.DoesNotContain("\nnot-reached", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_plain_sh_still_runs_the_script_when_detection_finds_no_bash()
    {
        // The detection's fallback is sh: a script run by dash directly after detection must work unchanged.
        Assert.True(File.Exists("/bin/sh"), "this test needs /bin/sh");
        using var pod = new PodSandbox(Job(["echo \"plain $CI_JOB_NAME\""]));
        var script = Path.Combine(pod.Root, "plain.sh");
        File.WriteAllText(script, pod.Local(pod.Stage("step_script").Script));
        var (code, output) = PodSandbox.Run(["/bin/sh", script, "--detected-shell"]);
        Assert.True(code == 0, output);
        Assert.Contains("plain unit", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", false, true, false)]
    [InlineData("1", false, true, false)]
    [InlineData("TRUE", false, true, false)]
    [InlineData("yes", false, false, false)]
    [InlineData("false", false, false, false)]
    [InlineData("true", true, false, true)]
    public void CI_DEBUG_TRACE_traces_the_users_commands_unless_the_runner_disables_it(string value, bool disabled, bool traced, bool refused)
    {
        using var pod = new PodSandbox(Job(["MY_VALUE=abc", "echo \"value $MY_VALUE\""], null, TestData.Public("CI_DEBUG_TRACE", value)),
            TestData.Runner() with { DebugTraceDisabled = disabled });
        var (code, output) = pod.RunStage("step_script");
        Assert.True(code == 0, output);
        Assert.Equal(traced, output.Contains("+ MY_VALUE=abc", StringComparison.Ordinal));
        Assert.Equal(traced, output.Contains(JobScripts.DebugTraceWarning, StringComparison.Ordinal));
        Assert.Equal(refused, output.Contains("WARNING: " + JobScripts.DebugTraceDisabledWarning, StringComparison.Ordinal));
    }

    [Fact]
    public void CI_DEBUG_TRACE_does_not_trace_the_reading_of_secret_files()
    {
        using var pod = new PodSandbox(Job(["echo done"], null, TestData.Public("CI_DEBUG_TRACE", "true"), TestData.Masked("SECRET_X", "s3cr3t-value")));
        var (code, output) = pod.RunStage("step_script");
        Assert.True(code == 0, output);
        Assert.Contains("+ echo done", output, StringComparison.Ordinal);
        // The job's own variables are exported before tracing starts: the value is in no trace line.
        Assert.DoesNotContain("s3cr3t-value", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Pre_and_post_build_scripts_run_around_the_job_script_in_order()
    {
        using var pod = new PodSandbox(Job(["echo step-two"]),
            TestData.Runner() with { PreBuildScript = "echo step-one", PostBuildScript = "echo step-three\necho step-four" });
        var (code, output) = pod.RunStage("step_script");
        Assert.True(code == 0, output);
        var one = output.IndexOf("\nstep-one", StringComparison.Ordinal);
        var two = output.IndexOf("\nstep-two", StringComparison.Ordinal);
        var three = output.IndexOf("\nstep-three", StringComparison.Ordinal);
        var four = output.IndexOf("\nstep-four", StringComparison.Ordinal);
        Assert.True(one >= 0 && one < two && two < three && three < four, output);
    }

    [Fact]
    public void Post_build_script_does_not_run_after_a_failing_script()
    {
        using var pod = new PodSandbox(Job(["exit 3"]), TestData.Runner() with { PostBuildScript = "echo post-build-ran" });
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(3, code);
        Assert.DoesNotContain("\npost-build-ran", output, StringComparison.Ordinal);
    }

    [Fact]
    public void After_script_sees_canceled_when_the_runner_marked_the_job_canceled()
    {
        using var pod = new PodSandbox(Job(["sleep 30"], ["echo \"status=$CI_JOB_STATUS\""]));
        Directory.CreateDirectory(pod.RunDir);
        File.WriteAllText(Path.Combine(pod.RunDir, "step_script.exit"), "143\n");
        Assert.Contains("status=failed", pod.RunStage("after_script").Output, StringComparison.Ordinal);

        var (markCode, markOutput) = pod.Exec(StageCommands.MarkCanceled());
        Assert.True(markCode == 0, markOutput);
        Assert.Contains("status=canceled", pod.RunStage("after_script").Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_sources_is_tried_GET_SOURCES_ATTEMPTS_times()
    {
        using var pod = new PodSandbox(Job(["true"], null, TestData.Public("GET_SOURCES_ATTEMPTS", "3")),
            TestData.Runner() with { PreGetSourcesScript = "n=$(cat \"$CI_BUILDS_DIR/tries\" 2>/dev/null || echo 0); echo $((n + 1)) >\"$CI_BUILDS_DIR/tries\"; [ \"$n\" -ge 2 ]" });
        Directory.CreateDirectory(pod.BuildsDir);
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Equal("3", File.ReadAllText(Path.Combine(pod.BuildsDir, "tries")).Trim());
        Assert.Contains("Retrying (attempt 3 of 3)...", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET_SOURCES_ATTEMPTS", "0")]
    [InlineData("GET_SOURCES_ATTEMPTS", "11")]
    [InlineData("GET_SOURCES_ATTEMPTS", "x")]
    public void Attempts_outside_1_to_10_fail_the_stage(string key, string value)
    {
        using var pod = new PodSandbox(Job(["true"], null, TestData.Public(key, value)));
        var (code, output) = pod.RunStage("get_sources");
        Assert.Equal(1, code);
        Assert.Contains($"{key}={value}: the number of attempts must be between 1 and 10", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failing_get_sources_fails_after_its_last_attempt_with_its_code()
    {
        using var pod = new PodSandbox(Job(["true"], null, TestData.Public("GET_SOURCES_ATTEMPTS", "2")),
            TestData.Runner() with { PreGetSourcesScript = "echo pre-ran; exit 7" });
        var (code, output) = pod.RunStage("get_sources");
        Assert.Equal(7, code);
        Assert.Equal(2, output.Split("\npre-ran").Length - 1);
    }

    [Fact]
    public void Pre_and_post_get_sources_scripts_run_around_the_checkout()
    {
        using var pod = new PodSandbox(Job(["true"]),
            TestData.Runner() with { PreGetSourcesScript = "echo before-sources", PostGetSourcesScript = "echo after-sources" });
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        var before = output.IndexOf("\nbefore-sources", StringComparison.Ordinal);
        var skip = output.IndexOf("Skipping Git repository setup", StringComparison.Ordinal);
        var after = output.IndexOf("\nafter-sources", StringComparison.Ordinal);
        // GIT_STRATEGY none skips only the repository, as in GitLab Runner: the post script still runs.
        Assert.True(before >= 0 && before < skip && skip < after, output);
    }

    [Theory]
    [InlineData(false, "777")]
    [InlineData(true, "755")]
    public void Helper_stages_make_world_writable_directories_unless_the_feature_flag_disables_it(bool disabled, string mode)
    {
        var runner = TestData.Runner(environment: disabled ? [JobScripts.UmaskDisabledFlag + "=true"] : []);
        using var pod = new PodSandbox(Job(["true"]), runner);
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        var (_, stat) = PodSandbox.Run(["stat", "-c", "%a", pod.ProjectDir], null);
        Assert.Equal(mode, stat.Trim());
    }

    [Fact]
    public void The_build_container_stages_keep_the_images_umask()
    {
        var plan = JobScripts.Build(Job(["true"], ["true"]), TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        Assert.DoesNotContain("umask 0000", plan.Find("step_script")!.Script, StringComparison.Ordinal);
        Assert.DoesNotContain("umask 0000", plan.Find("after_script")!.Script, StringComparison.Ordinal);
        Assert.Contains("umask 0000", plan.Find("get_sources")!.Script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "https://gitlab.example.com/group/proj.git")]
    [InlineData("https://internal.example:8443", "https://internal.example:8443/group/proj.git")]
    [InlineData("http://10.0.0.5/", "http://10.0.0.5/group/proj.git")]
    [InlineData("ssh://git@host", "https://gitlab.example.com/group/proj.git")]
    public void Clone_url_replaces_the_server_of_the_repository_url(string? cloneUrl, string expected)
    {
        var (url, user) = JobScripts.RepositoryUrl(TestData.Job(), TestData.Runner() with { CloneUrl = cloneUrl });
        Assert.Equal(expected, url);
        Assert.Equal("gitlab-ci-token", user);
    }
}
