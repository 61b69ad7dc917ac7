using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.Actors.Pods;

/// <summary>
/// <c>allowed_images</c>, <c>allowed_services</c> and <c>allowed_pull_policies</c> as GitLab Runner applies them. Pure.
/// Image patterns are doublestar (v4, as GitLab Runner uses) globs matched against the whole (expanded) image name:
/// <c>*</c> and <c>?</c> stop at <c>/</c>; <c>**</c> as a whole path component crosses it (<c>/**/</c> also matches a
/// single <c>/</c>), elsewhere it is <c>*</c>; <c>[abc]</c>, <c>[!abc]</c>, <c>{a,b}</c> and <c>\</c> escapes work as in doublestar.
/// </summary>
public static class ImagePolicy
{
    public const string Always = "always";
    public const string Never = "never";
    public const string IfNotPresent = "if-not-present";

    public static readonly IReadOnlyList<string> PullPolicies = [Always, Never, IfNotPresent];

    // Names come from jobs: a linear-time engine and a timeout.
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Why <paramref name="pattern"/> is not a usable glob, or null.</summary>
    public static string? GlobError(string pattern)
    {
        try
        {
            _ = GlobRegex(pattern);
            return null;
        }
        catch (ArgumentException error)
        {
            return $"\"{pattern}\" is not a valid glob pattern: {error.Message}";
        }
    }

    /// <summary>Whether <paramref name="name"/> matches one of <paramref name="patterns"/>; an empty list allows anything.
    /// An unusable pattern matches nothing (the loader refuses such a config).</summary>
    public static bool IsAllowed(string name, IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0)
        {
            return true;
        }

        foreach (var pattern in patterns)
        {
            try
            {
                if (GlobRegex(pattern).IsMatch(name))
                {
                    return true;
                }
            }
            catch (Exception error) when (error is ArgumentException or RegexMatchTimeoutException)
            {
                // Not a match.
            }
        }

        return false;
    }

    /// <summary>The refusal text GitLab Runner gives (the pattern list, and where to change it).</summary>
    public static string NotAllowed(string what, string name, string key, IReadOnlyList<string> patterns) =>
        $"the {what} \"{name}\" is not present on the list of allowed {key.Replace("allowed_", "", StringComparison.Ordinal)} "
        + $"({key} = [{string.Join(", ", patterns.Select(p => $"\"{p}\""))}]); use a matching image or ask the runner's administrator";

    /// <summary>
    /// The pull policies a container may use, in preference order: the job's own (<c>image:pull_policy</c>), else the
    /// config's <c>pull_policy</c>, intersected with <c>allowed_pull_policies</c> (which defaults to the config's
    /// <c>pull_policy</c>). Nothing requested and an allow-list: its first entry, so the allow-list also bounds the
    /// cluster's default. Empty: the cluster default. A refusal when nothing requested is allowed.
    /// </summary>
    public static (IReadOnlyList<string> Policies, string? Refusal) EffectivePullPolicies(IReadOnlyList<string> fromJob,
        IReadOnlyList<string> configured, IReadOnlyList<string> allowedConfigured)
    {
        var unknown = fromJob.FirstOrDefault(p => !PullPolicies.Contains(p));
        if (unknown is not null)
        {
            return ([], $"unsupported pull_policy \"{unknown}\" in the job: use always, never or if-not-present");
        }

        var (requested, source) = fromJob.Count > 0 ? (fromJob, "GitLab pipeline config")
            : configured.Count > 0 ? (configured, "Runner config")
            : (fromJob, "Runner config (default)");
        var allowed = allowedConfigured.Count > 0 ? allowedConfigured : configured;
        if (allowed.Count == 0)
        {
            return (requested.Distinct().ToList(), null);
        }

        if (requested.Count == 0)
        {
            return ([allowed[0]], null);
        }

        var effective = requested.Where(allowed.Contains).Distinct().ToList();
        return effective.Count > 0
            ? (effective, null)
            : ([], $"pull_policy ([{string.Join(" ", requested)}]) defined in {source} is not one of the allowed_pull_policies "
                   + $"([{string.Join(" ", allowed)}])");
    }

    /// <summary>The Kubernetes imagePullPolicy of a GitLab Runner policy; null for none (the cluster default).</summary>
    public static string? KubernetesPullPolicy(string? policy) => policy switch
    {
        Always => "Always",
        Never => "Never",
        IfNotPresent => "IfNotPresent",
        _ => null,
    };

    private static Regex GlobRegex(string pattern) =>
        new(GlobToRegex(pattern), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, MatchTimeout);

    private static string GlobToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        var braces = 0;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '\\':
                    if (i + 1 >= pattern.Length)
                    {
                        throw new ArgumentException("it ends with a lone \\");
                    }

                    regex.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    // doublestar v4: "**" crosses "/" only as a whole path component; elsewhere it is "*".
                    var wholeComponent = (i == 0 || pattern[i - 1] == '/') && (i + 2 == pattern.Length || pattern[i + 2] == '/');
                    if (wholeComponent && i + 2 < pattern.Length)
                    {
                        // "a/**/b" also matches "a/b"; "**/b" also matches "b".
                        regex.Append("(?:.*/)?");
                        i += 2;
                    }
                    else
                    {
                        regex.Append(wholeComponent ? ".*" : "[^/]*");
                        i++;
                    }

                    break;
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '[':
                    var end = pattern.IndexOf(']', i + 2 <= pattern.Length ? i + 2 : i + 1);
                    if (end < 0)
                    {
                        throw new ArgumentException("a [ has no closing ]");
                    }

                    var body = pattern[(i + 1)..end];
                    var negate = body.StartsWith('!') || body.StartsWith('^');
                    if (negate)
                    {
                        body = body[1..];
                    }

                    regex.Append(negate ? "[^/" : "[").Append(body.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal)).Append(']');
                    i = end;
                    break;
                case '{':
                    braces++;
                    regex.Append("(?:");
                    break;
                case ',' when braces > 0:
                    regex.Append('|');
                    break;
                case '}' when braces > 0:
                    braces--;
                    regex.Append(')');
                    break;
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        if (braces > 0)
        {
            throw new ArgumentException("a { has no closing }");
        }

        return regex.Append('$').ToString();
    }
}
