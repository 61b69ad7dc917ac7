using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// The runtime's allocation samples (GCAllocationTick: one event per ~100 KiB allocated, naming the type that crossed the
/// threshold) summed per type while <see cref="Counting"/> is on: which types the allocated bytes go to, without a profiler.
/// </summary>
public sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);

    public bool Counting { get; set; }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!Counting || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null)
        {
            return;
        }

        var type = e.PayloadNames?.IndexOf("TypeName") is >= 0 and var t ? e.Payload[t] as string ?? "?" : "?";
        var amount = e.PayloadNames?.IndexOf("AllocationAmount64") is >= 0 and var a ? Convert.ToInt64(e.Payload[a]) : 100 * 1024;
        _bytes.AddOrUpdate(type, amount, (_, n) => n + amount);
    }

    /// <summary>The types with the most sampled bytes, and their share of all sampled bytes.</summary>
    public IReadOnlyList<(string Type, long Bytes, double Share)> Top(int n)
    {
        var all = _bytes.ToArray();
        var total = Math.Max(1, all.Sum(p => p.Value));
        return all.OrderByDescending(p => p.Value).Take(n).Select(p => (p.Key, p.Value, p.Value / (double)total)).ToList();
    }
}
