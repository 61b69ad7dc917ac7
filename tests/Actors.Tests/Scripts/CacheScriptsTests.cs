using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>The cache stages as GitLab Runner writes them: key sanitizing, fallback keys, policies, and the distributed
/// cache's pre-signed URLs, which go into the job Secret and never into a script.</summary>
public sealed class CacheScriptsTests
{
    private const string Get = "https://s3.example.com/bucket/obj?X-Amz-Signature=get-signature-value";
    private const string Put = "https://s3.example.com/bucket/obj?X-Amz-Signature=put-signature-value";

    [Theory]
    [InlineData("deps", "deps", false)]
    [InlineData("a/b", "a/b", false)]
    [InlineData("a%2Fb", "a/b", true)]
    [InlineData("a%2fb", "a/b", true)]
    [InlineData("a\\b", "a/b", true)]
    [InlineData("../../etc/passwd", "etc/passwd", true)]
    [InlineData("%2e%2e/%2E%2E/x", "x", true)]
    [InlineData("/abs/key", "abs/key", true)]
    [InlineData("key  ", "key", true)]
    [InlineData("a/ / ", "a", true)]
    [InlineData("a/./b", "a/b", true)]
    [InlineData("..", null, true)]
    [InlineData("  ", null, true)]
    [InlineData("", null, false)]
    public void Cache_keys_are_sanitized_as_GitLab_Runner_does(string raw, string? expected, bool warns)
    {
        var (key, warning) = ScriptContext.SanitizeCacheKey(raw);
        Assert.Equal(expected, key);
        Assert.Equal(warns, warning is not null);
    }

    [Fact]
    public void A_restore_tries_the_key_then_fallback_keys_then_CACHE_FALLBACK_KEY_in_that_order()
    {
        var job = Job([new JobCache { Key = "deps-$CI_COMMIT_REF_NAME", Paths = ["vendor"], FallbackKeys = ["deps-$BASE", "deps-protected"] }],
            TestData.Public("BASE", "develop"), TestData.Public("CACHE_FALLBACK_KEY", "deps-global"));
        var script = Build(job).Find(JobScripts.RestoreCache)!.Script;

        var order = new[] { "deps-main", "deps-develop", "deps-protected", "deps-global" }
            .Select(k => script.IndexOf($"printf 'Checking cache for %s...\\n' '{k}'", StringComparison.Ordinal)).ToList();
        Assert.All(order, index => Assert.True(index >= 0, script));
        Assert.Equal(order.Order().ToList(), order);
        // Each next key runs only when the one before failed: nested in its else branch.
        Assert.Equal(4, CountOf(script, "echo \"WARNING: Failed to extract cache\""));
    }

