using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>The [[runners]] keys that shape the checkout: custom_build_dir with GIT_CLONE_PATH, safe_directory_checkout and
/// clean_git_config, with GitLab Runner's semantics; get_sources runs with /bin/sh against a bare repository made here.</summary>
public sealed class CheckoutSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("git-checkout-").FullName;
    private readonly string _bare;
    private readonly string _sha;

    public CheckoutSettingsTests()
    {
        _bare = Path.Combine(_dir, "origin.git");
        var work = Path.Combine(_dir, "work");
        Git(_dir, "init", "-q", "--bare", "-b", "main", _bare);
        Git(_dir, "init", "-q", "-b", "main", work);
        File.WriteAllText(Path.Combine(work, "README"), "hello\n");
        Git(work, "add", "README");
        Git(work, "commit", "-q", "-m", "first");
        _sha = Git(work, "rev-parse", "HEAD").Trim();
        Git(work, "push", "-q", _bare, "main");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Git(string cwd, params string[] args)
    {
        var (code, output) = PodSandbox.Run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", .. args], workingDirectory: cwd);
        Assert.True(code == 0, $"git {string.Join(' ', args)}: {output}");
        return output;
    }

    private JobPayload Job(params JobVariable[] variables) =>
        TestData.Job(variables: variables) with
        {
            AllowGitFetch = true,
            GitInfo = new GitInfo { RepoUrl = "file://" + _bare, Sha = _sha, Ref = "main" },
            Steps = [new JobStep { Name = "script", Script = ["true"] }],
        };

    private PodSandbox Pod(RunnerEntry? runner = null, params JobVariable[] variables) => new(Job(variables), runner);

    public static TheoryData<string, string, bool, string> AcceptedClonePaths => new()
    {
        // GIT_CLONE_PATH (expanded), builds dir, custom_build_dir enabled, the checkout.
        { "", "/builds", false, "/builds/group/project" },
        { "", "/builds", true, "/builds/group/project" },
        { "/builds/go/src/gitlab.com/group/project", "/builds", true, "/builds/go/src/gitlab.com/group/project" },
        { "/builds//a/./b/../c/", "/builds", true, "/builds/a/c" },
        { "/builds", "/builds", true, "/builds" },
        { "/builds/x", "/builds/", true, "/builds/x" },
        { "/anywhere/at/all", "/", true, "/anywhere/at/all" },
    };

    [Theory]
    [MemberData(nameof(AcceptedClonePaths))]
    public void Clone_path_rules_that_accept(string gitClonePath, string buildsDir, bool enabled, string expected) =>
        Assert.Equal(expected, JobScripts.ClonePath(gitClonePath, buildsDir, enabled, "/builds/group/project"));

    [Theory]
    [InlineData("/builds/x", "/builds", false, "setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature")]
    [InlineData("/builds/../etc", "/builds", true, "the GIT_CLONE_PATH=\"/builds/../etc\" has to be within \"/builds\"")]
    [InlineData("/buildsx/y", "/builds", true, "has to be within")]
    [InlineData("/builds/..cache/y", "/builds", true, "has to be within")]
    [InlineData("builds/relative", "/builds", true, "has to be within")]
    [InlineData("/builds/a\nb", "/builds", true, "has to be within")]
    public void Clone_path_rules_that_refuse(string gitClonePath, string buildsDir, bool enabled, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => JobScripts.ClonePath(gitClonePath, buildsDir, enabled, "/builds/group/project"));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Git_clone_path_expands_the_job_variables_and_moves_the_checkout_and_CI_PROJECT_DIR()
    {
        using var pod = Pod(null, TestData.Public("GOPATH", "$CI_BUILDS_DIR/go"), TestData.Public("GIT_CLONE_PATH", "$GOPATH/src/$CI_PROJECT_PATH"));
        var expected = pod.BuildsDir + "/go/src/" + pod.Job.JobInfo.ProjectFullPath;

        var (code, output) = pod.RunStage("get_sources");

        Assert.True(code == 0, output);
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(expected, "README")));
        Assert.False(Directory.Exists(pod.ProjectDir));
        Assert.Contains($"export CI_PROJECT_DIR='{expected}'", pod.Plan.VariablesScript, StringComparison.Ordinal);
    }

    [Fact]
    public void Git_clone_path_outside_the_builds_dir_or_not_enabled_fails_the_job_with_GitLab_Runners_message()
    {
        var outside = Job(TestData.Public("GIT_CLONE_PATH", "$CI_BUILDS_DIR/../etc"));
        var inside = Job(TestData.Public("GIT_CLONE_PATH", "$CI_BUILDS_DIR/mine"));
        var disabled = TestData.Runner() with { CustomBuildDirEnabled = false };
        var options = new ScriptOptions(HelperInvocation.Default);

        var escape = Assert.Throws<ArgumentException>(() => JobScripts.Build(outside, TestData.Runner(), 0, TestData.Identity, options));
        var refused = Assert.Throws<ArgumentException>(() => JobScripts.Build(inside, disabled, 0, TestData.Identity, options));

        Assert.Equal("the GIT_CLONE_PATH=\"/builds/../etc\" has to be within \"/builds\"", escape.Message);
        Assert.Equal("setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature", refused.Message);
        Assert.Contains("/builds/mine", JobScripts.Build(inside, TestData.Runner(), 0, TestData.Identity, options).VariablesScript, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Safe_directory_checkout_lets_git_use_a_checkout_owned_by_someone_else(bool? setting, bool succeeds)
    {
        using var pod = Pod(TestData.Runner() with { SafeDirectoryCheckout = setting });
        // Git's own switch for "this repository belongs to another user" (what a builds volume written by a build image
        // with another uid looks like to the helper)
        // with another uid looks like to the helper); the origin, which is remote in a pod, is trusted here by a global config.
        var global = Path.Combine(_dir, "global.gitconfig");
        File.WriteAllText(global, $"[safe]\n\tdirectory = {_bare}\n");
        var (code, output) = pod.RunStage("get_sources",
            new Dictionary<string, string> { ["GIT_TEST_ASSUME_DIFFERENT_OWNER"] = "1", ["GIT_CONFIG_GLOBAL"] = global });

        Assert.True(succeeds == (code == 0), output);
        if (!succeeds)
        {
            Assert.Contains("dubious ownership", output, StringComparison.Ordinal);
        }
    }

    // An earlier job on a kept builds dir plants a hook and a hooksPath; the next fetch must not run them.
    private static void Poison(string projectDir, string marker)
    {
        var hook = Path.Combine(projectDir, ".git", "hooks", "post-checkout");
        Directory.CreateDirectory(Path.GetDirectoryName(hook)!);
        File.WriteAllText(hook, $"#!/bin/sh\necho planted > '{marker}'\n");
        Assert.Equal(0, PodSandbox.Run(["chmod", "700", hook]).ExitCode);
        File.AppendAllText(Path.Combine(projectDir, ".git", "config"), "[alias]\n\tplanted = status\n");
    }

    [Theory]
    [InlineData(null, "fetch", true)]
    [InlineData(true, "fetch", true)]
    [InlineData(false, "fetch", false)]
    [InlineData(null, "none", false)]
    [InlineData(true, "none", true)]
    public void Clean_git_config_removes_what_an_earlier_job_left_in_the_git_dir(bool? setting, string strategy, bool cleaned)
    {
        using var pod = Pod(TestData.Runner() with { CleanGitConfig = setting }, TestData.Public("GIT_STRATEGY", strategy));
        using (var first = new PodSandbox(Job(), TestData.Runner()))
        {
            // The first job's checkout, moved to this pod's builds dir as a kept volume would hold it.
            Assert.Equal(0, first.RunStage("get_sources").ExitCode);
            CopyDirectory(first.ProjectDir, pod.ProjectDir);
        }

        var marker = Path.Combine(pod.Root, "hook-ran");
        Poison(pod.ProjectDir, marker);

        var (code, output) = pod.RunStage("get_sources");

        Assert.True(code == 0, output);
        var config = Path.Combine(pod.ProjectDir, ".git", "config");
        Assert.Equal(cleaned, !File.Exists(config) || !File.ReadAllText(config).Contains("planted", StringComparison.Ordinal));
        Assert.Equal(cleaned, !Directory.Exists(Path.Combine(pod.ProjectDir, ".git", "hooks")));
        if (strategy == "fetch")
        {
            Assert.Equal(!cleaned, File.Exists(marker));
            Assert.Equal("hello\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }
}
