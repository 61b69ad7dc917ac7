using System.Buffers;
using System.Text;

namespace Scheduler.Actors.Trace;

/// <summary>
/// Replaces every occurrence of a secret value with <c>[MASKED]</c>: at each position the longest secret that starts
/// there wins, then the scan goes on after it. Only positions that hold a secret's first byte are compared.
/// </summary>
public sealed class SecretMatcher : StreamStage
{
    public static readonly byte[] Mask = "[MASKED]"u8.ToArray();

    // Up to this many secrets are tried in turn at a candidate byte; more are looked up by their first byte.
    private const int ListedSecrets = 16;

    // Longest first, so the first match is the longest; with many secrets, grouped by first byte instead.
    private readonly byte[][] _longestFirst;
    private readonly byte[][][]? _byFirst;

    private SecretMatcher(byte[][] secrets)
        : base(SearchValues.Create(secrets.Select(s => s[0]).Distinct().ToArray()), secrets.Length == 0 ? 1 : secrets.Max(s => s.Length))
    {
        _longestFirst = secrets.OrderByDescending(s => s.Length).ToArray();
        if (secrets.Length > ListedSecrets)
        {
            _byFirst = new byte[256][][];
            foreach (var group in _longestFirst.GroupBy(s => s[0]))
            {
                _byFirst[group.Key] = group.ToArray();
            }
        }

        Count = secrets.Length;
    }

    public int Count { get; }

    public static SecretMatcher For(IEnumerable<string> secrets) => new(secrets
        .Where(s => !string.IsNullOrEmpty(s))
        .Distinct(StringComparer.Ordinal)
        .Select(Encoding.UTF8.GetBytes)
        .ToArray());

    protected override Decision Decide(ReadOnlySpan<byte> rest, bool final, IBufferWriter<byte> output, out int consumed)
    {
        consumed = 0;
        var first = rest[0];
        foreach (var secret in _byFirst is null ? _longestFirst : _byFirst[first])
        {
            if (secret[0] != first)
            {
                continue;
            }

            if (secret.Length <= rest.Length)
            {
                if (rest.StartsWith(secret))
                {
                    output.Write(Mask);
                    consumed = secret.Length;
                    return Decision.Replaced;
                }
            }
            else if (!final && secret.AsSpan().StartsWith(rest))
            {
                return Decision.Undecided; // a longer secret may still match
            }
        }

        return Decision.None;
    }
}
