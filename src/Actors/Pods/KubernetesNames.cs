using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.Actors.Pods;

/// <summary>The Kubernetes API server's name rules, so that a pod it would reject is refused here with a reason.</summary>
public static partial class KubernetesNames
{
    public const int MaxLabelLength = 63;

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1123LabelPattern();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1123SubdomainPattern();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex QualifiedNamePartPattern();

    public static bool IsDns1123Label(string value) =>
        value.Length is > 0 and <= MaxLabelLength && Dns1123LabelPattern().IsMatch(value);

    public static bool IsDns1123Subdomain(string value) =>
        value.Length is > 0 and <= 253 && Dns1123SubdomainPattern().IsMatch(value);

    /// <summary>A label value: empty, or up to 63 of <c>[A-Za-z0-9-_.]</c> starting and ending alphanumeric.</summary>
    public static bool IsLabelValue(string value) =>
        value.Length == 0 || (value.Length <= MaxLabelLength && QualifiedNamePartPattern().IsMatch(value));

    /// <summary>A label or annotation key: <c>[prefix/]name</c>, prefix a DNS subdomain, name up to 63 characters.</summary>
    public static bool IsQualifiedName(string value)
    {
        var slash = value.IndexOf('/');
        var name = slash < 0 ? value : value[(slash + 1)..];
        if (slash >= 0 && !IsDns1123Subdomain(value[..slash]))
        {
            return false;
        }

        return name.Length is > 0 and <= MaxLabelLength && QualifiedNamePartPattern().IsMatch(name);
    }

    /// <summary>GitLab Runner's <c>MakeRFC1123Compatible</c> for generated names: lowercase; characters outside
    /// <c>[a-z0-9-]</c> are dropped (not replaced); leading characters other than <c>[a-z0-9]</c> dropped; cut to
    /// <paramref name="maxLength"/>. Unlike GitLab Runner, trailing <c>-</c> are trimmed too, so the result is always a valid
    /// label (GitLab Runner appends a random suffix after it).</summary>
    public static string MakeRfc1123Compatible(string value, int maxLength = MaxLabelLength)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value.ToLowerInvariant())
        {
            if (c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
            {
                builder.Append(c);
            }
        }

        var result = builder.ToString().TrimStart('-');
        if (result.Length > maxLength)
        {
            result = result[..maxLength];
        }

        return result.TrimEnd('-');
    }

    /// <summary>Lowercase; every character outside <c>[a-z0-9-]</c> becomes <c>-</c>; leading and trailing <c>-</c> trimmed;
    /// cut to <paramref name="maxLength"/> and trimmed again. Only for the <c>scheduler/runner</c> label: running pods are
    /// found by it, so it keeps this form; generated names use <see cref="MakeRfc1123Compatible"/>.</summary>
    public static string ToRfc1123(string value, int maxLength = MaxLabelLength)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value.ToLowerInvariant())
        {
            builder.Append(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' ? c : '-');
        }

        var result = builder.ToString().Trim('-');
        if (result.Length > maxLength)
        {
            result = result[..maxLength].TrimEnd('-');
        }

        return result;
    }
}
