using System.Text;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

public sealed class JobScriptsTests
{
    private static JobPayload Job(IReadOnlyList<string>? script = null, IReadOnlyList<string>? afterScript = null,
        IReadOnlyList<JobVariable>? variables = null, IReadOnlyList<JobCache>? cache = null, IReadOnlyList<JobArtifact>? artifacts = null)
    {
        var steps = new List<JobStep> { new() { Name = "script", Script = script ?? ["echo hello"] } };
        if (afterScript is not null)
        {
            steps.Add(new JobStep { Name = "after_script", Script = afterScript, When = "always" });
        }

        return TestData.Job(variables: variables) with { Steps = steps, Cache = cache ?? [], Artifacts = artifacts ?? [] };
    }

    public static TheoryData<string, JobPayload, string[]> StageLists => new()
    {
        { "script only", Job(), ["get_sources", "step_script"] },
        { "after_script", Job(afterScript: ["echo bye"]), ["get_sources", "step_script", "after_script"] },
        {
            "pull-push cache", Job(cache: [new JobCache { Key = "k", Paths = ["vendor"] }]),
            ["get_sources", "restore_cache", "step_script", "archive_cache"]
        },
        { "pull cache", Job(cache: [new JobCache { Key = "k", Paths = ["vendor"], Policy = "pull" }]), ["get_sources", "restore_cache", "step_script"] },
        { "push cache", Job(cache: [new JobCache { Key = "k", Paths = ["vendor"], Policy = "push" }]), ["get_sources", "step_script", "archive_cache"] },
        {
            "cache always", Job(cache: [new JobCache { Key = "k", Paths = ["vendor"], Policy = "push", When = "always" }]),
            ["get_sources", "step_script", "archive_cache", "archive_cache_on_failure"]
        },
        {
            "artifacts on success and on failure",
            Job(artifacts: [new JobArtifact { Paths = ["out"] }, new JobArtifact { Paths = ["log"], When = "on_failure" }]),
            ["get_sources", "step_script", "upload_artifacts_on_success", "upload_artifacts_on_failure"]
        },
        { "artifact without paths", Job(artifacts: [new JobArtifact { Paths = [] }]), ["get_sources", "step_script"] },
        { "no script", Job(script: []), ["get_sources"] },
    };

    [Theory]
    [MemberData(nameof(StageLists))]
    public void Stages_follow_the_jobs_configuration(string _, JobPayload job, string[] expected)
    {
        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        Assert.Equal(expected, plan.Stages.Select(s => s.Name));
        Assert.All(plan.Stages, s => Assert.Equal(s.Name is "step_script" or "after_script" ? PodBuilder.BuildContainer : PodBuilder.HelperContainer, s.Container));
    }

