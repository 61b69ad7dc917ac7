using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>The pod-shaping keywords of config.toml that the embedded cluster honours, through whole jobs: node affinity
/// against the node's labels (a term no node matches leaves the pod unscheduled and the job fails naming why), and
/// host_aliases written into the pod's /etc/hosts.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class SchedulingKeywordsRunTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    private static AffinitySettings RequiredNodeLabel(string key, string value) =>
        new(new NodeAffinitySettings([new NodeSelectorTermSettings([new SelectorRequirementSettings(key, "In", [value])], [])], []), null, null);

    [Fact]
    public async Task A_job_with_node_affinity_to_the_nodes_labels_runs()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo scheduled"));
        var entry = Entry("r1", token);
        var host = StartHost(Settings(1, entry with { Kubernetes = entry.Kubernetes with { Affinity = RequiredNodeLabel("kubernetes.io/os", "linux") } }));
        Assert.Empty(host.Problems);

        await WaitFinishedAsync(job);

        AssertFinal(job, "success");
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_job_whose_node_affinity_matches_no_node_fails_with_the_scheduling_event()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("echo never"));
        var entry = Entry("r1", token);
        StartHost(Settings(1, entry with
        {
            Kubernetes = entry.Kubernetes with { Affinity = RequiredNodeLabel("kubernetes.io/os", "windows"), PollInterval = 1, PollTimeout = 3 },
        }));

        await WaitFinishedAsync(job);

        AssertFinal(job, "failed", "runner_system_failure");
        Assert.DoesNotContain("never\n", job.TraceText());
        Assert.True(job.TraceText().Contains("didn't match Pod's node affinity/selector", StringComparison.Ordinal), job.TraceText());
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task Host_aliases_of_config_toml_are_in_the_pods_etc_hosts()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("grep registry.internal /etc/hosts"));
        var entry = Entry("r1", token);
        StartHost(Settings(1, entry with
        {
            Kubernetes = entry.Kubernetes with { HostAliases = [new HostAliasSettings("10.1.2.3", ["registry.internal", "cache.internal"])] },
        }));

        await WaitFinishedAsync(job);

        AssertFinal(job, "success");
        Assert.Contains("10.1.2.3\tregistry.internal\tcache.internal", job.TraceText());
        await AssertNoPodLeftAsync();
    }
}
