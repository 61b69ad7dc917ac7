using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>get_sources with submodules (relative URLs), LFS and fetch flags, against bare repositories made in the test.
/// The origin has two submodules, <c>libs/sub</c> (<c>../sub.git</c>, which has a submodule <c>deep</c> of its own,
/// <c>../nested.git</c>) and <c>libs/other</c> (<c>../nested.git</c>).</summary>
public sealed class SubmoduleTests : IDisposable
{
    // git refuses file:// submodules unless allowed (CVE-2022-39253); a real server speaks http(s).
    private static readonly Dictionary<string, string> AllowFileProtocol = new()
    {
        ["GIT_CONFIG_COUNT"] = "1", ["GIT_CONFIG_KEY_0"] = "protocol.file.allow", ["GIT_CONFIG_VALUE_0"] = "always",
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("git-submodules-").FullName;
    private readonly string _origin;
    private readonly string _sha;

    public SubmoduleTests()
    {
        var nestedSha = Commit("nested", new Dictionary<string, string> { ["nested.txt"] = "nested\n" }, []);
        var subSha = Commit("sub", new Dictionary<string, string>
        {
            ["sub.txt"] = "sub\n",
            [".gitmodules"] = "[submodule \"deep\"]\n\tpath = deep\n\turl = ../nested.git\n",
        }, [("deep", nestedSha)]);
        _sha = Commit("origin", new Dictionary<string, string>
        {
            ["README"] = "origin\n",
            [".gitmodules"] = "[submodule \"libs/sub\"]\n\tpath = libs/sub\n\turl = ../sub.git\n"
                              + "[submodule \"libs/other\"]\n\tpath = libs/other\n\turl = ../nested.git\n",
        }, [("libs/sub", subSha), ("libs/other", nestedSha)]);
        _origin = Path.Combine(_dir, "origin.git");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Commit(string name, Dictionary<string, string> files, (string Path, string Sha)[] gitlinks)
    {
        var bare = Path.Combine(_dir, name + ".git");
        var work = Path.Combine(_dir, name + "-work");
        Git(_dir, "init", "-q", "--bare", "-b", "main", bare);
        Git(_dir, "init", "-q", "-b", "main", work);
        foreach (var (file, content) in files)
        {
            File.WriteAllText(Path.Combine(work, file), content);
            Git(work, "add", file);
        }

        foreach (var (path, sha) in gitlinks)
        {
            Git(work, "update-index", "--add", "--cacheinfo", $"160000,{sha},{path}");
        }

        Git(work, "commit", "-q", "-m", name);
        Git(work, "push", "-q", bare, "main");
        return Git(work, "rev-parse", "HEAD").Trim();
    }

    private static string Git(string cwd, params string[] args)
    {
        var (code, output) = PodSandbox.Run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", .. args], workingDirectory: cwd);
        Assert.True(code == 0, $"git {string.Join(' ', args)}: {output}");
        return output;
    }

    private PodSandbox Pod(params JobVariable[] variables) =>
        new(TestData.Job(variables: variables) with
        {
            GitInfo = new GitInfo { RepoUrl = "file://" + _origin, Sha = _sha, Ref = "main" },
            Steps = [new JobStep { Name = "script", Script = ["true"] }],
        });

    // A repository with a file the lfs filter covers (stored as it is: the pod's git-lfs is what the test is about).
    private PodSandbox LfsPod(params JobVariable[] variables)
    {
        var bare = Path.Combine(_dir, "lfs.git");
        var work = Path.Combine(_dir, "lfs-work");
        Git(_dir, "init", "-q", "--bare", "-b", "main", bare);
        Git(_dir, "init", "-q", "-b", "main", work);
        File.WriteAllText(Path.Combine(work, ".gitattributes"), "*.bin filter=lfs -text\n");
        File.WriteAllText(Path.Combine(work, "data.bin"), "data\n");
        // No LFS filter or hook of this machine's: the files are stored as they are.
        string[] plain = ["-c", "filter.lfs.clean=", "-c", "filter.lfs.smudge=", "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false",
            "-c", "core.hooksPath=/dev/null"];
        Git(work, [.. plain, "add", ".gitattributes", "data.bin"]);
        Git(work, [.. plain, "commit", "-q", "-m", "lfs"]);
        Git(work, [.. plain, "push", "-q", bare, "main"]);
        var sha = Git(work, "rev-parse", "HEAD").Trim();
        return new(TestData.Job(variables: variables) with
        {
            GitInfo = new GitInfo { RepoUrl = "file://" + bare, Sha = sha, Ref = "main" },
            Steps = [new JobStep { Name = "script", Script = ["true"] }],
        });
    }

    private static (int Code, string Output) GetSources(PodSandbox pod) => pod.RunStage("get_sources", AllowFileProtocol);

    [Fact]
    public void Without_a_strategy_submodules_are_left_alone()
    {
        using var pod = Pod();
        var (code, output) = GetSources(pod);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(pod.ProjectDir, "README")));
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "libs/sub/sub.txt")));
        Assert.DoesNotContain("submodules", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Normal_updates_the_first_level_from_relative_urls()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "normal"));
        var (code, output) = GetSources(pod);
        Assert.True(code == 0, output);
        Assert.Contains("Updating/initializing submodules...", output, StringComparison.Ordinal);
        Assert.Equal("sub\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "libs/sub/sub.txt")));
        Assert.Equal("nested\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "libs/other/nested.txt")));
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "libs/sub/deep/nested.txt")));
    }

    [Fact]
    public void Recursive_updates_submodules_of_submodules()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "recursive"));
        var (code, output) = GetSources(pod);
        Assert.True(code == 0, output);
        Assert.Contains("Updating/initializing submodules recursively...", output, StringComparison.Ordinal);
        Assert.Equal("nested\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "libs/sub/deep/nested.txt")));
    }

    [Fact]
    public void Submodule_paths_limit_the_update()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "normal"), TestData.Public("GIT_SUBMODULE_PATHS", "libs/sub"));
        var (code, output) = GetSources(pod);
        Assert.True(code == 0, output);
        Assert.True(File.Exists(Path.Combine(pod.ProjectDir, "libs/sub/sub.txt")));
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "libs/other/nested.txt")));
    }

    [Fact]
    public void Submodule_update_flags_reach_git()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "normal"), TestData.Public("GIT_SUBMODULE_UPDATE_FLAGS", "--no-such-flag"));
        var (code, output) = GetSources(pod);
        Assert.NotEqual(0, code);
        Assert.Contains("usage: git submodule", output, StringComparison.Ordinal); // git refused the flag it was given
    }

    [Fact]
    public void A_second_fetch_cleans_the_submodules_work_trees()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "normal"));
        Assert.Equal(0, GetSources(pod).Code);
        File.WriteAllText(Path.Combine(pod.ProjectDir, "libs/sub/junk"), "x");
        var (code, output) = GetSources(pod);
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "libs/sub/junk")));
    }

    [Fact]
    public void An_unknown_strategy_fails_the_stage()
    {
        using var pod = Pod(TestData.Public("GIT_SUBMODULE_STRATEGY", "deep"));
        var (code, output) = GetSources(pod);
        Assert.Equal(1, code);
        Assert.Contains("unknown GIT_SUBMODULE_STRATEGY \"deep\"", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--no-such-fetch-flag", false)]
    [InlineData("none", true)]
    [InlineData("--prune --no-tags", true)]
    public void Fetch_extra_flags_replace_the_default_flags(string flags, bool succeeds)
    {
        using var pod = Pod(TestData.Public("GIT_FETCH_EXTRA_FLAGS", flags));
        var (code, output) = GetSources(pod);
        Assert.True(succeeds == (code == 0), output);
        if (!succeeds)
        {
            Assert.Contains("no-such-fetch-flag", output, StringComparison.Ordinal);
        }
    }

    // Without LFS files in the checkout (and no submodule strategy) git-lfs is not asked, so there is nothing to say.
    [Theory]
    [InlineData(null, true, true)]
    [InlineData("1", true, false)]
    [InlineData(null, false, false)]
    public void Without_git_lfs_in_the_image_the_log_says_lfs_objects_are_skipped(string? skipSmudge, bool lfsFiles, bool said)
    {
        // An image without git-lfs: a git on the PATH that has no lfs command, whatever this machine has.
        var bin = Path.Combine(_dir, "bin-without-lfs");
        Directory.CreateDirectory(bin);
        var realGit = PodSandbox.Run(["sh", "-c", "command -v git"]).Output.Trim();
        var wrapper = Path.Combine(bin, "git");
        File.WriteAllText(wrapper, "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = lfs ] && { echo \"git: 'lfs' is not a git command.\" >&2; exit 1; }; done\n"
                                   + $"exec '{realGit}' \"$@\"\n");
        PodSandbox.Run(["chmod", "700", wrapper]);
        JobVariable[] variables = skipSmudge is null ? [] : [TestData.Public("GIT_LFS_SKIP_SMUDGE", skipSmudge)];
        using var pod = lfsFiles ? LfsPod(variables) : Pod(variables);
        var env = new Dictionary<string, string>(AllowFileProtocol) { ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH") };

        var (code, output) = pod.RunStage("get_sources", env);

        Assert.True(code == 0, output);
        Assert.Equal(said, output.Contains("Skipping Git LFS objects: git-lfs is not installed", StringComparison.Ordinal));
    }
}
