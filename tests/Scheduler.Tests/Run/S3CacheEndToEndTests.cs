using Scheduler.Actors.Execution;
using Scheduler.Cache;
using Scheduler.Exec;
using Scheduler.FakeGitLab;
using Scheduler.Messages.Settings;
using Scheduler.Run;
using Scheduler.Scheduler.Tests.Cache;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Jobs from the fake GitLab on the embedded cluster sharing caches through a real S3 server: the runner signs the
/// URLs, the helper in the pod moves the archives.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class S3CacheEndToEndTests : RunHostTest, IClassFixture<S3ServerFixture>, IDisposable
{
    private readonly S3TestServer _s3;
    private readonly S3CacheUrlSource _urls = new();

    public S3CacheEndToEndTests(RunClusterFixture cluster, S3ServerFixture s3) : base(cluster)
    {
        _s3 = s3.Server;
        _s3.ClearRequests();
    }

    public void Dispose() => _urls.Dispose();

    [Fact]
    public async Task Jobs_share_a_cache_through_S3_a_pull_job_does_not_upload_and_a_fallback_key_is_used()
    {
        var token = GitLab.AddRunner();
        await using var host = StartCacheHost(Entry("r1", token) with { Cache = _s3.Settings() });

        var producer = GitLab.EnqueueJob(token, Job("mkdir -p vendor", "echo from-the-first-job > vendor/dep.txt")
            .Name("build").Cache("deps-main", ["vendor/"]));
        await WaitFinishedAsync(producer);
        AssertFinal(producer, "success");
        var objectName = $"runner/{CacheObjectName.ShortToken(token)}/project/1/deps-main";
        Assert.Equal([objectName], RunnerObjects(token));
        Assert.Single(await _s3.RequestsOnceAsync(r => r is { Method: "PUT", Status: 200 }), r => r is { Method: "PUT", Status: 200 });
        var producerTrace = producer.TraceText();
        Assert.Contains("Creating cache deps-main...", producerTrace);
        Assert.Contains("Uploaded cache.zip", producerTrace);
        Assert.Contains("Created cache", producerTrace);

        // A script can read the job Secret; what it prints of a URL is masked like any sensitive URL parameter.
        var puller = GitLab.EnqueueJob(token, Job("cat vendor/dep.txt", "cat /var/run/scheduler/job/cache-url.0; echo")
            .Name("test").Cache("deps-main", ["vendor/"], policy: "pull"));
        await WaitFinishedAsync(puller);
        AssertFinal(puller, "success");
        var pullerTrace = puller.TraceText();
        Assert.Contains("Checking cache for deps-main...", pullerTrace);
        Assert.Contains("Successfully extracted cache", pullerTrace);
        Assert.Contains("\nfrom-the-first-job\n", pullerTrace);
        Assert.DoesNotContain("Creating cache", pullerTrace);
        Assert.Contains("X-Amz-Signature=[MASKED]", pullerTrace, StringComparison.Ordinal);
        Assert.Single(await _s3.RequestsOnceAsync(r => r.Method == "PUT"), r => r.Method == "PUT");

        // The branch's own key has no cache yet: the fallback key's is restored.
        var branch = GitLab.EnqueueJob(token, Job("cat vendor/dep.txt").Name("branch")
            .Cache("deps-feature", ["vendor/"], policy: "pull", fallbackKeys: ["deps-main"]));
        await WaitFinishedAsync(branch);
        AssertFinal(branch, "success");
        var branchTrace = branch.TraceText();
        Assert.Contains("Checking cache for deps-feature...", branchTrace);
        Assert.Contains("WARNING: Failed to extract cache", branchTrace);
        Assert.Contains("Checking cache for deps-main...", branchTrace);
        Assert.Contains("\nfrom-the-first-job\n", branchTrace);
        Assert.Contains(await _s3.RequestsOnceAsync(r => r is { Method: "GET", Status: 404 } && r.Path.EndsWith("/deps-feature", StringComparison.Ordinal)),
            r => r is { Method: "GET", Status: 404 } && r.Path.EndsWith("/deps-feature", StringComparison.Ordinal));

        // The signatures never reach a trace.
        foreach (var trace in new[] { producerTrace, pullerTrace.Replace("X-Amz-Signature=[MASKED]", "", StringComparison.Ordinal), branchTrace })
        {
            Assert.DoesNotContain("X-Amz-Signature=", trace, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(S3TestServer.SecretKey + "/", trace, StringComparison.Ordinal);
        }

        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task An_archive_over_MaxUploadedArchiveSize_is_not_uploaded()
    {
        var token = GitLab.AddRunner();
        await using var host = StartCacheHost(Entry("r1", token) with { Cache = _s3.Settings(maxUploadedArchiveSize: 100) });

        var job = GitLab.EnqueueJob(token, Job("mkdir -p big", "head -c 4096 /dev/urandom > big/blob").Cache("large", ["big/"]));
        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        Assert.Matches(@"Cache archive size \(\d+\) is too big \(Limit is set to 100\)\. Cache will be stored only locally\.", job.TraceText());
        Assert.DoesNotContain(_s3.Requests, r => r.Method == "PUT");
        Assert.Empty(RunnerObjects(token));
    }

    // Each test's runner has its own token, so its objects are apart from other tests' in the shared bucket.
    private IEnumerable<string> RunnerObjects(string token) =>
        _s3.ObjectNames().Where(n => n.StartsWith($"runner/{CacheObjectName.ShortToken(token)}/", StringComparison.Ordinal));

    private RunHost StartCacheHost(RunnerEntry entry)
    {
        var helper = ExecHelper.ForThisProcess();
        var execution = new ExecutionOptions(Identity, helper) { Planner = new ScriptedJobPlanner(Identity, helper, _urls) };
        return RunHost.Start(Settings(1, entry), new RunHostOptions(ExecGateways.Create(Cluster.Server.ClientConfiguration()), execution, Http,
            Identity, "s_0123456789ab")
        {
            Metrics = Metrics,
            TraceUpdateInterval = TimeSpan.FromSeconds(1),
            AbortGrace = TimeSpan.FromSeconds(30),
        });
    }
}
