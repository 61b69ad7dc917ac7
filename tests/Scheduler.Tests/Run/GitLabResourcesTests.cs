using k8s;
using k8s.Models;
using Scheduler.FakeGitLab;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Per-job resource overwrites on the embedded cluster: within the caps the pod gets them, above a cap the job is
/// refused before any pod is made, with GitLab Runner's reason.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class GitLabResourcesTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    private RunnerEntry CappedEntry(string token)
    {
        var entry = Entry("r1", token);
        return entry with
        {
            Kubernetes = entry.Kubernetes with
            {
                CpuLimit = "1",
                Resources = new Dictionary<string, string>
                {
                    ["cpu_limit_overwrite_max_allowed"] = "2",
                    ["ephemeral_storage_limit"] = "1Gi",
                    ["ephemeral_storage_limit_overwrite_max_allowed"] = "2Gi",
                    ["pod_memory_limit"] = "1Gi",
                },
            },
        };
    }

    [Fact]
    public async Task Overwrites_within_the_caps_reach_the_pod_and_above_a_cap_refuse_the_job()
    {
        var token = GitLab.AddRunner();
        var within = GitLab.EnqueueJob(token, Job("sleep 2", "echo within-ran")
            .Variable("KUBERNETES_CPU_LIMIT", "1500m").Variable("KUBERNETES_EPHEMERAL_STORAGE_LIMIT", "2Gi"));
        StartHost(Settings(1, CappedEntry(token)));

        var seen = await PodWhileRunningAsync(within);
        await WaitFinishedAsync(within);
        AssertFinal(within, "success");
        var build = seen?.Spec.Containers.Single(c => c.Name == "build").Resources;
        Assert.Equal(("1500m", "2Gi"), (build?.Limits["cpu"].ToString(), build?.Limits["ephemeral-storage"].ToString()));
        Assert.Equal("1Gi", seen?.Spec.Resources?.Limits["memory"].ToString());

        var above = GitLab.EnqueueJob(token, Job("echo above-must-not-run").Variable("KUBERNETES_CPU_LIMIT", "3"));
        await WaitFinishedAsync(above);
        Assert.Equal("failed", above.Status);
        var trace = above.TraceText();
        Assert.Contains("invalid build limits specified: the resource \"CPULimit\" requested \"3\" is higher than limit allowed \"2\"", trace);
        Assert.DoesNotContain("\nabove-must-not-run", trace);
        await AssertNoPodLeftAsync();
    }

    // The job's pod is gone when the job ends: read it while the script sleeps.
    private async Task<V1Pod?> PodWhileRunningAsync(FakeJob job)
    {
        using var client = new k8s.Kubernetes(Cluster.Server.ClientConfiguration());
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !job.IsFinished)
        {
            var pods = (await client.CoreV1.ListNamespacedPodAsync("default")).Items;
            if (pods.FirstOrDefault() is { } pod)
            {
                return pod;
            }

            await Task.Delay(100);
        }

        return null;
    }
}
