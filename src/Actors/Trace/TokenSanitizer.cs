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

    // The tables for a set of prefixes and parameters, shared by every job that has the same: most jobs have GitLab's
    // defaults, and building the tables was a visible share of a short job's cost. Bounded: a job's own prefixes come from
    // its payload, so sets beyond the bound are built for the job alone.
    private const int MaxSharedTables = 64;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Tables> Shared = new(StringComparer.Ordinal);

    private readonly Tables _tables;
    private Swallowing _swallowing;

    private TokenSanitizer(Tables tables)
        : base(tables.Starts, tables.Lookahead)
    {
        _tables = tables;
    }

    // GitLab's defaults, the rules of every job without prefixes of its own (TraceMaskRules.For hands these very lists on).
    private static readonly Tables Defaults = SharedTables(TraceMaskRules.DefaultTokenPrefixes, TraceMaskRules.SensitiveUrlParams);

    public static TokenSanitizer For(IEnumerable<string> tokenPrefixes, IEnumerable<string> urlParams) =>
        new(ReferenceEquals(tokenPrefixes, TraceMaskRules.DefaultTokenPrefixes) && ReferenceEquals(urlParams, TraceMaskRules.SensitiveUrlParams)
            ? Defaults
            : SharedTables(tokenPrefixes, urlParams));

    private static (string[] Prefixes, string[] Keys) Normalize(IEnumerable<string> tokenPrefixes, IEnumerable<string> urlParams) => (
        tokenPrefixes.Select(p => p.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).ToArray(),
        urlParams.Where(k => k.Length > 0).Select(k => k.ToLowerInvariant()).ToArray());

    private static Tables SharedTables(IEnumerable<string> tokenPrefixes, IEnumerable<string> urlParams)
    {
        var (prefixes, keys) = Normalize(tokenPrefixes, urlParams);
        // Each part with its length, so no two different sets make the same key whatever characters they hold.
        var key = string.Concat(prefixes.Select(p => $"{p.Length}:{p}")) + "|" + string.Concat(keys.Select(k => $"{k.Length}:{k}"));
        if (!Shared.TryGetValue(key, out var tables))
        {
            tables = new Tables(prefixes, keys);
            if (Shared.Count < MaxSharedTables)
            {
                Shared.TryAdd(key, tables);
            }
        }

        return tables;
    }

    /// <summary>What a sanitizer looks for: immutable, so one set serves every job with the same prefixes and parameters.</summary>
    private sealed class Tables
    {
        public Tables(string[] prefixes, string[] lowerCaseParams)
        {
            var prefixBytes = prefixes.Select(Encoding.UTF8.GetBytes).ToArray();
            ParamKeys = lowerCaseParams.Select(k => Encoding.ASCII.GetBytes(k + "=")).ToArray();
            Starts = SearchValues.Create(prefixBytes.Select(p => p[0]).Concat(ParamKeys.Length > 0 ? "?&"u8.ToArray() : []).Distinct().ToArray());
            Lookahead = Math.Max(prefixBytes.Select(p => p.Length + 1).DefaultIfEmpty(1).Max(), ParamKeys.Select(k => k.Length + 1).DefaultIfEmpty(1).Max());
            PrefixesByFirst = new byte[256][][];
            foreach (var group in prefixBytes.GroupBy(p => p[0]))
            {
                PrefixesByFirst[group.Key] = group.OrderByDescending(p => p.Length).ToArray();
            }
        }

        public SearchValues<byte> Starts { get; }

        public int Lookahead { get; }

        public byte[][][] PrefixesByFirst { get; }

        /// <summary>"key=", lower case.</summary>
        public byte[][] ParamKeys { get; }
    }

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
        if (rest[0] is (byte)'?' or (byte)'&' && _tables.ParamKeys.Length > 0)
        {
            var after = rest[1..];
            foreach (var key in _tables.ParamKeys)
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

        foreach (var prefix in _tables.PrefixesByFirst[rest[0]] ?? [])
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
