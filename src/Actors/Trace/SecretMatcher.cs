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

    // Secrets by their first byte, longest first.
    private readonly byte[][][] _byFirst;

    private SecretMatcher(byte[][] secrets)
        : base(secrets.Select(s => s[0]).Distinct().ToArray(), secrets.Length == 0 ? 1 : secrets.Max(s => s.Length))
    {
        _byFirst = new byte[256][][];
        foreach (var group in secrets.GroupBy(s => s[0]))
        {
            _byFirst[group.Key] = group.OrderByDescending(s => s.Length).ToArray();
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
        foreach (var secret in _byFirst[rest[0]])
        {
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
