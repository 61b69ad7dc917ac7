using System.Collections.Concurrent;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// Exceptions thrown anywhere in the process (first chance: caught or not) while <see cref="Counting"/> is on, by type and
/// the first method of the runner's code on their stack. A throw costs microseconds of stack walking, so one per job shows in the CPU per job.
/// Counting costs too (a stack trace string per exception): on only with <c>--exceptions</c>.
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
        // The first frame of the runner's (or the fakes') code on the throwing thread's stack: where it was thrown, or the
        // await that rethrew it (an await rethrows the exception it awaited: one event per await level).
        var method = new System.Diagnostics.StackTrace(1, false).GetFrames()
            .Select(f => f.GetMethod())
            .FirstOrDefault(m => m?.DeclaringType?.FullName?.StartsWith("Scheduler.", StringComparison.Ordinal) == true);
        var where = method is null ? "?" : $"{method.DeclaringType!.FullName}.{method.Name}";
        _counts.AddOrUpdate($"{e.Exception.GetType().Name} in {where}", 1, (_, n) => n + 1);
    }

    /// <summary>The most frequent kinds (type and thrower), with their counts.</summary>
    public IReadOnlyList<(string Kind, long Count)> Top(int n) =>
        _counts.ToArray().OrderByDescending(p => p.Value).Take(n).Select(p => (p.Key, p.Value)).ToList();

    public void Dispose() => AppDomain.CurrentDomain.FirstChanceException -= OnThrown;
}
