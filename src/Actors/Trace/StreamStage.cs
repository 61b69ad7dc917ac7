using System.Buffers;

namespace Scheduler.Actors.Trace;

/// <summary>
/// One streaming rewrite of a byte stream: jumps to the next byte that can start a pattern (vectorised search), asks the
/// subclass to decide there, and keeps the few bytes that cannot be decided yet (a pattern may go on in the next chunk) for
/// the next call. The output for a stream does not depend on how it is cut into chunks. Not thread-safe.
/// </summary>
public abstract class StreamStage
{
    protected enum Decision
    {
        /// <summary>No pattern starts here: the byte passes.</summary>
        None,
        /// <summary>The subclass wrote the replacement and consumed bytes.</summary>
        Replaced,
        /// <summary>More bytes are needed to decide.</summary>
        Undecided,
    }

    private readonly SearchValues<byte> _starts;
    private byte[] _pending;
    private int _pendingCount;

    /// <param name="starts">Every byte a pattern can begin with (made once and shared where the patterns are the same:
    /// building the search is most of a stage's cost for a short trace).</param>
    /// <param name="lookahead">The most bytes <see cref="Decide"/> needs from a position to decide it.</param>
    protected StreamStage(SearchValues<byte> starts, int lookahead)
    {
        _starts = starts;
        Lookahead = Math.Max(1, lookahead);
        _pending = new byte[2 * Lookahead];
    }

    protected int Lookahead { get; }

    /// <summary>Bytes held back because they may begin a pattern.</summary>
    public int PendingCount => _pendingCount;

    /// <summary>Rewrites <paramref name="chunk"/> into <paramref name="output"/>; with <paramref name="final"/> the stream ends
    /// here and nothing is held back.</summary>
    public void Process(ReadOnlySpan<byte> chunk, bool final, IBufferWriter<byte> output)
    {
        var start = 0;
        if (_pendingCount > 0)
        {
            // Decide the held-back bytes with enough of the chunk behind them; a replacement may end inside the chunk.
            var head = Math.Min(chunk.Length, Lookahead);
            chunk[..head].CopyTo(_pending.AsSpan(_pendingCount));
            var scratch = _pending.AsSpan(0, _pendingCount + head);
            var stop = Scan(scratch, 0, _pendingCount, final, output, out var undecided);
            if (undecided)
            {
                // Then the whole chunk is in scratch (a short chunk): keep it all from the undecided byte on.
                scratch[stop..].CopyTo(_pending);
                _pendingCount = scratch.Length - stop;
                return;
            }

            start = stop - _pendingCount;
            _pendingCount = 0;
        }

        var end = Scan(chunk, start, chunk.Length, final, output, out var rest);
        if (rest)
        {
            chunk[end..].CopyTo(_pending);
            _pendingCount = chunk.Length - end;
        }
    }

    /// <summary>Decides positions <c>[from, limit)</c> of <paramref name="data"/> (looking beyond limit if needed). Returns
    /// where it stopped: at or past limit when all are decided, or at the first undecided position.</summary>
    private int Scan(ReadOnlySpan<byte> data, int from, int limit, bool final, IBufferWriter<byte> output, out bool undecided)
    {
        undecided = false;
        var i = from;
        while (i < limit)
        {
            i += Skip(data[i..limit]);
            if (i >= limit)
            {
                break;
            }

            var next = data[i..limit].IndexOfAny(_starts);
            if (next < 0)
            {
                output.Write(data[i..limit]);
                return limit;
            }

            output.Write(data.Slice(i, next));
            i += next;
            switch (Decide(data[i..], final, output, out var consumed))
            {
                case Decision.Replaced:
                    i += consumed;
                    break;
                case Decision.Undecided:
                    undecided = true;
                    return i;
                default:
                    output.Write(data.Slice(i, 1));
                    i++;
                    break;
            }
        }

        return i;
    }

    /// <summary>Decides at the start of <paramref name="rest"/>, which begins with one of the start bytes.</summary>
    protected abstract Decision Decide(ReadOnlySpan<byte> rest, bool final, IBufferWriter<byte> output, out int consumed);

    /// <summary>How many bytes at the start of <paramref name="data"/> a replacement in progress swallows (all of them when
    /// it goes on past the end); 0 when none is in progress.</summary>
    protected virtual int Skip(ReadOnlySpan<byte> data) => 0;
}
