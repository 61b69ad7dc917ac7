using System.Net;
using System.Net.Sockets;
using System.Text;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>get_sources against a bare repository made in the test with git, run with /bin/sh.</summary>
public sealed class GetSourcesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("git-origin-").FullName;
    private readonly string _bare;
    private readonly string _first;
    private readonly string _second;

    public GetSourcesTests()
    {
        _bare = Path.Combine(_dir, "origin.git");
        var work = Path.Combine(_dir, "work");
        Git(_dir, "init", "-q", "--bare", "-b", "main", _bare);
        Git(_dir, "init", "-q", "-b", "main", work);
        File.WriteAllText(Path.Combine(work, "README"), "first\n");
        Git(work, "add", "README");
        Git(work, "commit", "-q", "-m", "first");
        _first = Git(work, "rev-parse", "HEAD").Trim();
        File.WriteAllText(Path.Combine(work, "README"), "second\n");
        Git(work, "commit", "-q", "-am", "second");
        _second = Git(work, "rev-parse", "HEAD").Trim();
        Git(work, "push", "-q", _bare, "main");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Git(string cwd, params string[] args)
    {
        var (code, output) = PodSandbox.Run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", .. args], workingDirectory: cwd);
        Assert.True(code == 0, $"git {string.Join(' ', args)}: {output}");
        return output;
    }

    private PodSandbox Pod(string sha, params JobVariable[] variables) =>
        new(TestData.Job(variables: variables) with
        {
            AllowGitFetch = true,
            GitInfo = new GitInfo { RepoUrl = "file://" + _bare, Sha = sha, Ref = "main" },
            Steps = [new JobStep { Name = "script", Script = ["true"] }],
        });

    [Fact]
    public void Clone_checks_out_the_commit_into_a_fresh_directory()
    {
        using var pod = Pod(_first, TestData.Public("GIT_STRATEGY", "clone"));
        Directory.CreateDirectory(pod.ProjectDir);
        File.WriteAllText(Path.Combine(pod.ProjectDir, "stale"), "x");
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Equal("first\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "stale")));
        Assert.Contains("Created fresh repository.", output, StringComparison.Ordinal);
        Assert.Contains($"Checking out {_first[..8]} as main...", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fresh_repository_is_made_without_git_s_template()
    {
        // No sample hooks, description or info/exclude copied in: one git process less work, and nothing of the image's
        // template directory (init.templateDir) comes into the checkout.
        using var pod = Pod(_first, TestData.Public("GIT_STRATEGY", "clone"));
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Equal("first\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
        Assert.False(Directory.Exists(Path.Combine(pod.ProjectDir, ".git", "hooks")), output);
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, ".git", "description")), output);
    }

    [Fact]
    public void Fetch_reuses_the_repository_and_cleans_the_work_tree()
    {
        using var pod = Pod(_second);
        Assert.Equal(0, pod.RunStage("get_sources").ExitCode);
        File.WriteAllText(Path.Combine(pod.ProjectDir, "junk"), "x");
        File.WriteAllText(Path.Combine(pod.ProjectDir, ".git", "kept"), "x");

        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Contains("Reinitialized existing Git repository", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(pod.ProjectDir, ".git", "kept")));
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "junk")));
        Assert.Equal("second\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
    }

    [Fact]
    public void None_only_makes_the_project_directory()
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", "none"));
        var (code, output) = pod.RunStage("get_sources");
        Assert.Equal(0, code);
        Assert.Contains("Skipping Git repository setup", output, StringComparison.Ordinal);
        Assert.True(Directory.Exists(pod.ProjectDir));
        Assert.False(Directory.Exists(Path.Combine(pod.ProjectDir, ".git")));
    }

    [Fact]
    public void Git_depth_makes_a_shallow_clone()
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", "clone"), TestData.Public("GIT_DEPTH", "1"));
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Contains("Fetching changes with git depth set to 1...", output, StringComparison.Ordinal);
        Assert.Equal("1", Git(pod.ProjectDir, "-c", "safe.directory=*", "rev-list", "--count", "HEAD").Trim());
    }

    [Fact]
    public void Git_checkout_false_fetches_without_a_work_tree()
    {
        using var pod = Pod(_second, TestData.Public("GIT_CHECKOUT", "false"));
        var (code, output) = pod.RunStage("get_sources");
        Assert.True(code == 0, output);
        Assert.Contains("Skipping Git checkout", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "README")));
    }

    [Theory]
    [InlineData("GIT_STRATEGY", "bogus", "unknown GIT_STRATEGY \"bogus\"")]
    [InlineData("GIT_DEPTH", "0", "Fetching changes...")]
    public void Unusual_values(string key, string value, string expected)
    {
        using var pod = Pod(_first, TestData.Public(key, value));
        var (code, output) = pod.RunStage("get_sources");
        Assert.Equal(key == "GIT_STRATEGY" ? 1 : 0, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_commit_fails_the_stage()
    {
        using var pod = Pod("1111111111111111111111111111111111111111", TestData.Public("GIT_STRATEGY", "clone"));
        var (code, _) = pod.RunStage("get_sources");
        Assert.NotEqual(0, code);
    }

    [Fact]
    public void The_job_token_reaches_the_git_server_but_no_command_line()
    {
        const string token = "glcbt-token-on-no-argv";
        using var server = new BasicAuthServer("127.0.0.1");

        var (code, output, argv) = FetchFrom(server.Url, token);

        Assert.NotEqual(0, code);
        Assert.Contains("fetch", argv, StringComparison.Ordinal);
        Assert.DoesNotContain(token, argv, StringComparison.Ordinal);
        Assert.DoesNotContain(token, output, StringComparison.Ordinal);
        Assert.Contains("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("gitlab-ci-token:" + token)), server.Authorizations);
    }

    [Fact]
    public void The_credential_helper_does_not_answer_for_a_host_a_redirect_names()
    {
        const string token = "glcbt-token-for-origin-only";
        using var elsewhere = new BasicAuthServer("127.0.0.2");
        using var origin = new BasicAuthServer("127.0.0.1") { RedirectTo = elsewhere.Url };

        var (code, _, _) = FetchFrom(origin.Url, token);

        Assert.NotEqual(0, code);
        Assert.NotEmpty(elsewhere.Requests);
        Assert.Empty(elsewhere.Authorizations);
        Assert.Empty(origin.Authorizations);
    }

    // Runs get_sources against url with the token in the repository URL, as GitLab sends it, and a git on the PATH that
    // records every command line it is given before running the real one.
    private (int Code, string Output, string Argv) FetchFrom(string url, string token)
    {
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);
        var argvLog = Path.Combine(_dir, "argv.log");
        var realGit = PodSandbox.Run(["sh", "-c", "command -v git"]).Output.Trim();
        var wrapper = Path.Combine(bin, "git");
        File.WriteAllText(wrapper, $"#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{argvLog}'\nexec '{realGit}' \"$@\"\n");
        PodSandbox.Run(["chmod", "700", wrapper]);

        var authority = new Uri(url).Authority;
        using var pod = new PodSandbox(TestData.Job() with
        {
            Token = token,
            GitInfo = new GitInfo { RepoUrl = $"http://gitlab-ci-token:{token}@{authority}/group/proj.git", Sha = _first, Ref = "main" },
            Steps = [new JobStep { Name = "script", Script = ["true"] }],
        });
        Assert.DoesNotContain(token, pod.Stage("get_sources").Script, StringComparison.Ordinal);
        var (code, output) = pod.RunStage("get_sources", new Dictionary<string, string>
        {
            ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH"),
        });
        return (code, output, File.ReadAllText(argvLog));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("*.txt text\n", false)]
    [InlineData("*.bin filter=lfs diff=lfs merge=lfs -text\n", true)]
    [InlineData("[attr]big filter=lfs -text\ndata/*.bin big\n", true)]
    public void Git_lfs_runs_only_when_a_file_of_the_checkout_has_the_lfs_filter(string? attributes, bool pulled)
    {
        var sha = attributes is null ? _first : CommitOnBranch("attributes", new Dictionary<string, string>
        {
            [".gitattributes"] = attributes, ["data/x.bin"] = "not a pointer\n",
        });
        using var pod = Pod(sha, TestData.Public("GIT_STRATEGY", "clone"));

        var (code, output, argv) = RunWithRecordingGit(pod);

        Assert.True(code == 0, output);
        Assert.Equal(pulled, argv.Contains("lfs version", StringComparison.Ordinal));
        Assert.Equal(pulled, argv.Contains("lfs pull", StringComparison.Ordinal));
    }

    [Fact]
    public void Git_lfs_is_not_skipped_when_the_job_turns_pathspec_magic_off()
    {
        // GIT_LITERAL_PATHSPECS=1 makes `:(attr:…)` a literal path, which matches nothing: the check must not see it.
        var sha = CommitOnBranch("literal", new Dictionary<string, string>
        {
            [".gitattributes"] = "*.bin filter=lfs diff=lfs merge=lfs -text\n", ["data/x.bin"] = "not a pointer\n",
        });
        using var pod = Pod(sha, TestData.Public("GIT_STRATEGY", "clone"), TestData.Public("GIT_LITERAL_PATHSPECS", "1"));

        var (code, output, argv) = RunWithRecordingGit(pod);

        Assert.True(code == 0, output);
        Assert.Contains("lfs pull", argv, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("clone", false, false)]
    [InlineData("fetch", true, true)]
    public void Clean_and_remote_removal_run_only_where_an_earlier_checkout_can_have_left_something(string strategy, bool cleaned,
        bool removed)
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", strategy));
        Assert.Equal(0, pod.RunStage("get_sources").ExitCode);
        File.WriteAllText(Path.Combine(pod.ProjectDir, "junk"), "x");

        var (code, output, argv) = RunWithRecordingGit(pod);

        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(pod.ProjectDir, "junk")));
        Assert.Equal("second\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
        Assert.Equal(cleaned, argv.Contains(" clean -ffdx -q", StringComparison.Ordinal));
        Assert.Equal(removed, argv.Contains(" remote remove origin", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("clone", false)]
    [InlineData("fetch", true)]
    public void Automatic_maintenance_runs_only_after_a_fetch_into_an_existing_repository(string strategy, bool maintained)
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", strategy));
        var first = Path.Combine(_dir, "trace-first");
        var again = Path.Combine(_dir, "trace-again");

        var (code, output) = pod.RunStage("get_sources", new Dictionary<string, string> { ["GIT_TRACE"] = first });
        Assert.True(code == 0, output);
        (code, output) = pod.RunStage("get_sources", new Dictionary<string, string> { ["GIT_TRACE"] = again });
        Assert.True(code == 0, output);

        // GIT_TRACE names every command git starts, its own included (run_command: git maintenance run --auto …).
        Assert.Contains(" fetch ", File.ReadAllText(first), StringComparison.Ordinal);
        Assert.DoesNotContain("maintenance run", File.ReadAllText(first), StringComparison.Ordinal);
        Assert.Equal(maintained, File.ReadAllText(again).Contains("maintenance run", StringComparison.Ordinal));
        Assert.Equal("second\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
    }

    [Theory]
    [InlineData(false, false)] // a small fetch leaves loose objects: the commit's file says it is there
    [InlineData(true, true)] // packed objects (fetch.unpackLimit=1): git is asked
    public void A_fetched_commit_is_checked_out_without_a_second_fetch(bool packed, bool asked)
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", "clone"));
        var env = packed
            ? new Dictionary<string, string> { ["GIT_CONFIG_COUNT"] = "1", ["GIT_CONFIG_KEY_0"] = "fetch.unpackLimit", ["GIT_CONFIG_VALUE_0"] = "1" }
            : null;

        var (code, output, argv) = RunWithRecordingGit(pod, env);

        Assert.True(code == 0, output);
        Assert.Equal("second\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "README")));
        Assert.Equal(asked, argv.Contains(" cat-file -e ", StringComparison.Ordinal));
        Assert.Single(argv.Split('\n'), line => line.Contains(" fetch ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_commit_outside_the_refspecs_is_fetched_by_its_id()
    {
        // A merge request's head lives under refs/merge-requests/, which the default refspecs do not fetch.
        var sha = CommitOnBranch("mr-source", new Dictionary<string, string> { ["MR"] = "merge request\n" });
        Git(_bare, "update-ref", "refs/merge-requests/1/head", sha);
        Git(_bare, "update-ref", "-d", "refs/heads/mr-source");
        using var pod = Pod(sha, TestData.Public("GIT_STRATEGY", "clone"));

        var (code, output, argv) = RunWithRecordingGit(pod);

        Assert.True(code == 0, output);
        Assert.Equal("merge request\n", File.ReadAllText(Path.Combine(pod.ProjectDir, "MR")));
        Assert.Equal(2, argv.Split('\n').Count(line => line.Contains(" fetch ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef01234567", "[ -f .git/objects/01/23456789abcdef0123456789abcdef01234567 ] || ")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "[ -f .git/objects/01/23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ] || ")]
    [InlineData("0123456789abcdef", "")] // a short id: git resolves it
    [InlineData("0123456789ABCDEF0123456789ABCDEF01234567", "")] // object files are named in lower case
    [InlineData("../../../../etc/passwd/0123456789abcdef012345", "")]
    [InlineData("0123456789abcdef0123456789abcdef0123456g", "")]
    public void Only_a_full_lower_case_commit_id_is_looked_for_as_a_loose_object(string sha, string expected) =>
        Assert.Equal(expected, Scheduler.Actors.Scripts.JobScripts.LooseObjectTest(sha));

    [Theory]
    [InlineData("clone")]
    [InlineData("fetch")]
    public void The_checkout_has_its_origin_whether_made_here_or_reused(string strategy)
    {
        using var pod = Pod(_second, TestData.Public("GIT_STRATEGY", strategy));
        for (var run = 0; run < 2; run++)
        {
            var (code, output) = pod.RunStage("get_sources");
            Assert.True(code == 0, output);
            Assert.Equal($"remote.origin.url file://{_bare}\nremote.origin.fetch +refs/heads/*:refs/remotes/origin/*\n",
                Git(pod.ProjectDir, "-c", "safe.directory=*", "config", "--get-regexp", "^remote\\."));
        }
    }

    [Theory]
    [InlineData("https://gitlab.example.com/group/proj.git")]
    [InlineData("/tmp/a dir/with \"quotes\" and \\ a backslash; # and a hash \\\"")]
    [InlineData("https://gitlab.example.com/grüppe/pröj.git")]
    public void The_origin_written_into_a_new_repository_reads_back_as_the_one_git_remote_add_writes(string url)
    {
        var written = Path.Combine(_dir, "written");
        var added = Path.Combine(_dir, "added");
        Git(_dir, "init", "-q", written);
        Git(_dir, "init", "-q", added);
        File.AppendAllText(Path.Combine(written, ".git", "config"), Scheduler.Actors.Scripts.JobScripts.OriginConfig(url) + "\n");
        Git(added, "remote", "add", "origin", url);

        Assert.Equal(Git(added, "config", "--get-regexp", "^remote\\."), Git(written, "config", "--get-regexp", "^remote\\."));
        Assert.Equal(url + "\n", Git(written, "remote", "get-url", "origin"));
    }

    [Theory]
    [InlineData("https://h/p.git\n[core]\n\tfsmonitor = evil")]
    [InlineData("https://h/p.git\r")]
    [InlineData("https://h/p\u0000.git")]
    public void A_url_with_a_control_character_is_left_to_git_remote_add(string url) =>
        Assert.Null(Scheduler.Actors.Scripts.JobScripts.OriginConfig(url));

    // A commit with these files on a branch of the origin of its own; returns its id.
    private string CommitOnBranch(string branch, Dictionary<string, string> files)
    {
        var work = Path.Combine(_dir, branch + "-work");
        Git(_dir, "clone", "-q", _bare, work);
        foreach (var (file, content) in files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(work, file))!);
            File.WriteAllText(Path.Combine(work, file), content);
            Git(work, "add", file);
        }

        // The commit stores the files as they are: no LFS filter of this machine's.
        Git(work, "-c", "filter.lfs.clean=", "-c", "filter.lfs.smudge=", "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false",
            "commit", "-q", "-m", branch);
        Git(work, "push", "-q", _bare, "HEAD:refs/heads/" + branch);
        return Git(work, "rev-parse", "HEAD").Trim();
    }

    // Runs get_sources with a git on the PATH that records every command line and answers `git lfs` itself (an image
    // with git-lfs, whatever this machine has), so the test sees which git commands the stage ran.
    private (int Code, string Output, string Argv) RunWithRecordingGit(PodSandbox pod, Dictionary<string, string>? env = null)
    {
        var bin = Path.Combine(_dir, "bin-recording");
        Directory.CreateDirectory(bin);
        var argvLog = Path.Combine(_dir, "argv-recording.log");
        File.WriteAllText(argvLog, "");
        var realGit = PodSandbox.Run(["sh", "-c", "command -v git"]).Output.Trim();
        var wrapper = Path.Combine(bin, "git");
        File.WriteAllText(wrapper, $"#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{argvLog}'\n"
                                   + "for a in \"$@\"; do [ \"$a\" = lfs ] && exit 0; done\n"
                                   + $"exec '{realGit}' \"$@\"\n");
        PodSandbox.Run(["chmod", "700", wrapper]);
        env = new Dictionary<string, string>(env ?? []) { ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH") };
        var (code, output) = pod.RunStage("get_sources", env);
        return (code, output, File.ReadAllText(argvLog));
    }

    /// <summary>Asks for Basic credentials, as GitLab does, and records what git sends; never serves a repository. With
    /// <see cref="RedirectTo"/>, every request is sent there instead.</summary>
    private sealed class BasicAuthServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _serving;
        private readonly List<string> _requests = [];
        private readonly List<string> _authorizations = [];

        public BasicAuthServer(string address)
        {
            for (var attempt = 1; ; attempt++)
            {
                using (var probe = new TcpListener(IPAddress.Parse(address), 0))
                {
                    probe.Start();
                    Url = $"http://{address}:{((IPEndPoint)probe.LocalEndpoint).Port}/";
                }

                _listener.Prefixes.Clear();
                _listener.Prefixes.Add(Url);
                try
                {
                    _listener.Start();
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                }
            }

            _serving = Task.Run(ServeAsync);
        }

        public string Url { get; private set; } = "";
        public string? RedirectTo { get; init; }

        public IReadOnlyList<string> Requests
        {
            get { lock (_requests) { return [.. _requests]; } }
        }

        public IReadOnlyList<string> Authorizations
        {
            get { lock (_requests) { return [.. _authorizations]; } }
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                lock (_requests)
                {
                    _requests.Add(context.Request.RawUrl ?? "");
                    if (context.Request.Headers["Authorization"] is { } authorization)
                    {
                        _authorizations.Add(authorization);
                    }
                }

                if (RedirectTo is not null)
                {
                    context.Response.Redirect(RedirectTo.TrimEnd('/') + context.Request.RawUrl);
                }
                else
                {
                    context.Response.StatusCode = 401;
                    context.Response.AddHeader("WWW-Authenticate", "Basic realm=\"GitLab\"");
                }

                context.Response.Close();
            }
        }

        public void Dispose()
        {
            try
            {
                _listener.Stop();
                _listener.Close();
            }
            catch (HttpListenerException)
            {
                // The managed HttpListener looks its endpoint up again on close and can fail to rebind a port that another
                // address of the test's pair holds; the listener is stopped either way, and the test's checks are done.
            }

            _serving.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
