using System.Buffers;

namespace Scheduler.Actors.Trace;

/// <summary>
/// Masks a job's trace as a stream: first every secret value becomes <c>[MASKED]</c> (<see cref="SecretMatcher"/>), then
/// token prefixes and sensitive URL parameters are masked in what is left (<see cref="TokenSanitizer"/>), as GitLab Runner
/// layers them. Correct across chunk boundaries: bytes that may still begin a pattern are held back until the next chunk
/// (or Flush) decides them, so the output lags the input by less than the longest pattern. Pure: no I/O, not thread-safe.
/// </summary>
public sealed class TraceMasker
{
    public static readonly byte[] Mask = SecretMatcher.Mask;

    private readonly SecretMatcher _secrets;
    private readonly TokenSanitizer? _tokens;
    // Grows with the output it holds back; a job with a quiet trace keeps it small (every job in flight has one).
    private readonly ArrayBufferWriter<byte> _between = new();

    /// <param name="secrets">Values to hide; empty values are ignored. Longer values win where two start at one byte.</param>
    public TraceMasker(IEnumerable<string> secrets)
        : this(TraceMaskRules.ValuesOnly(secrets.ToList()))
    {
    }

    public TraceMasker(TraceMaskRules rules)
    {
        _secrets = SecretMatcher.For(rules.Secrets);
        if (rules.TokenPrefixes.Count > 0 || rules.UrlParams.Count > 0)
        {
            _tokens = TokenSanitizer.For(rules.TokenPrefixes, rules.UrlParams);
        }
    }

    /// <summary>Bytes held back because they may begin a pattern.</summary>
    public int PendingCount => _secrets.PendingCount + (_tokens?.PendingCount ?? 0);

    /// <summary>Masks a chunk, writing the bytes that are decided to <paramref name="output"/>.</summary>
    public void Process(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => Run(chunk, final: false, output);

    /// <summary>Ends the stream: what is held back is decided as the end of the stream.</summary>
    public void Flush(IBufferWriter<byte> output) => Run([], final: true, output);

    /// <summary>Masks a chunk; returns the bytes that are decided.</summary>
    public byte[] Process(ReadOnlySpan<byte> chunk)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(1, chunk.Length));
        Process(chunk, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Ends the stream; returns the rest.</summary>
    public byte[] Flush()
    {
        var output = new ArrayBufferWriter<byte>();
        Flush(output);
        return output.WrittenSpan.ToArray();
    }

    private void Run(ReadOnlySpan<byte> chunk, bool final, IBufferWriter<byte> output)
    {
        if (_tokens is null)
        {
            _secrets.Process(chunk, final, output);
            return;
        }

        _between.ResetWrittenCount();
        _secrets.Process(chunk, final, _between);
        _tokens.Process(_between.WrittenSpan, final, output);
    }
}