    [Fact]
    public void Stage_conditions_and_after_script_settings()
    {
        var plan = JobScripts.Build(Job(afterScript: ["true"], cache: [new JobCache { Key = "k", Paths = ["v"], When = "always" }]),
            TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        Assert.Equal(StageRunsWhen.Always, plan.Find("get_sources")!.When);
        Assert.Equal(StageRunsWhen.OnSuccess, plan.Find("step_script")!.When);
        var after = plan.Find("after_script")!;
        Assert.Equal((StageRunsWhen.Always, true, TimeSpan.FromMinutes(5)), (after.When, after.IgnoreFailure, after.Timeout));
        Assert.False(plan.Find("step_script")!.IgnoreFailure);
        Assert.Equal(StageRunsWhen.OnFailure, plan.Find("archive_cache_on_failure")!.When);
    }

    [Fact]
    public void Artifact_archives_are_listed_once_per_artifact()
    {
        var plan = JobScripts.Build(Job(artifacts: [new JobArtifact { Paths = ["a"], When = "always" }, new JobArtifact { Paths = ["b"] }]),
            TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        Assert.Equal(["/var/run/scheduler/run/artifacts/0.zip", "/var/run/scheduler/run/artifacts/1.zip"], plan.ArtifactArchives);
        Assert.Contains(ShellText.QuoteAll(HelperInvocation.Default.Command("artifacts-archiver")) + " '--output' '/var/run/scheduler/run/artifacts/0.zip' '--path' 'a'",
            plan.Find("upload_artifacts_on_failure")!.Script);
    }

    public static TheoryData<JobVariable> SecretVariables => new()
    {
        TestData.Masked("DEPLOY_KEY", "s3cr3t-masked-value"),
        TestData.Hidden("DB_PASSWORD", "hidden-value-42"),
        new JobVariable { Key = "KUBECONFIG_FILE", Value = "file-secret-content", Public = false, File = true },
        new JobVariable { Key = "PUBLIC_MASKED", Value = "public-but-masked", Public = true, Masked = true },
    };

    [Theory]
    [MemberData(nameof(SecretVariables))]
    public void Secret_values_never_appear_in_scripts(JobVariable secret)
    {
        var job = Job(variables: [secret, TestData.Public("REF", "x-$" + secret.Key)], cache: [new JobCache { Key = "$" + secret.Key, Paths = ["p"] }],
            artifacts: [new JobArtifact { Paths = ["$" + secret.Key] }]);
        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        foreach (var stage in plan.Stages)
        {
            Assert.DoesNotContain(secret.Value, stage.Script, StringComparison.Ordinal);
            Assert.DoesNotContain(TestData.JobToken, stage.Script, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(secret.Value, plan.VariablesScript, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.JobToken, plan.VariablesScript, StringComparison.Ordinal);
    }

    public static TheoryData<string, JobVariable[], string, string> ExportedVariables => new()
    {
        { "public", [TestData.Public("GREETING", "hi there")], "echo \"[$GREETING]\"", "[hi there]" },
        { "hidden from the Secret", [TestData.Hidden("PASSWORD", "pa ss'word")], "echo \"[$PASSWORD]\"", "[pa ss'word]" },
        { "masked keeps trailing newlines", [TestData.Masked("KEY", "line\n\n")], "printf '[%s]' \"$KEY\"", "[line\n\n]" },
        { "expanded reference", [TestData.Public("A", "one"), TestData.Public("B", "$A-${A}-$$A")], "echo \"$B\"", "one-one-$A" },
        { "reference to a secret expands in the pod", [TestData.Hidden("S", "sec"), TestData.Public("URL", "u:$S")], "echo \"$URL\"", "u:sec" },
        { "raw keeps dollars", [TestData.Public("A", "one"), new JobVariable { Key = "R", Value = "$A `x` \"q\"", Public = true, Raw = true }], "echo \"$R\"", "$A `x` \"q\"" },
        { "shell syntax in a value stays literal", [TestData.Public("V", "$(id) `id` ${X:-$(id)} \\ \"")], "echo \"$V\"", "$(id) `id`  \\ \"" },
        { "job variable wins over predefined", [TestData.Public("CI_JOB_NAME", "custom")], "echo \"$CI_JOB_NAME\"", "custom" },
        { "predefined", [], "echo \"$CI_JOB_ID $CI_JOB_NAME $CI_CONCURRENT_ID $CI_COMMIT_SHA $CI_PROJECT_PATH $CI $GITLAB_CI\"", "1234 unit 3 0123456789abcdef group/proj true true" },
        { "job token from the Secret", [], "echo \"$CI_JOB_TOKEN\"", TestData.JobToken },
        { "repeated key keeps the last", [TestData.Public("D", "first"), TestData.Hidden("D", "second")], "echo \"$D\"", "second" },
    };

    [Theory]
    [MemberData(nameof(ExportedVariables))]
    public void Step_script_exports_the_jobs_variables(string _, JobVariable[] variables, string command, string expected)
    {
        using var pod = new PodSandbox(Job(script: [command], variables: variables));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(0, code);
        var printed = output.Split("\u001b[0;m\n", 2)[1];
        Assert.StartsWith(expected, printed, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> SecretValuesInEveryShell()
    {
        var data = new TheoryData<string, string>();
        string[] values =
        [
            "line\n\n", "no newline", "two\nlines", "", "\n", "  spaced\t ", "back\\slash \\n $X `x` \"q\" 'q'",
            new string('s', ScriptContext.BuiltinReadLimit), new string('l', ScriptContext.BuiltinReadLimit + 1) + "\n\n",
        ];
        foreach (var shell in new[] { "/bin/dash", "/bin/bash", "/bin/busybox" })
        {
            foreach (var value in values)
            {
                data.Add(shell, value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SecretValuesInEveryShell))]
    public void Secret_values_and_the_job_token_are_read_whole_in_every_shell(string shell, string value)
    {
        Assert.True(File.Exists(shell), $"this test needs {shell} (scripts/test.sh installs busybox-static)");
        using var pod = new PodSandbox(Job(script: ["printf '[%s][%s]' \"$KEY\" \"$CI_JOB_TOKEN\""], variables: [TestData.Masked("KEY", value)]));
        var (code, output) = pod.RunStage("step_script", shell: shell.EndsWith("busybox", StringComparison.Ordinal) ? [shell, "sh"] : [shell]);
        Assert.True(code == 0, output);
        Assert.Contains($"[{value}][{TestData.JobToken}]", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10, false)]
    [InlineData(ScriptContext.BuiltinReadLimit, false)]
    [InlineData(ScriptContext.BuiltinReadLimit + 1, true)]
    public void Small_secrets_are_read_without_a_process_and_large_ones_with_cat(int length, bool cat)
    {
        var plan = JobScripts.Build(Job(variables: [TestData.Masked("KEY", new string('v', length))]), TestData.Runner(), 0, TestData.Identity,
            new ScriptOptions(HelperInvocation.Default));
        var read = plan.VariablesScript.Split('\n').Where(line => line.StartsWith("KEY=", StringComparison.Ordinal)).ToList();
        Assert.Equal(cat, read.Any(line => line.Contains("$(cat ", StringComparison.Ordinal)));
        Assert.DoesNotContain("$(cat ", plan.VariablesScript.Split("KEY=")[0], StringComparison.Ordinal); // the job token: read
    }

    [Fact]
    public void Runner_environment_is_exported_and_job_variables_win()
    {
        var runner = TestData.Runner(environment: ["FROM_RUNNER=r1", "BOTH=runner"]);
        using var pod = new PodSandbox(Job(script: ["echo \"$FROM_RUNNER $BOTH $CI_PROJECT_DIR\""], variables: [TestData.Public("BOTH", "job")]), runner);
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(0, code);
        Assert.Contains($"r1 job {pod.ProjectDir}\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void File_variables_point_at_a_private_file_with_the_content()
    {
        var file = new JobVariable { Key = "CONFIG", Value = "a: 1\nb: 2\n", Public = true, File = true };
        using var pod = new PodSandbox(Job(script: ["cat \"$CONFIG\"", "stat -c %a \"$CONFIG\"", "echo \"$CONFIG\""], variables: [file]));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(0, code);
        Assert.Contains("a: 1\nb: 2\n", output, StringComparison.Ordinal);
        Assert.Contains("600\n", output, StringComparison.Ordinal);
        Assert.Contains(pod.Local("/var/run/scheduler/run/tmp.step_script/CONFIG") + "\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain("a: 1", pod.Stage("step_script").Script, StringComparison.Ordinal);
    }

    public static TheoryData<string[], int, string, string?> FailingCommands => new()
    {
        { ["echo one", "exit 3", "echo never"], 3, "one", "never" },
        { ["echo one", "false && true", "echo never"], 1, "one", "never" },
        { ["sh -c 'exit 7'", "echo never"], 7, "$ sh -c 'exit 7'", "never" },
        { ["if true; then\n  echo inside\n  (exit 4)\nfi", "echo never"], 4, "inside", "never" },
        { ["echo a", "echo b"], 0, "b", null },
        { ["false || echo recovered"], 0, "recovered", null },
    };

    [Theory]
    [MemberData(nameof(FailingCommands))]
    public void The_first_failing_command_ends_the_stage_with_its_code(string[] script, int expectedCode, string shown, string? notShown)
    {
        using var pod = new PodSandbox(Job(script: script));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(expectedCode, code);
        Assert.Contains(shown, output, StringComparison.Ordinal);
        if (notShown is not null)
        {
            Assert.DoesNotContain(notShown + "\n", output.Replace("$ echo " + notShown, "", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Commands_are_echoed_in_green_and_the_stage_is_a_section()
    {
        using var pod = new PodSandbox(Job(script: ["echo 'it''s' \"$CI_JOB_ID\"", "for i in 1 2; do\n  echo loop$i\ndone"]));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(0, code);
        Assert.Contains("\u001b[32;1m$ echo 'it''s' \"$CI_JOB_ID\"\u001b[0;m\nits 1234\n", output, StringComparison.Ordinal);
        Assert.Contains("\u001b[32;1m$ for i in 1 2; do # collapsed multi-line command\u001b[0;m\nloop1\nloop2\n", output, StringComparison.Ordinal);
        Assert.Matches("^section_start:\\d+:step_script\r\u001b\\[0KExecuting \"step_script\" stage of the job script\n", output);
        Assert.Matches("section_end:\\d+:step_script\r\u001b\\[0K\n$", output);
    }

    [Theory]
    [InlineData("bash")] // EPOCHSECONDS: no process
    [InlineData("sh")] // dash here, busybox in many images: date
    public void The_section_time_is_the_unix_time_in_every_shell(string shell)
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var (code, output) = PodSandbox.Run([shell, "-c", "printf '%s' \"" + ScriptContext.Now + "\""]);
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.True(code == 0, output);
        Assert.InRange(long.Parse(output, System.Globalization.CultureInfo.InvariantCulture), before, after);
    }

    [Fact]
    public void A_failing_stage_still_ends_its_section()
    {
        using var pod = new PodSandbox(Job(script: ["exit 5"]));
        var (code, output) = pod.RunStage("step_script");
        Assert.Equal(5, code);
        Assert.Matches("section_end:\\d+:step_script\r\u001b\\[0K\n$", output);
    }

    [Theory]
    [InlineData("exit 2", "failed")]
    [InlineData("true", "success")]
    public void After_script_runs_on_its_own_and_sees_the_job_status(string script, string status)
    {
        using var pod = new PodSandbox(Job(script: [script], afterScript: ["echo \"status=$CI_JOB_STATUS\"", "exit 9", "echo never"]));
        var launch = pod.Exec(StageCommands.Launch(pod.Stage("step_script")));
        Assert.Equal(0, launch.ExitCode);
        var stepCode = StageCommands.ParseExitCode(pod.Exec(StageCommands.Wait(pod.Stage("step_script"))).Output);
        Assert.Equal(script == "true" ? 0 : 2, stepCode);

        var (code, output) = pod.RunStage("after_script");
        Assert.Equal(9, code);
        Assert.Contains($"status={status}\n", output, StringComparison.Ordinal);
        Assert.True(pod.Stage("after_script").IgnoreFailure);
    }

    [Theory]
    [InlineData("https://gitlab-ci-token:tok@gitlab.example.com/g/p.git", "https://gitlab.example.com/g/p.git", "gitlab-ci-token")]
    [InlineData("https://gitlab.example.com:8443/g/p.git", "https://gitlab.example.com:8443/g/p.git", null)]
    [InlineData("https://user@host/p.git", "https://host/p.git", "user")]
    [InlineData("file:///srv/repo.git", "file:///srv/repo.git", null)]
    [InlineData("/srv/repo.git", "/srv/repo.git", null)]
    [InlineData("https://host/p@x.git", "https://host/p@x.git", null)]
    public void Repository_urls_lose_their_credentials(string url, string plain, string? user) =>
        Assert.Equal((plain, user), JobScripts.SplitCredentials(url));

    [Fact]
    public void Get_sources_reads_the_token_from_the_Secret()
    {
        var script = JobScripts.Build(Job(), TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default)).Find("get_sources")!.Script;
        Assert.Contains("_url='https://gitlab.example.com/group/proj.git'", script, StringComparison.Ordinal);
        Assert.Contains("cat '\\''/var/run/scheduler/job/job-token'\\''", script, StringComparison.Ordinal);
        Assert.Contains("_git remote add origin 'https://gitlab.example.com/group/proj.git'", script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("group/proj", "/b/group/proj")]
    [InlineData("../escape", "/b/project-42")]
    [InlineData("/abs", "/b/project-42")]
    [InlineData("", "/b/project-42")]
    [InlineData("a//b", "/b/project-42")]
    public void Project_dir_is_under_the_builds_dir(string fullPath, string expected)
    {
        var job = TestData.Job() with { JobInfo = new JobInfo { ProjectId = 42, ProjectFullPath = fullPath } };
        Assert.Equal(expected, JobScripts.ProjectDir(job, "/b/"));
    }

    // GitLab Runner's sanitizing: ".." and a leading "/" are resolved inside the cache, never outside it.
    [Theory]
    [InlineData("$CI_COMMIT_REF_NAME-deps", "main-deps")]
    [InlineData("", "unit/main")]
    [InlineData("../x", "x")]
    [InlineData("/abs", "abs")]
    [InlineData("..", null)]
    public void Cache_keys_are_expanded_and_kept_inside_the_cache_dir(string key, string? expected)
    {
        var job = Job(cache: [new JobCache { Key = key, Paths = ["p"] }]);
        var script = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default, "/builds", "/c")).Find("restore_cache")!.Script;
        if (expected is null)
        {
            Assert.Contains("Skipping cache extraction due to empty cache key", script, StringComparison.Ordinal);
            Assert.DoesNotContain("cache-extractor", script, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains($"'--file' '/c/group/proj/{expected}/cache.zip'", script, StringComparison.Ordinal);
            Assert.DoesNotContain("/c/group/proj/..", script, StringComparison.Ordinal);
        }
    }

    // cache_dir: where the local cache archives live in the pod; GitLab Runner's default there is /cache.
    [Theory]
    [InlineData(null, "/cache/group/proj/deps/cache.zip")]
    [InlineData("", "/cache/group/proj/deps/cache.zip")]
    [InlineData("/mnt/ci-cache", "/mnt/ci-cache/group/proj/deps/cache.zip")]
    public void Cache_archives_live_under_the_runner_s_cache_dir(string? cacheDir, string expected)
    {
        var job = Job(cache: [new JobCache { Key = "deps", Paths = ["p"] }]);
        var runner = TestData.Runner() with { CacheDir = cacheDir };
        var options = ScriptOptions.For(runner, HelperInvocation.Default);

        var scripts = JobScripts.Build(job, runner, 0, TestData.Identity, options);

        Assert.Contains($"'--file' '{expected}'", scripts.Find("restore_cache")!.Script, StringComparison.Ordinal);
        Assert.Contains($"'--file' '{expected}'", scripts.Find("archive_cache")!.Script, StringComparison.Ordinal);
    }

    [Fact]
    public void Scripts_are_valid_sh()
    {
        var job = Job(script: ["echo x"], afterScript: ["echo y"], variables: [TestData.Public("A", "it's")],
            cache: [new JobCache { Key = "k", Paths = ["a b"], Untracked = true }], artifacts: [new JobArtifact { Paths = ["o"], Exclude = ["o/*.tmp"] }]);
        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.ForAssembly("/usr/bin/dotnet", "/x y/scheduler.dll")));
        foreach (var stage in plan.Stages)
        {
            var file = Path.GetTempFileName();
            File.WriteAllText(file, stage.Script, new UTF8Encoding(false));
            var (code, output) = PodSandbox.Run(["sh", "-n", file]);
            File.Delete(file);
            Assert.True(code == 0, $"{stage.Name}: {output}");
        }
    }
}
