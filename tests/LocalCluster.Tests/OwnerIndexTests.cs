using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Tests;

/// <summary>The store's index of dependents by owner, which garbage collection reads instead of scanning every object.</summary>
public sealed class OwnerIndexTests
{
    private static JsonObject Obj(string name, params string[] ownerUids) => new()
    {
        ["metadata"] = new JsonObject
        {
            ["name"] = name,
            ["ownerReferences"] = ownerUids.Length == 0 ? null : new JsonArray(ownerUids.Select(uid => (JsonNode)new JsonObject { ["uid"] = uid, ["kind"] = "Pod", ["name"] = "p" }).ToArray()),
        },
    };

    private static JsonObject WithOwners(JsonObject obj, params string[] ownerUids)
    {
        ObjectStore.Meta(obj)["ownerReferences"] = ownerUids.Length == 0 ? null
            : new JsonArray(ownerUids.Select(uid => (JsonNode)new JsonObject { ["uid"] = uid, ["kind"] = "Pod", ["name"] = "p" }).ToArray());
        return obj;
    }

    [Fact]
    public void Dependents_follow_creates_updates_and_removals()
    {
        var store = new ObjectStore(100);
        store.Create(ResourceKind.Secrets, "ns", Obj("token", "pod-a"));
        store.Create(ResourceKind.ConfigMaps, "ns", Obj("scripts", "pod-a", "pod-b"));
        store.Create(ResourceKind.Secrets, "other", Obj("shared", "pod-b"));
        store.Create(ResourceKind.Secrets, "ns", Obj("free"));

        Assert.Equal([(ResourceKind.ConfigMaps, "ns", "scripts"), (ResourceKind.Secrets, "ns", "token")], Sorted(store.OwnedBy("pod-a")));
        Assert.Equal([(ResourceKind.ConfigMaps, "ns", "scripts"), (ResourceKind.Secrets, "other", "shared")], Sorted(store.OwnedBy("pod-b")));
        Assert.Empty(store.OwnedBy("pod-c"));

        // An owner taken away by an update, another given.
        store.Update(ResourceKind.ConfigMaps, "ns", "scripts", obj => WithOwners(obj, "pod-c"));
        Assert.Equal([(ResourceKind.Secrets, "ns", "token")], Sorted(store.OwnedBy("pod-a")));
        Assert.Equal([(ResourceKind.Secrets, "other", "shared")], Sorted(store.OwnedBy("pod-b")));
        Assert.Equal([(ResourceKind.ConfigMaps, "ns", "scripts")], Sorted(store.OwnedBy("pod-c")));

        store.Remove(ResourceKind.Secrets, "ns", "token");
        Assert.Empty(store.OwnedBy("pod-a"));

        // A new object under a removed one's name starts with its own owners only.
        store.Create(ResourceKind.Secrets, "ns", Obj("token", "pod-d"));
        Assert.Empty(store.OwnedBy("pod-a"));
        Assert.Equal([(ResourceKind.Secrets, "ns", "token")], Sorted(store.OwnedBy("pod-d")));
    }

    [Fact]
    public async Task Next_change_completes_on_a_change_of_its_kind_only()
    {
        var store = new ObjectStore(100);
        var secrets = store.NextChange(ResourceKind.Secrets);
        var config = store.NextChange(ResourceKind.Secrets, ResourceKind.ConfigMaps);
        // Waiters of the same kinds share one task: a pod that asks and finds what it needs leaves nothing behind.
        Assert.Same(secrets, store.NextChange(ResourceKind.Secrets));

        store.Create(ResourceKind.ConfigMaps, "ns", Obj("cm"));
        Assert.False(secrets.IsCompleted);
        await config.WaitAsync(TimeSpan.FromSeconds(5));

        store.Create(ResourceKind.Secrets, "ns", Obj("s"));
        await secrets.WaitAsync(TimeSpan.FromSeconds(5));

        // A new wait is for the next change, not the one already seen.
        var next = store.NextChange(ResourceKind.Secrets);
        Assert.False(next.IsCompleted);
        store.Remove(ResourceKind.Secrets, "ns", "s");
        await next.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static List<(ResourceKind, string, string)> Sorted(IEnumerable<(ResourceKind Kind, string Namespace, string Name)> owned) =>
        owned.OrderBy(o => o.Kind.Plural, StringComparer.Ordinal).ThenBy(o => o.Namespace, StringComparer.Ordinal).ThenBy(o => o.Name, StringComparer.Ordinal)
            .Select(o => (o.Kind, o.Namespace, o.Name)).ToList();
}
