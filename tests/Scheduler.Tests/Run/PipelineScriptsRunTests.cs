using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Whole jobs from the fake GitLab on the embedded cluster that real pipelines rely on: bash syntax, CI_DEBUG_TRACE
/// with masking, submodules with relative URLs fetched over the fake's Git HTTP with the job token, the runner's
/// pre/post build scripts, CI_JOB_STATUS in after_script of a canceled job.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class PipelineScriptsRunTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task A_bash_only_script_succeeds()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job(
            "set -o pipefail",
            "if [[ \"$CI_JOB_NAME\" == te* ]]; then echo brackets-ok; fi",
            "items=(one two three); echo \"items=${#items[@]} second=${items[1]}\"",
            "echo \"upper=${CI_JOB_NAME^^}\""));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("\nbrackets-ok", trace);
        Assert.Contains("\nitems=3 second=two", trace);
        Assert.Contains("\nupper=TEST", trace);
    }

    [Fact]
    public async Task CI_DEBUG_TRACE_shows_the_traced_commands_with_masked_variables_still_masked()
    {
        const string secret = "hunter2-very-secret-value";
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("COPY=\"$MY_PASSWORD\"", "echo \"length ${#COPY}\"")
            .Variable("CI_DEBUG_TRACE", "true")
            .Variable("MY_PASSWORD", secret, masked: true, isPublic: false));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("CI_DEBUG_TRACE is enabled", trace);
        Assert.Contains("+ COPY=[MASKED]", trace);
        Assert.Contains("+ echo 'length 25'", trace);
        Assert.DoesNotContain(secret, trace);
    }

    [Fact]
    public async Task Debug_trace_disabled_refuses_CI_DEBUG_TRACE_with_GitLab_Runners_warning()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo plain").Variable("CI_DEBUG_TRACE", "true"));
        StartHost(Settings(1, Entry("r1", token) with { DebugTraceDisabled = true }));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("WARNING: CI_DEBUG_TRACE usage is disabled on this Runner", trace);
        Assert.DoesNotContain("+ echo plain", trace);
    }

    [Fact]
    public async Task A_submodule_with_a_relative_url_is_cloned_over_GitLabs_git_http_with_the_job_token()
    {
        var library = Commit(GitLab.Git.CreateRepository("test/library"), new() { ["lib.txt"] = "library-content\n" }, []);
        var sha = Commit(GitLab.Git.CreateRepository("test/project"), new()
        {
            ["README"] = "project-content\n",
            [".gitmodules"] = "[submodule \"vendor/library\"]\n\tpath = vendor/library\n\turl = ../library.git\n",
        }, [("vendor/library", library)]);
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, new FakeJobBuilder().Sha(sha).Variable("GIT_SUBMODULE_STRATEGY", "normal")
            .Script("cat README vendor/library/lib.txt"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains("Updating/initializing submodules...", trace);
        Assert.Contains("\nproject-content\nlibrary-content\n", trace);
        Assert.Contains(GitLab.Git.AuthorizedPaths, path => path.StartsWith("/test/library.git/", StringComparison.Ordinal));
        Assert.DoesNotContain(job.Token, trace);
    }

    [Fact]
    public async Task An_LFS_object_is_pulled_after_the_checkout_over_GitLabs_LFS_API()
    {
        // scripts/test.sh installs git-lfs (Debian) where it can; the helper here is this machine's git.
        Assert.True(Git(Path.GetTempPath(), "lfs", "version").Contains("git-lfs/", StringComparison.Ordinal),
            "git-lfs is not installed: install the Debian package git-lfs (scripts/test.sh does when it runs as root)");
        var pointer = GitLab.Git.AddLfsObject("test/project", "large-file-content\n"u8.ToArray());
        var sha = Commit(GitLab.Git.CreateRepository("test/project"), new()
        {
            [".gitattributes"] = "*.bin filter=lfs diff=lfs merge=lfs -text\n",
            ["data.bin"] = pointer,
        }, []);
        var token = GitLab.AddRunner();
        var skipped = GitLab.EnqueueJob(token, new FakeJobBuilder().Sha(sha).Variable("GIT_LFS_SKIP_SMUDGE", "1").Script("cat data.bin"));
        var pulled = GitLab.EnqueueJob(token, new FakeJobBuilder().Sha(sha).Variable("GIT_STRATEGY", "clone").Script("cat data.bin"));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(skipped);
        await WaitFinishedAsync(pulled);
        AssertFinal(skipped, "success");
        AssertFinal(pulled, "success");
        Assert.Contains("\nversion https://git-lfs.github.com/spec/v1", skipped.TraceText());
        Assert.Contains("\nlarge-file-content\n", pulled.TraceText());
        Assert.Contains(GitLab.Git.AuthorizedPaths, path => path.Contains("/gitlab-lfs/objects/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pre_and_post_build_scripts_run_in_order_around_the_script()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo order-2-script"));
        StartHost(Settings(1, Entry("r1", token) with { PreBuildScript = "echo order-1-pre", PostBuildScript = "echo order-3-post" }));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        var (pre, script, post) = (trace.IndexOf("\norder-1-pre", StringComparison.Ordinal), trace.IndexOf("\norder-2-script", StringComparison.Ordinal),
            trace.IndexOf("\norder-3-post", StringComparison.Ordinal));
        Assert.True(pre >= 0 && pre < script && script < post, trace);
    }

    [Fact]
    public async Task After_script_of_a_canceled_job_sees_CI_JOB_STATUS_canceled()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo started-sleeping", "sleep 60").AfterScript("echo \"status-is-$CI_JOB_STATUS\""));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitUntilAsync(() => job.TraceText().Contains("\nstarted-sleeping"), TimeSpan.FromSeconds(60), "the job to start");
        GitLab.CancelJob(job.Id);

        await WaitFinishedAsync(job, seconds: 45);
        AssertFinal(job, "canceled", "unknown_failure");
        Assert.Contains("\nstatus-is-canceled", job.TraceText());
    }

    [Fact]
    public async Task A_self_signed_GitLab_is_reached_with_tls_ca_file_by_the_runner_git_and_the_helper()
    {
        using var certificates = new global::Scheduler.Scheduler.Tests.Fleet.TestCertificates("self-managed GitLab CA");
        var (certificatePath, keyPath, _) = certificates.Issue("gitlab");
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        using var serving = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        await using var gitLab = await FakeGitLabServer.StartHttpsAsync(serving);
        var sha = Commit(gitLab.Git.CreateRepository("test/project"), new() { ["README"] = "over-https\n" }, []);
        var token = gitLab.AddRunner();
        var job = gitLab.EnqueueJob(token, new FakeJobBuilder().Sha(sha)
            .Script("cat README", "echo made >made.txt")
            .Artifact("made", ["made.txt"]));
        StartHost(Settings(1, Entry("r1", token) with { Url = gitLab.Url, TlsCaFile = certificates.CaPath,
            TlsCaCertificates = File.ReadAllText(certificates.CaPath) }));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        Assert.StartsWith("https://", gitLab.Url, StringComparison.Ordinal);
        Assert.Contains("\nover-https\n", job.TraceText());
        Assert.Contains(job.Artifacts, artifact => artifact.Type == "archive");
    }

    // Commits the files (and gitlinks) to a new history and pushes it to the bare repository; returns the commit.
    private static string Commit(string bare, Dictionary<string, string> files, (string Path, string Sha)[] gitlinks)
    {
        var work = Directory.CreateTempSubdirectory("fake-gitlab-work-").FullName;
        try
        {
            Git(work, "init", "-q", "-b", "main");
            foreach (var (file, content) in files)
            {
                File.WriteAllText(Path.Combine(work, file), content);
                Git(work, "add", file);
            }

            foreach (var (path, sha) in gitlinks)
            {
                Git(work, "update-index", "--add", "--cacheinfo", $"160000,{sha},{path}");
            }

            Git(work, "commit", "-q", "-m", "content");
            Git(work, "push", "-q", bare, "main");
            return Git(work, "rev-parse", "HEAD").Trim();
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Git(string cwd, params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        // The test's own commits store files as they are (an LFS pointer included): no LFS filter or hook of this machine's.
        foreach (var arg in (string[])["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "filter.lfs.clean=", "-c", "filter.lfs.smudge=",
                     "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false", "-c", "core.hooksPath=/dev/null", .. args])
        {
            start.ArgumentList.Add(arg);
        }

        using var git = Process.Start(start)!;
        var output = git.StandardOutput.ReadToEnd() + git.StandardError.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git {string.Join(' ', args)}: {output}");
        return output;
    }
}
