using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

// Deleting objects: grace periods, finalizers, propagation and garbage collection.
internal sealed partial class Cluster
{
    /// <summary>
    /// Deletes an object. Pods and namespaces terminate gracefully (the object stays, with deletionTimestamp, until
    /// the runtime has killed the pod) and are returned; other kinds go at once and a Status is returned.
    /// </summary>
    public JsonObject Delete(ResourceKind kind, string? ns, string name, DeleteRequest request)
    {
        var current = Get(kind, ns, name);
        var meta = ObjectStore.Meta(current);
        var uid = JsonText.Str(meta["uid"]) ?? "";
        if (request.PreconditionUid is { Length: > 0 } wantUid && wantUid != uid)
            throw new ApiException(409, "Conflict",
                $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": Precondition failed: UID in precondition: {wantUid}, UID in object meta: {uid}");
        if (request.PreconditionResourceVersion is { Length: > 0 } wantVersion && wantVersion != JsonText.Str(meta["resourceVersion"]))
            throw new ApiException(409, "Conflict",
                $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": Precondition failed: ResourceVersion in precondition: {wantVersion}, ResourceVersion in object meta: {JsonText.Str(meta["resourceVersion"])}");
        if (kind == ResourceKind.Nodes) throw ApiException.MethodNotAllowed("DELETE");
        if (request.DryRun) return kind == ResourceKind.Pods || kind == ResourceKind.Namespaces ? current : SuccessStatus(kind, name, uid);

        if (kind == ResourceKind.Pods)
        {
            var grace = Math.Max(0, request.GracePeriodSeconds ?? (long?)current["spec"]?["terminationGracePeriodSeconds"] ?? 30);
            var start = false;
            var shorten = false;
            // Decided under the store lock, so concurrent deletes start one termination (a shorter grace re-kills, as kube).
            var marked = Store.Update(kind, ns!, name, pod =>
            {
                var podMeta = ObjectStore.Meta(pod);
                if (JsonText.Str(podMeta["uid"]) != uid) throw ApiException.NotFound(kind, name);
                var previousGrace = (long?)podMeta["deletionGracePeriodSeconds"];
                if (podMeta["deletionTimestamp"] is not null && (previousGrace is null || grace >= previousGrace)) return pod;
                start = podMeta["deletionTimestamp"] is null;
                shorten = !start;
                podMeta["deletionTimestamp"] = DateTimeOffset.UtcNow.AddSeconds(grace).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                podMeta["deletionGracePeriodSeconds"] = grace;
                return pod;
            });
            if (start)
            {
                var orphan = request.PropagationPolicy == "Orphan";
                _terminations[uid] = Task.Run(() => TerminatePodAsync(ns!, name, uid, grace, orphan));
            }
            else if (shorten)
            {
                _ = Task.Run(() => ShortenGraceAsync(ns!, name, uid, grace));
            }
            return marked;
        }
        if (kind == ResourceKind.Namespaces)
        {
            if (name is "default" or "kube-system" or "kube-public")
                throw new ApiException(403, "Forbidden", $"namespaces \"{name}\" is forbidden: this namespace may not be deleted");
            if (meta["deletionTimestamp"] is not null) return current;
            var marked = Store.Update(kind, "", name, nsObject =>
            {
                ObjectStore.Meta(nsObject)["deletionTimestamp"] = ObjectStore.Now();
                nsObject["status"] = new JsonObject { ["phase"] = "Terminating" };
                return nsObject;
            });
            _terminations[uid] = Task.Run(() => TerminateNamespaceAsync(name, uid));
            return marked;
        }
        Store.Remove(kind, ns ?? "", name, uid);
        if (request.PropagationPolicy != "Orphan") CollectGarbage(uid);
        return SuccessStatus(kind, name, uid);
    }

    private static JsonObject SuccessStatus(ResourceKind kind, string name, string uid) => new()
    {
        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Success",
        ["details"] = new JsonObject { ["name"] = name, ["kind"] = kind.Plural, ["uid"] = uid },
    };

    private async Task ShortenGraceAsync(string ns, string name, string uid, long grace)
    {
        try
        {
            await Runtime.KillPodAsync(ns, name, uid, grace).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The first termination still removes the object; only the faster kill failed.
            RecordEvent(new V1ObjectReference { Kind = "Pod", NamespaceProperty = ns, Name = name, Uid = uid, ApiVersion = "v1" },
                "Warning", "FailedKillPod", $"error killing pod: {e.Message}");
        }
    }

    private async Task TerminatePodAsync(string ns, string name, string uid, long grace, bool orphan)
    {
        try
        {
            await Runtime.KillPodAsync(ns, name, uid, grace).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The object must not stay forever: record why and remove it anyway.
            RecordEvent(new V1ObjectReference { Kind = "Pod", NamespaceProperty = ns, Name = name, Uid = uid, ApiVersion = "v1" },
                "Warning", "FailedKillPod", $"error killing pod: {e.Message}");
        }
        finally
        {
            Store.Remove(ResourceKind.Pods, ns, name, uid);
            if (!orphan) CollectGarbage(uid);
            _terminations.TryRemove(uid, out _);
        }
    }

    private async Task TerminateNamespaceAsync(string ns, string uid)
    {
        try
        {
            foreach (var kind in ResourceKind.All.Where(k => k.Namespaced))
            foreach (var (_, name) in Store.Keys(kind, ns))
            {
                try
                {
                    Delete(kind, ns, name, new DeleteRequest(null, null, null, null, false));
                }
                catch (ApiException)
                {
                    // Already gone.
                }
            }
            while (ResourceKind.All.Any(k => k.Namespaced && Store.Keys(k, ns).Count > 0))
            {
                foreach (var (_, name) in Store.Keys(ResourceKind.Events, ns)) Store.Remove(ResourceKind.Events, ns, name);
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
        finally
        {
            Store.Remove(ResourceKind.Namespaces, "", ns, uid);
            _terminations.TryRemove(uid, out _);
        }
    }

    /// <summary>Background propagation: every object naming the removed owner's uid is deleted (pods gracefully).</summary>
    private void CollectGarbage(string ownerUid)
    {
        foreach (var (kind, ns, name) in Store.OwnedBy(ownerUid))
        {
            try
            {
                Delete(kind, kind.Namespaced ? ns : null, name, new DeleteRequest(null, null, null, null, false));
            }
            catch (ApiException)
            {
                // Deleted meanwhile.
            }
        }
    }

    /// <summary>Kills every pod (no grace), for shutdown; completes when the runtime reports them gone.</summary>
    public async Task KillAllPodsAsync()
    {
        foreach (var (ns, name) in Store.Keys(ResourceKind.Pods, null))
        {
            var pod = Store.Get(ResourceKind.Pods, ns, name);
            var uid = pod is null ? null : JsonText.Str(ObjectStore.Meta(pod)["uid"]);
            if (uid is null || _terminations.ContainsKey(uid)) continue;
            _terminations[uid] = Task.Run(() => TerminatePodAsync(ns, name, uid, 0, orphan: true));
        }
        await Task.WhenAll(_terminations.Values.ToArray()).ConfigureAwait(false);
    }
}
