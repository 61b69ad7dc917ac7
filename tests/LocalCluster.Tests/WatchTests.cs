using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

public sealed class WatchTests
{
    private static async Task<List<(WatchEventType Type, V1Pod Pod)>> Collect(
        IAsyncEnumerable<(WatchEventType, V1Pod)> watch, int count, CancellationToken ct)
    {
        var events = new List<(WatchEventType, V1Pod)>();
        await foreach (var e in watch.WithCancellation(ct))
        {
            events.Add(e);
            if (events.Count == count) break;
        }
        return events;
    }

    [Fact]
    public async Task Watch_sends_added_modified_deleted_in_order()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var initial = await cluster.Client.CoreV1.ListNamespacedPodAsync("default");
        var watching = Collect(cluster.Client.CoreV1.WatchListNamespacedPodAsync("default",
            resourceVersion: initial.Metadata.ResourceVersion, cancellationToken: timeout.Token), 4, timeout.Token);

        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await cluster.Client.CoreV1.PatchNamespacedPodAsync(new V1Patch("""{"metadata":{"labels":{"x":"1"}}}""", V1Patch.PatchType.MergePatch), "p", "default");
        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("p", "default");

        var events = await watching;
        Assert.Equal([WatchEventType.Added, WatchEventType.Modified, WatchEventType.Modified, WatchEventType.Deleted], events.Select(e => e.Type));
        Assert.Equal("1", events[1].Pod.Metadata.Labels["x"]);
        Assert.NotNull(events[2].Pod.Metadata.DeletionTimestamp);
        var versions = events.Select(e => long.Parse(e.Pod.Metadata.ResourceVersion)).ToList();
        Assert.Equal(versions.Order(), versions);
    }

    [Fact]
    public async Task Watch_from_a_version_replays_only_later_changes()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("before"), "default");
        var mark = (await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Metadata.ResourceVersion;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("after-1"), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("after-2"), "default");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = await Collect(cluster.Client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: mark, cancellationToken: timeout.Token), 2, timeout.Token);
        Assert.Equal(["after-1", "after-2"], events.Select(e => e.Pod.Metadata.Name));
    }

    [Fact]
    public async Task Watch_without_a_version_starts_with_the_current_objects()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("a"), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("b"), "default");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = await Collect(cluster.Client.CoreV1.WatchListNamespacedPodAsync("default", cancellationToken: timeout.Token), 2, timeout.Token);
        Assert.All(events, e => Assert.Equal(WatchEventType.Added, e.Type));
        Assert.Equal(["a", "b"], events.Select(e => e.Pod.Metadata.Name));
    }

    [Fact]
    public async Task Watch_from_a_compacted_version_is_Expired_410()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with { WatchHistorySize = 3 });
        using var http = cluster.Http();
        for (var i = 0; i < 5; i++)
            await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"c{i}" } }, "default");

        var body = await http.GetStringAsync("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=5");
        var line = JsonNode.Parse(body.Split('\n')[0])!;
        Assert.Equal("ERROR", (string?)line["type"]);
        Assert.Equal(410, (int)line["object"]!["code"]!);
        Assert.Equal("Expired", (string?)line["object"]!["reason"]);
        Assert.StartsWith("too old resource version: 1", (string?)line["object"]!["message"]);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Exception? surfaced = null;
        await foreach (var _ in cluster.Client.CoreV1.WatchListNamespacedConfigMapAsync("default", resourceVersion: "1",
                           onError: e => surfaced = e, cancellationToken: timeout.Token))
        {
            Assert.Fail("no event is expected from an expired version");
        }
        var kubeError = Assert.IsType<KubernetesException>(surfaced);
        Assert.Equal(410, kubeError.Status.Code);
    }

    [Fact]
    public async Task Watch_ends_at_timeoutSeconds_and_sends_bookmarks_when_allowed()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with { BookmarkInterval = TimeSpan.FromMilliseconds(200) });
        using var http = cluster.Http();
        var started = DateTime.UtcNow;
        // Two seconds of watch for bookmarks every 200 ms: room for a loaded machine to send at least one.
        var body = await http.GetStringAsync("/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=0");
        var elapsed = DateTime.UtcNow - started;

        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(1900), TimeSpan.FromSeconds(8));
        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Equal("BOOKMARK", (string?)l["type"]));
        Assert.All(lines, l => Assert.Equal("Pod", (string?)l["object"]!["kind"]));
        Assert.All(lines, l => Assert.False(string.IsNullOrEmpty((string?)l["object"]!["metadata"]!["resourceVersion"])));
    }

    [Fact]
    public async Task Watch_with_a_selector_sees_objects_leave_and_enter_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p", new Dictionary<string, string> { ["job"] = "1" }), "default");
        var mark = (await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Metadata.ResourceVersion;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var watching = Collect(cluster.Client.CoreV1.WatchListNamespacedPodAsync("default", labelSelector: "job=1",
            resourceVersion: mark, cancellationToken: timeout.Token), 2, timeout.Token);

        await cluster.Client.CoreV1.PatchNamespacedPodAsync(new V1Patch("""{"metadata":{"labels":{"job":"2"}}}""", V1Patch.PatchType.MergePatch), "p", "default");
        await cluster.Client.CoreV1.PatchNamespacedPodAsync(new V1Patch("""{"metadata":{"labels":{"job":"1"}}}""", V1Patch.PatchType.MergePatch), "p", "default");

        var events = await watching;
        Assert.Equal([WatchEventType.Deleted, WatchEventType.Added], events.Select(e => e.Type));
    }

    [Fact]
    public async Task Legacy_watch_path_and_field_selector_follow_one_pod()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("other"), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("mine"), "default");
        using var http = cluster.Http();

        var legacy = await http.GetStringAsync("/api/v1/watch/namespaces/default/pods/mine?timeoutSeconds=1");
        var names = legacy.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => (string?)JsonNode.Parse(l)!["object"]!["metadata"]!["name"]).ToList();
        Assert.Equal(["mine"], names);

        var bySelector = await http.GetStringAsync("/api/v1/watch/namespaces/default/pods?fieldSelector=metadata.name%3Dother&timeoutSeconds=1");
        Assert.Single(bySelector.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\"other\"", bySelector);
    }

    [Fact]
    public async Task Watch_shows_the_runtime_moving_a_pod_to_Running()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var mark = (await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Metadata.ResourceVersion;
        var watching = Task.Run(async () =>
        {
            var phases = new List<string>();
            await foreach (var (_, pod) in cluster.Client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: mark, cancellationToken: timeout.Token))
            {
                phases.Add(pod.Status.Phase + (pod.Spec.NodeName is null ? "" : "@" + pod.Spec.NodeName));
                if (pod.Status.Phase == "Running") return phases;
            }
            return phases;
        });
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        var phases = await watching;
        Assert.Equal(["Pending", "Pending@local-node", "Running@local-node"], phases);
    }
}
