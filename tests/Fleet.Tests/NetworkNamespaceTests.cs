using Scheduler.Fleet.Tests.Harness;
using static Scheduler.Fleet.Tests.JobAssertions;

namespace Scheduler.Fleet.Tests;

/// <summary>The partition harness on its own: a node inside a network namespace reaches GitLab and the cluster through the
/// veth, a partition cuts it off both ways, and healing brings it back.</summary>
public sealed class NetworkNamespaceTests
{
    [Fact]
    public async Task A_node_in_a_network_namespace_runs_jobs_and_a_partition_cuts_it_off_until_healed()
    {
        using var ns = NetworkNamespace.Create();
        await using var harness = await FleetHarness.StartAsync("netns", ns);
        var node = await harness.StartNodeAsync(harness.NodeSettings("inside", concurrent: 1, inNamespace: true), inNamespace: true);
        Assert.Equal(ns.InnerAddress.ToString(), node.ListenUrl.Host);

        var before = harness.Enqueue(FleetHarness.Job("before", "echo reached-from-the-namespace"));
        await harness.WaitFinishedAsync([before], TimeSpan.FromSeconds(60));
        AssertFinal(before, "success");
        Assert.Contains("reached-from-the-namespace", Lines(before.TraceText()));

        ns.Partition();
        await harness.WaitUntilAsync(async () => !await IsReachableAsync(node.ListenUrl), TimeSpan.FromSeconds(20),
            () => "the node to be unreachable from the host");

        ns.Heal();
        await harness.WaitUntilAsync(() => IsReachableAsync(node.ListenUrl), TimeSpan.FromSeconds(20),
            () => "the node to be reachable again");
        var after = harness.Enqueue(FleetHarness.Job("after", "echo back-after-healing"));
        await harness.WaitFinishedAsync([after], TimeSpan.FromSeconds(60));
        AssertFinal(after, "success");
        Assert.Contains("back-after-healing", Lines(after.TraceText()));
    }

    private static async Task<bool> IsReachableAsync(Uri listenUrl)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            using var response = await http.GetAsync(new Uri(listenUrl, "health"));
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
