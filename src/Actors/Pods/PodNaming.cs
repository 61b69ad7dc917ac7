using System.Security.Cryptography;

namespace Scheduler.Actors.Pods;

/// <summary>Pod names: <c>runner-&lt;8 token chars&gt;-project-&lt;id&gt;-concurrent-&lt;n&gt;</c> in RFC 1123 form, plus
/// <c>-</c> and 8 random <c>[a-z0-9]</c>. The name is explicit (not generateName) so a timed-out create can be retried by name.</summary>
public static class PodNaming
{
    public const int SuffixLength = 8;
    /// <summary>The prefix is cut so that <c>-</c> and the suffix fit in 63 characters.</summary>
    public const int MaxPrefixLength = KubernetesNames.MaxLabelLength - 1 - SuffixLength;
    private const string SuffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>The RFC 1123 prefix, also the value of the <c>pod</c> label.</summary>
    public static string Prefix(string runnerToken, long projectId, int concurrentId)
    {
        var shortToken = runnerToken.Length > 8 ? runnerToken[..8] : runnerToken;
        var unique = $"runner-{shortToken}-project-{projectId}-concurrent-{concurrentId}";
        return KubernetesNames.MakeRfc1123Compatible(unique, MaxPrefixLength);
    }

    public static string PodName(string prefix, string suffix)
    {
        if (!IsValidSuffix(suffix))
        {
            throw new ArgumentException($"a pod name suffix must be {SuffixLength} characters of [a-z0-9]", nameof(suffix));
        }

        return $"{prefix}-{suffix}";
    }

    public static bool IsValidSuffix(string suffix) =>
        suffix.Length == SuffixLength && suffix.All(c => SuffixAlphabet.Contains(c));

    /// <summary>8 random characters of <c>[a-z0-9]</c> from a cryptographic source.</summary>
    public static string RandomSuffix() => RandomNumberGenerator.GetString(SuffixAlphabet, SuffixLength);
}
