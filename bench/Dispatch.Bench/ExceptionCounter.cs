using System.Collections.Concurrent;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// Exceptions thrown anywhere in the process (first chance: caught or not) while <see cref="Counting"/> is on, by type and
/// the method that threw (or, through an await, rethrew) them. A throw costs microseconds of stack walking, so one per job shows in the CPU per job.
/// </summary>
public sealed class ExceptionCounter : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private long _total;

    public ExceptionCounter() => AppDomain.CurrentDomain.FirstChanceException += OnThrown;

    public bool Counting { get; set; }

    public long Total => Interlocked.Read(ref _total);

    private void OnThrown(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
    {
        if (!Counting)
        {
            return;
        }

        Interlocked.Increment(ref _total);
        // The last frame is where it was thrown (an await rethrows the exception it awaited: one event per await level).
        var frames = e.Exception.StackTrace?.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var where = frames is { Length: > 0 } ? frames[^1].Trim() : "?";
        var paren = where.IndexOf('(');
        where = paren > 0 ? where[..paren] : where;
        _counts.AddOrUpdate($"{e.Exception.GetType().Name} in {where}", 1, (_, n) => n + 1);
    }

    /// <summary>The most frequent kinds (type and thrower), with their counts.</summary>
    public IReadOnlyList<(string Kind, long Count)> Top(int n) =>
        _counts.ToArray().OrderByDescending(p => p.Value).Take(n).Select(p => (p.Key, p.Value)).ToList();

    public void Dispose() => AppDomain.CurrentDomain.FirstChanceException -= OnThrown;
}
