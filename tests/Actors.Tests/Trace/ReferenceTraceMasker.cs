using System.Text;

namespace Scheduler.Actors.Tests.Trace;

/// <summary>
/// The first masker of the trace, kept as the oracle for the streaming one. Replaces every occurrence of a secret in a byte stream with <c>[MASKED]</c>, also when an occurrence is split
/// across chunks. Bytes that could still be the start of a secret are held back until the next chunk (or Flush)
/// decides them, so the output lags the input by less than the longest secret. Pure: no I/O, not thread-safe.
/// </summary>
public sealed class ReferenceTraceMasker
{
    public static readonly byte[] Mask = "[MASKED]"u8.ToArray();

    private readonly byte[][] _secrets;
    private byte[] _pending = [];

    /// <param name="secrets">Values to hide; empty values are ignored. Longer values win where two overlap.</param>
    public ReferenceTraceMasker(IEnumerable<string> secrets)
    {
        _secrets = secrets
            .Where(s => !string.IsNullOrEmpty(s))
            .Distinct(StringComparer.Ordinal)
            .Select(s => Encoding.UTF8.GetBytes(s))
            .OrderByDescending(b => b.Length)
            .ToArray();
    }

    /// <summary>Bytes held back because they may begin a secret.</summary>
    public int PendingCount => _pending.Length;

    /// <summary>Masks a chunk; returns the bytes that are decided.</summary>
    public byte[] Process(ReadOnlySpan<byte> chunk)
    {
        if (_secrets.Length == 0)
        {
            return chunk.ToArray();
        }

        var input = new byte[_pending.Length + chunk.Length];
        _pending.CopyTo(input, 0);
        chunk.CopyTo(input.AsSpan(_pending.Length));

        var output = new List<byte>(input.Length);
        var i = 0;
        while (i < input.Length)
        {
            var rest = input.AsSpan(i);
            var matched = MatchAt(rest);
            if (matched > 0)
            {
                output.AddRange(Mask);
                i += matched;
                continue;
            }
            if (IsPrefixOfSecret(rest))
            {
                break; // undecided until more bytes arrive
            }
            output.Add(input[i]);
            i++;
        }

        _pending = input[i..];
        return output.ToArray();
    }

    /// <summary>Ends the stream: the held-back bytes cannot become a secret any more.</summary>
    public byte[] Flush()
    {
        var rest = _pending;
        _pending = [];
        return rest;
    }

    /// <summary>Length of the longest secret that starts at the beginning of <paramref name="text"/>, or 0.</summary>
    private int MatchAt(ReadOnlySpan<byte> text)
    {
        foreach (var secret in _secrets)
        {
            if (text.StartsWith(secret))
            {
                return secret.Length;
            }
        }
        return 0;
    }

    /// <summary>True when all of <paramref name="text"/> is a proper prefix of some secret.</summary>
    private bool IsPrefixOfSecret(ReadOnlySpan<byte> text)
    {
        foreach (var secret in _secrets)
        {
            if (text.Length < secret.Length && secret.AsSpan().StartsWith(text))
            {
                return true;
            }
        }
        return false;
    }
}
