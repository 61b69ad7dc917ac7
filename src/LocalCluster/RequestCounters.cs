using System.Collections.Concurrent;

namespace Scheduler.LocalCluster;

/// <summary>Counts API requests by verb and resource (e.g. <c>list pods</c>, <c>get pods/log</c>), and in total.</summary>
public sealed class RequestCounters
{
    private readonly ConcurrentDictionary<(string Verb, string Resource), long> _counts = new();
    private long _total;

    /// <summary>Every HTTP request the server received, discovery and health checks included.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Requests with this verb (get, list, watch, create, update, patch, delete, deletecollection) on this resource.</summary>
    public long Count(string verb, string resource) => _counts.TryGetValue((verb, resource), out var n) ? n : 0;

    /// <summary>Requests on this resource, any verb.</summary>
    public long CountResource(string resource) => _counts.Where(kv => kv.Key.Resource == resource).Sum(kv => kv.Value);

    /// <summary>A copy of the counts keyed <c>"verb resource"</c>.</summary>
    public IReadOnlyDictionary<string, long> Snapshot() =>
        _counts.ToDictionary(kv => $"{kv.Key.Verb} {kv.Key.Resource}", kv => kv.Value);

    public void Reset()
    {
        _counts.Clear();
        Interlocked.Exchange(ref _total, 0);
    }

    internal void CountRequest() => Interlocked.Increment(ref _total);

    internal void Record(string verb, string resource) =>
        _counts.AddOrUpdate((verb, resource), 1, (_, n) => n + 1);
}
