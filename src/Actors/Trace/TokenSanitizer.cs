using System.Buffers;
using System.Text;

namespace Scheduler.Actors.Trace;

/// <summary>
/// Masks what GitLab Runner masks by shape rather than by value: a token prefix (<c>glpat-</c>, …) followed by token
/// characters keeps its prefix and loses the rest (<c>glpat-[MASKED]</c>), and the value of a sensitive URL parameter
/// (<c>?private_token=</c>, <c>&amp;X-Amz-Signature=</c>, …, any case) is masked up to the parameter's end. A token or value
/// may run across any number of chunks: its bytes are dropped as they come, so nothing is held back for it.
/// </summary>
public sealed class TokenSanitizer : StreamStage
{
    private enum Swallowing { Nothing, Token, ParamValue }

    // GitLab Runner's token alphabet: [0-9A-Za-z] and - . _ =
    private static readonly SearchValues<byte> TokenChars =
        SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-._="u8);

    // Where a URL parameter's value ends: the next parameter, whitespace or a control byte.
    private static readonly SearchValues<byte> ParamEnd = SearchValues.Create(
        Enumerable.Range(0, 33).Select(b => (byte)b).Concat([(byte)127, (byte)'?', (byte)'&']).ToArray());

    private readonly byte[][][] _prefixesByFirst;
    private readonly byte[][] _paramKeys; // "key=", lower case
    private Swallowing _swallowing;

    private TokenSanitizer(byte[][] prefixes, byte[][] paramKeys)
        : base(prefixes.Select(p => p[0]).Concat(paramKeys.Length > 0 ? "?&"u8.ToArray() : []).Distinct().ToArray(),
            Math.Max(prefixes.Select(p => p.Length + 1).DefaultIfEmpty(1).Max(), paramKeys.Select(k => k.Length + 1).DefaultIfEmpty(1).Max()))
    {
        _prefixesByFirst = new byte[256][][];
        foreach (var group in prefixes.GroupBy(p => p[0]))
        {
            _prefixesByFirst[group.Key] = group.OrderByDescending(p => p.Length).ToArray();
        }

        _paramKeys = paramKeys;
    }

    public static TokenSanitizer For(IEnumerable<string> tokenPrefixes, IEnumerable<string> urlParams) => new(
        tokenPrefixes.Select(p => p.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).Select(Encoding.UTF8.GetBytes).ToArray(),
        urlParams.Where(k => k.Length > 0).Select(k => Encoding.ASCII.GetBytes(k.ToLowerInvariant() + "=")).ToArray());

    protected override int Skip(ReadOnlySpan<byte> data)
    {
        if (_swallowing == Swallowing.Nothing)
        {
            return 0;
        }

        var end = _swallowing == Swallowing.Token ? data.IndexOfAnyExcept(TokenChars) : data.IndexOfAny(ParamEnd);
        if (end < 0)
        {
            return data.Length;
        }

        _swallowing = Swallowing.Nothing;
        return end;
    }

    protected override Decision Decide(ReadOnlySpan<byte> rest, bool final, IBufferWriter<byte> output, out int consumed)
    {
        consumed = 0;
        if (rest[0] is (byte)'?' or (byte)'&' && _paramKeys.Length > 0)
        {
            var after = rest[1..];
            foreach (var key in _paramKeys)
            {
                if (key.Length <= after.Length)
                {
                    if (Ascii.EqualsIgnoreCase(after[..key.Length], key))
                    {
                        consumed = 1 + key.Length;
                        output.Write(rest[..consumed]);
                        output.Write(SecretMatcher.Mask);
                        _swallowing = Swallowing.ParamValue;
                        return Decision.Replaced;
                    }
                }
                else if (!final && Ascii.EqualsIgnoreCase(after, key.AsSpan(0, after.Length)))
                {
                    return Decision.Undecided;
                }
            }
        }

        foreach (var prefix in _prefixesByFirst[rest[0]] ?? [])
        {
            if (rest.Length <= prefix.Length)
            {
                if (!final && prefix.AsSpan().StartsWith(rest))
                {
                    return Decision.Undecided; // the prefix, or the byte after it, is still to come
                }
            }
            else if (rest.StartsWith(prefix) && TokenChars.Contains(rest[prefix.Length]))
            {
                consumed = prefix.Length;
                output.Write(prefix);
                output.Write(SecretMatcher.Mask);
                _swallowing = Swallowing.Token;
                return Decision.Replaced;
            }
        }

        return Decision.None;
    }
}
