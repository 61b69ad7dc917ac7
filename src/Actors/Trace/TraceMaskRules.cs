namespace Scheduler.Actors.Trace;

/// <summary>What a job's trace hides: secret values (masked variables, the job token), token prefixes and, as GitLab
/// Runner does, the values of sensitive URL parameters.</summary>
public sealed record TraceMaskRules(IReadOnlyList<string> Secrets, IReadOnlyList<string> TokenPrefixes, IReadOnlyList<string> UrlParams)
{
    /// <summary>GitLab's token prefixes (personal, OAuth, deploy, runner, CI job, trigger, feed, incoming mail, agent,
    /// SCIM, feature-flag client tokens): masked in every trace whatever GitLab sends.</summary>
    public static readonly IReadOnlyList<string> DefaultTokenPrefixes =
        ["glpat-", "gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glsoat-", "glffct-"];

    /// <summary>GitLab Runner's sensitive URL parameters; matched in any case.</summary>
    public static readonly IReadOnlyList<string> SensitiveUrlParams =
        ["private_token", "authenticity_token", "rss_token", "x-amz-signature", "x-amz-credential", "x-amz-security-token"];

    /// <summary>As GitLab Runner, at most this many prefixes of the job's <c>features.token_mask_prefixes</c> are used.</summary>
    public const int MaxJobPrefixes = 10;

    /// <summary>Only the given values: no prefixes, no URL parameters.</summary>
    public static TraceMaskRules ValuesOnly(IReadOnlyList<string> secrets) => new(secrets, [], []);

    /// <summary>The values, the default prefixes with the job's own (GitLab's <c>features.token_mask_prefixes</c>), and the
    /// sensitive URL parameters.</summary>
    public static TraceMaskRules For(IReadOnlyList<string> secrets, IEnumerable<string> jobPrefixes)
    {
        var own = jobPrefixes.Select(p => p.Trim()).Where(p => p.Length > 0).Take(MaxJobPrefixes).ToList();
        return new(secrets, own.Count == 0 ? DefaultTokenPrefixes : DefaultTokenPrefixes.Concat(own).Distinct(StringComparer.Ordinal).ToList(),
            SensitiveUrlParams);
    }
}
