using System.Net;

namespace Scheduler.GitLab;

/// <summary>
/// Follows redirects for GitLab calls (the HTTP handler's own following is off) without carrying credentials to another
/// origin: the <c>JOB-TOKEN</c>, <c>RUNNER-TOKEN</c>, <c>PRIVATE-TOKEN</c> and <c>Authorization</c> headers go only to the scheme, host and port
/// they were meant for (GitLab sends artifact downloads on to object storage with a signed URL that needs none). A
/// redirect that would send a body elsewhere (307/308 of a POST: a runner token in JSON, an archive) or leave https for
/// http is not followed: its answer is returned as it is. At most <see cref="MaxRedirects"/> are followed.
/// </summary>
public sealed class CredentialSafeRedirects : DelegatingHandler
{
    public const int MaxRedirects = 10;

    private static readonly string[] CredentialHeaders = ["JOB-TOKEN", "PRIVATE-TOKEN", "RUNNER-TOKEN", "Authorization"];

    public CredentialSafeRedirects()
    {
    }

    public CredentialSafeRedirects(HttpMessageHandler inner) : base(inner)
    {
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        for (var hops = 0; hops < MaxRedirects && Next(request, response) is { } next; hops++)
        {
            response.Dispose();
            request = next;
            response = await base.SendAsync(request, cancellationToken);
        }

        return response;
    }

    /// <summary>The request a redirect asks for, or null when it is not followed. Pure.</summary>
    internal static HttpRequestMessage? Next(HttpRequestMessage request, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status is not (301 or 302 or 303 or 307 or 308) || response.Headers.Location is not { } location || request.RequestUri is not { } from)
        {
            return null;
        }

        var to = location.IsAbsoluteUri ? location : new Uri(from, location);
        if (to.Scheme != Uri.UriSchemeHttp && to.Scheme != Uri.UriSchemeHttps
            || from.Scheme == Uri.UriSchemeHttps && to.Scheme == Uri.UriSchemeHttp)
        {
            return null;
        }

        var sameOrigin = string.Equals(from.Scheme, to.Scheme, StringComparison.OrdinalIgnoreCase)
                         && string.Equals(from.IdnHost, to.IdnHost, StringComparison.OrdinalIgnoreCase) && from.Port == to.Port;
        // 303, and 301/302 of a POST, become a GET without a body, as browsers and .NET do; 307/308 keep both.
        var keepsMethod = status is 307 or 308 || (status is 301 or 302 && request.Method != HttpMethod.Post);
        var method = keepsMethod ? request.Method : request.Method == HttpMethod.Head ? HttpMethod.Head : HttpMethod.Get;
        var content = keepsMethod ? request.Content : null;
        if (content is not null && !sameOrigin)
        {
            return null;
        }

        var next = new HttpRequestMessage(method, to) { Version = request.Version, VersionPolicy = request.VersionPolicy, Content = content };
        foreach (var (name, values) in request.Headers)
        {
            if (sameOrigin || !CredentialHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                next.Headers.TryAddWithoutValidation(name, values);
            }
        }

        return next;
    }
}
