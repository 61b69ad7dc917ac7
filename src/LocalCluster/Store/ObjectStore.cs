using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Scheduler.LocalCluster.Resources;

namespace Scheduler.LocalCluster.Store;

/// <summary>One change of one object, numbered by the store's global resourceVersion.</summary>
internal sealed record WatchEvent(string Type, long ResourceVersion, ResourceKind Kind, string Namespace, JsonObject Object, JsonObject? Previous);

/// <summary>
/// Every object of the cluster, as JSON, with one resourceVersion counter across all kinds (as etcd's revision),
/// a bounded history of changes for watches resuming from a version, and the live watchers.
/// All reads return copies; all changes happen under one lock so events reach watchers in version order.
/// </summary>
internal sealed class ObjectStore(int historySize)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ResourceKind, Dictionary<(string Namespace, string Name), JsonObject>> _objects = new();
    private readonly Queue<WatchEvent> _history = new();
    private readonly List<WatchSubscription> _watchers = [];
    // ownerReference uid -> the objects that name it, so that garbage collection finds dependents without a scan.
    private readonly Dictionary<string, HashSet<(ResourceKind Kind, string Namespace, string Name)>> _dependents = new();
    // Completed (and dropped) at the next change of an object of one of their kinds; one per set of kinds asked for.
    private readonly List<(ResourceKind[] Kinds, TaskCompletionSource Next)> _nextChange = [];
    private long _version;
    private long _compactedVersion;

    public long CurrentVersion
    {
        get { lock (_gate) return _version; }
    }

    public static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public JsonObject? Get(ResourceKind kind, string ns, string name)
    {
        lock (_gate)
            return Table(kind).TryGetValue((ns, name), out var obj) ? Copy(obj) : null;
    }

    /// <summary>Objects of the kind in the namespace (null: all namespaces) that match, sorted by namespace and name.</summary>
    public (List<JsonObject> Items, long Version) List(ResourceKind kind, string? ns, Func<JsonObject, bool> matches)
    {
        lock (_gate)
        {
            var items = Table(kind)
                .Where(kv => ns is null || kv.Key.Namespace == ns)
                .OrderBy(kv => kv.Key.Namespace, StringComparer.Ordinal).ThenBy(kv => kv.Key.Name, StringComparer.Ordinal)
                .Select(kv => kv.Value)
                .Where(matches)
                .Select(Copy)
                .ToList();
            return (items, _version);
        }
    }

    /// <summary>Stores a new object: sets uid, creationTimestamp and resourceVersion. The name must be set.</summary>
    public JsonObject Create(ResourceKind kind, string ns, JsonObject obj)
    {
        var meta = Meta(obj);
        var name = JsonText.Str(meta["name"]) ?? throw new InvalidOperationException("name not set");
        lock (_gate)
        {
            var table = Table(kind);
            if (table.ContainsKey((ns, name))) throw ApiException.AlreadyExists(kind, name);
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = Now();
            meta["resourceVersion"] = (++_version).ToString(CultureInfo.InvariantCulture);
            var stored = Copy(obj);
            table[(ns, name)] = stored;
            IndexOwners(kind, ns, name, stored, add: true);
            Publish(new WatchEvent("ADDED", _version, kind, ns, stored, null));
            return Copy(stored);
        }
    }

    /// <summary>
    /// Replaces an object with what <paramref name="change"/> makes of a copy of it; bumps resourceVersion and
    /// notifies watchers. A change returning the object unchanged is not written (no new version), as kube.
    /// </summary>
    public JsonObject Update(ResourceKind kind, string ns, string name, Func<JsonObject, JsonObject> change)
    {
        lock (_gate)
        {
            var table = Table(kind);
            if (!table.TryGetValue((ns, name), out var current)) throw ApiException.NotFound(kind, name);
            var updated = change(Copy(current));
            if (JsonNode.DeepEquals(updated, current)) return Copy(current);
            Meta(updated)["resourceVersion"] = (++_version).ToString(CultureInfo.InvariantCulture);
            var stored = Copy(updated);
            table[(ns, name)] = stored;
            IndexOwners(kind, ns, name, current, add: false);
            IndexOwners(kind, ns, name, stored, add: true);
            Publish(new WatchEvent("MODIFIED", _version, kind, ns, stored, current));
            return Copy(stored);
        }
    }

    /// <summary>Removes the object (only if its uid still matches, when given); emits DELETED. Null when absent.</summary>
    public JsonObject? Remove(ResourceKind kind, string ns, string name, string? uid = null)
    {
        lock (_gate)
        {
            var table = Table(kind);
            if (!table.TryGetValue((ns, name), out var current)) return null;
            if (uid is not null && JsonText.Str(Meta(current)["uid"]) != uid) return null;
            table.Remove((ns, name));
            IndexOwners(kind, ns, name, current, add: false);
            var final = Copy(current);
            Meta(final)["resourceVersion"] = (++_version).ToString(CultureInfo.InvariantCulture);
            Publish(new WatchEvent("DELETED", _version, kind, ns, final, current));
            return Copy(final);
        }
    }

    /// <summary>Every object (kind, namespace, name) that names <paramref name="ownerUid"/> in its ownerReferences.</summary>
    public List<(ResourceKind Kind, string Namespace, string Name)> OwnedBy(string ownerUid)
    {
        lock (_gate)
            return _dependents.TryGetValue(ownerUid, out var owned) ? [.. owned] : [];
    }

    /// <summary>
    /// Completes at the next change (create, update, delete) of an object of one of <paramref name="kinds"/> after the
    /// call. Everyone asking for the same kinds until then gets the same task: asking costs nothing, and only a caller
    /// that awaits it adds a continuation.
    /// </summary>
    public Task NextChange(params ResourceKind[] kinds)
    {
        lock (_gate)
        {
            foreach (var (waited, next) in _nextChange)
            {
                if (waited.SequenceEqual(kinds)) return next.Task;
            }
            // Continuations run off the store's lock.
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _nextChange.Add((kinds, created));
            return created.Task;
        }
    }

    private void IndexOwners(ResourceKind kind, string ns, string name, JsonObject obj, bool add)
    {
        if (Meta(obj)["ownerReferences"] is not JsonArray refs) return;
        foreach (var ownerUid in refs.Select(r => JsonText.Str(r?["uid"])).OfType<string>())
        {
            if (add)
            {
                if (!_dependents.TryGetValue(ownerUid, out var owned)) _dependents[ownerUid] = owned = [];
                owned.Add((kind, ns, name));
            }
            else if (_dependents.TryGetValue(ownerUid, out var owned) && owned.Remove((kind, ns, name)) && owned.Count == 0)
            {
                _dependents.Remove(ownerUid);
            }
        }
    }

    /// <summary>Every (namespace, name) of a kind within a namespace (null: all).</summary>
    public List<(string Namespace, string Name)> Keys(ResourceKind kind, string? ns)
    {
        lock (_gate)
            return Table(kind).Keys.Where(k => ns is null || k.Namespace == ns).ToList();
    }

    /// <summary>
    /// Starts a watch. No version (or "0"): synthetic ADDED events for the current matching objects, then changes.
    /// A version: every retained change after it, then live changes; a version older than the retained history → 410.
    /// </summary>
    public WatchSubscription Watch(ResourceKind kind, string? ns, string? fromVersion, Func<JsonObject, bool> matches)
    {
        lock (_gate)
        {
            var subscription = new WatchSubscription(this, kind, ns, matches);
            if (string.IsNullOrEmpty(fromVersion) || fromVersion == "0")
            {
                foreach (var (key, obj) in Table(kind).OrderBy(kv => long.Parse((string)Meta(kv.Value)["resourceVersion"]!, CultureInfo.InvariantCulture)))
                    if ((ns is null || key.Namespace == ns) && matches(obj))
                        subscription.Offer(new WatchEvent("ADDED", _version, kind, key.Namespace, obj, null));
            }
            else
            {
                if (!long.TryParse(fromVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var from))
                    throw ApiException.BadRequest($"invalid resource version \"{fromVersion}\"");
                if (from < _compactedVersion)
                    throw ApiException.Expired($"too old resource version: {from} ({_compactedVersion + 1})");
                foreach (var e in _history)
                    if (e.ResourceVersion > from) subscription.Offer(e);
            }
            _watchers.Add(subscription);
            return subscription;
        }
    }

    internal void Unsubscribe(WatchSubscription subscription)
    {
        lock (_gate) _watchers.Remove(subscription);
    }

    private void Publish(WatchEvent e)
    {
        for (var i = _nextChange.Count - 1; i >= 0; i--)
        {
            if (!_nextChange[i].Kinds.Contains(e.Kind)) continue;
            _nextChange[i].Next.TrySetResult();
            _nextChange.RemoveAt(i);
        }
        _history.Enqueue(e);
        while (_history.Count > historySize) _compactedVersion = _history.Dequeue().ResourceVersion;
        foreach (var w in _watchers) w.Offer(e);
    }

    private Dictionary<(string Namespace, string Name), JsonObject> Table(ResourceKind kind)
    {
        if (!_objects.TryGetValue(kind, out var table)) _objects[kind] = table = new();
        return table;
    }

    public static JsonObject Meta(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject meta) return meta;
        var created = new JsonObject();
        obj["metadata"] = created;
        return created;
    }

    private static JsonObject Copy(JsonObject obj) => obj.DeepClone().AsObject();
}

/// <summary>A live watch: events matching its kind, namespace and selector, translated as kube's watch cache does.</summary>
internal sealed class WatchSubscription(ObjectStore store, ResourceKind kind, string? ns, Func<JsonObject, bool> matches) : IDisposable
{
    private readonly Channel<WatchEvent> _events = Channel.CreateUnbounded<WatchEvent>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<WatchEvent> Events => _events.Reader;

    /// <summary>
    /// An object that stops matching the selector is seen as DELETED, one that starts matching as ADDED.
    /// Called under the store lock, so events are queued in version order.
    /// </summary>
    internal void Offer(WatchEvent e)
    {
        if (e.Kind != kind || (ns is not null && e.Namespace != ns)) return;
        var type = e.Type;
        if (type == "MODIFIED")
        {
            var now = matches(e.Object);
            var before = e.Previous is not null && matches(e.Previous);
            if (!now && !before) return;
            type = now && before ? "MODIFIED" : now ? "ADDED" : "DELETED";
        }
        else if (!matches(e.Object)) return;
        _events.Writer.TryWrite(e with { Type = type, Object = e.Object.DeepClone().AsObject() });
    }

    public void Dispose()
    {
        store.Unsubscribe(this);
        _events.Writer.TryComplete();
    }
}
