using System.Net;
using System.Security.Cryptography;
using System.Text;
using Scheduler.LocalCluster.Resources;

namespace Scheduler.LocalCluster.Api;

/// <summary>
/// What a request must bring before the embedded API looks at it, so that the default cluster is no backdoor for anything
/// else on the machine: the bearer token of the kubeconfig the server wrote; a <c>Host</c> that is an IP address or
/// <c>localhost</c> (a web page that rebinds its own DNS name to 127.0.0.1 sends its name); and on writes a JSON (or
/// Kubernetes protobuf) body, which a cross-site form cannot send. Health and version stay open, as on kube-apiserver.
/// </summary>
internal static class RequestGuard
{
    private static readonly HashSet<string> OpenPaths = new(StringComparer.Ordinal) { "/healthz", "/readyz", "/livez", "/version" };

    /// <summary>A fresh token: 32 random bytes, URL-safe base64.</summary>
    public static string NewToken() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The refusal for this request, or null when it may go on.</summary>
    public static ApiException? Check(string method, string path, string? host, string? authorization, string? contentType,
        bool hasBody, string token)
    {
        if (!HostIsAddress(host))
        {
            return new ApiException(403, "Forbidden", $"host \"{Truncate(host ?? "")}\" is not served: use the address in the kubeconfig");
        }

        var trimmed = path.TrimEnd('/');
        if (!OpenPaths.Contains(trimmed) && !OpenPaths.Any(p => trimmed.StartsWith(p + "/", StringComparison.Ordinal))
            && !TokenMatches(authorization, token))
        {
            return new ApiException(401, "Unauthorized", "Unauthorized");
        }

        var write = method is "POST" or "PUT" or "PATCH" || (method == "DELETE" && hasBody);
        return write && !IsJsonLike(contentType)
            ? new ApiException(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/json (got \"{Truncate(contentType ?? "")}\")")
            : null;
    }

    /// <summary>An IP literal (with or without a port) or <c>localhost</c>; any other name is refused.</summary>
    public static bool HostIsAddress(string? host)
    {
        if (string.IsNullOrEmpty(host))
        {
            return false;
        }

        var name = host.StartsWith('[') ? host[..(host.IndexOf(']') + 1)] : host.Split(':')[0];
        if (host.Count(c => c == ':') > 1 && !host.StartsWith('['))
        {
            name = host; // a bare IPv6 address
        }

        return name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(name.Trim('[', ']'), out _);
    }

    public static bool TokenMatches(string? authorization, string token)
    {
        const string bearer = "Bearer ";
        if (authorization is null || !authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(authorization[bearer.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(token));
    }

    /// <summary>application/json, any application/…+json (merge, strategic merge, JSON patch), apply-patch YAML (answered
    /// later with its own error) and Kubernetes protobuf (kubectl create).</summary>
    private static bool IsJsonLike(string? contentType)
    {
        var media = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        return media is "application/json" or "application/apply-patch+yaml" or ProtobufObjects.ContentType
               || (media.StartsWith("application/", StringComparison.Ordinal) && media.EndsWith("+json", StringComparison.Ordinal));
    }

    private static string Truncate(string text) => text.Length <= 100 ? text : text[..100] + "…";
}