    [Fact]
    public void CACHE_FALLBACK_KEY_may_not_name_a_protected_cache()
    {
        var job = Job([new JobCache { Key = "k", Paths = ["p"] }], TestData.Public("CACHE_FALLBACK_KEY", "main-protected"));
        var script = Build(job).Find(JobScripts.RestoreCache)!.Script;

        Assert.Contains("WARNING: CACHE_FALLBACK_KEY \"main-protected\" not allowed to end in \"-protected\"", script, StringComparison.Ordinal);
        Assert.DoesNotContain("Checking cache for %s...\\n' 'main-protected'", script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pull", true, false)]
    [InlineData("push", false, true)]
    [InlineData("pull-push", true, true)]
    [InlineData("", true, true)]
    [InlineData("$CACHE_POLICY", false, true)]
    public void The_policy_decides_which_cache_stages_run(string policy, bool restores, bool archives)
    {
        var job = Job([new JobCache { Key = "k", Paths = ["p"], Policy = policy }], TestData.Public("CACHE_POLICY", "push"));
        var plan = Build(job);
        Assert.Equal(restores, plan.Find(JobScripts.RestoreCache) is not null);
        Assert.Equal(archives, plan.Find(JobScripts.ArchiveCache) is not null);
    }

    [Fact]
    public void An_unknown_policy_refuses_the_scripts()
    {
        var job = Job([new JobCache { Key = "k", Paths = ["p"], Policy = "sometimes" }]);
        var error = Assert.Throws<ArgumentException>(() => Build(job));
        Assert.Contains("unknown cache policy \"sometimes\"", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("on_success", true, false)]
    [InlineData("on_failure", false, true)]
    [InlineData("always", true, true)]
    public void Cache_when_picks_the_archive_stages(string when, bool onSuccess, bool onFailure)
    {
        var plan = Build(Job([new JobCache { Key = "k", Paths = ["p"], When = when }]));
        Assert.Equal(onSuccess, plan.Find(JobScripts.ArchiveCache) is not null);
        Assert.Equal(onFailure, plan.Find(JobScripts.ArchiveCacheOnFailure) is not null);
    }

    [Fact]
    public void A_cache_without_paths_or_untracked_has_no_stages()
    {
        var plan = Build(Job([new JobCache { Key = "k" }]));
        Assert.Null(plan.Find(JobScripts.RestoreCache));
        Assert.Null(plan.Find(JobScripts.ArchiveCache));
    }

    [Fact]
    public void Pre_signed_URLs_go_into_the_job_Secret_and_never_into_a_script()
    {
        var source = new FakeUrls();
        var runner = TestData.Runner() with { Cache = new CacheSettings { Type = "s3", MaxUploadedArchiveSize = 5000 } };
        var job = Job([new JobCache { Key = "deps", Paths = ["vendor"], When = "always", FallbackKeys = ["base"] }]);
        var plan = JobScripts.Build(job, runner, 0, TestData.Identity, Options(source));

        // One download URL per key tried, one upload URL for the key, whatever the number of stages using them.
        Assert.Equal(["deps", "base"], source.Asked.Distinct());
        Assert.Equal(3, plan.CacheUrls.Count);
        Assert.Equal(new[] { Get + "&k=base", Get + "&k=deps", Put + "&k=deps" }, plan.CacheUrls.Values.Order(StringComparer.Ordinal));
        var restore = plan.Find(JobScripts.RestoreCache)!.Script;
        var archive = plan.Find(JobScripts.ArchiveCache)!.Script;
        var uploadKey = plan.CacheUrls.Single(u => u.Value.StartsWith(Put, StringComparison.Ordinal)).Key;
        Assert.Contains($"'--url-file' '{JobSecretLayout.MountPath}/cache-url.0' '--timeout' '10' '--file'", restore, StringComparison.Ordinal);
        Assert.Contains($"'--url-file' '{JobSecretLayout.MountPath}/{uploadKey}'", archive, StringComparison.Ordinal);
        Assert.Contains($"'--url-file' '{JobSecretLayout.MountPath}/{uploadKey}'", plan.Find(JobScripts.ArchiveCacheOnFailure)!.Script, StringComparison.Ordinal);
        Assert.Contains("'--max-uploaded-archive-size' '5000'", archive, StringComparison.Ordinal);
        foreach (var text in plan.Stages.Select(s => s.Script).Append(plan.VariablesScript).Append(plan.ToString()))
        {
            Assert.DoesNotContain("signature-value", text, StringComparison.Ordinal);
        }

        var pod = PodBuilder.Build(runner, job, 0, TestData.Identity, plan, () => TestData.Suffix).Plan;
        Assert.NotNull(pod);
        foreach (var (key, url) in plan.CacheUrls)
        {
            Assert.Equal(url, Encoding.UTF8.GetString(pod.JobSecret.Data[key]));
        }

        // Neither the pod's env, labels nor annotations carry them.
        var podText = k8s.KubernetesJson.Serialize(pod.Pod);
        Assert.DoesNotContain("signature-value", podText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("25", "25")]
    [InlineData("", "10")]
    [InlineData("soon", "10")]
    [InlineData("-3", "10")]
    public void CACHE_REQUEST_TIMEOUT_bounds_each_transfer_in_minutes(string value, string expected)
    {
        var job = Job([new JobCache { Key = "k", Paths = ["p"] }], TestData.Public("CACHE_REQUEST_TIMEOUT", value));
        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, Options(new FakeUrls()));
        Assert.Contains($"'--timeout' '{expected}'", plan.Find(JobScripts.RestoreCache)!.Script, StringComparison.Ordinal);
        Assert.Contains($"'--timeout' '{expected}'", plan.Find(JobScripts.ArchiveCache)!.Script, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_distributed_cache_the_helper_gets_no_URL_and_no_size_limit()
    {
        var runner = TestData.Runner() with { Cache = new CacheSettings { Type = "gcs", MaxUploadedArchiveSize = 5000 } };
        var plan = JobScripts.Build(Job([new JobCache { Key = "k", Paths = ["p"] }]), runner, 0, TestData.Identity, Options(new FakeUrls(enabled: false)));
        Assert.Empty(plan.CacheUrls);
        Assert.DoesNotContain("--url", plan.Find(JobScripts.ArchiveCache)!.Script, StringComparison.Ordinal);
        Assert.DoesNotContain("--max-uploaded-archive-size", plan.Find(JobScripts.ArchiveCache)!.Script, StringComparison.Ordinal);
    }

    [Fact]
    public void A_signing_failure_is_a_warning_in_the_trace_and_the_cache_stays_local()
    {
        var plan = JobScripts.Build(Job([new JobCache { Key = "k", Paths = ["p"] }]), TestData.Runner(), 0, TestData.Identity,
            Options(new FakeUrls(warning: "no credentials")));
        var restore = plan.Find(JobScripts.RestoreCache)!.Script;
        Assert.Contains("echo 'WARNING: no credentials'", restore, StringComparison.Ordinal);
        Assert.Contains("'cache-extractor' '--file'", restore, StringComparison.Ordinal);
        Assert.Empty(plan.CacheUrls);
    }

    private static JobPayload Job(IReadOnlyList<JobCache> caches, params JobVariable[] variables) =>
        TestData.Job(variables: variables) with { Steps = [new JobStep { Name = "script", Script = ["echo hi"] }], Cache = caches };

    private static ScriptOptions Options(ICacheUrlSource? source = null) =>
        new(HelperInvocation.Default, "/builds", "/cache") { CacheUrls = source };

    private static JobScriptPlan Build(JobPayload job) => JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, Options());

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var index = text.IndexOf(part, StringComparison.Ordinal); index >= 0; index = text.IndexOf(part, index + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private sealed class FakeUrls(bool enabled = true, string? warning = null) : ICacheUrlSource
    {
        public List<string> Asked { get; } = [];

        public CacheObjectUrls? For(RunnerEntry runner, JobPayload job, string key)
        {
            Asked.Add(key);
            if (warning is not null)
            {
                return new CacheObjectUrls(null, null, warning);
            }

            return enabled ? new CacheObjectUrls(Get + "&k=" + key, Put + "&k=" + key) : null;
        }
    }
}
