namespace Scheduler.GitLab;

/// <summary>Turns the <c>url</c> of a runner entry into the base of the runner API, as GitLab Runner does: the trailing
/// <c>/</c> and a legacy <c>/ci</c> suffix are removed, then <c>/api/v4/</c> is appended. Only http and https are accepted.</summary>
public static class GitLabUrl
{
    public static bool TryApiBase(string? url, out Uri apiBase, out string error)
    {
        apiBase = null!;
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var parsed))
        {
            error = $"invalid GitLab URL '{url}': expected an absolute http or https URL";
            return false;
        }

        if (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
        {
            error = $"invalid GitLab URL '{url}': only http and https are supported";
            return false;
        }

        var path = parsed.AbsolutePath.TrimEnd('/');
        if (path.EndsWith("/ci", StringComparison.Ordinal))
        {
            path = path[..^3];
        }

        var builder = new UriBuilder(parsed) { Path = path + "/api/v4/", Query = "", Fragment = "" };
        apiBase = builder.Uri;
        error = "";
        return true;
    }
}
