using System.Net;

namespace Scheduler.GitLab;

/// <summary>The HttpClient GitLab calls go through, with GitLab Runner's transport settings: gzip, 30 s connect,
/// connections recycled after <c>connection_max_age</c> (15 minutes by default), a 60-minute overall limit (long polls and artifact transfers fit), and at most
/// 16 MiB for an answer read into memory. Redirects are followed by <see cref="CredentialSafeRedirects"/>, which keeps
/// the job token to GitLab's own origin.</summary>
public static class GitLabHttp
{
    /// <summary>GitLab Runner's default <c>connection_max_age</c>.</summary>
    public static readonly TimeSpan DefaultConnectionMaxAge = TimeSpan.FromMinutes(15);

    /// <param name="caCertificates">PEM certificates GitLab's certificate may also chain to (<c>tls-ca-file</c>). Without
    /// them, the CAs of the file <c>CI_SERVER_TLS_CA_FILE</c> names are used when that variable is set: so the helper,
    /// in a job's pod, trusts the CA the runner handed the job, as GitLab Runner's helper does.</param>
    /// <param name="connectionMaxAge">How long a connection may be reused (<c>connection_max_age</c>); null: the default.</param>
    /// <param name="clientCertificate">Presented when GitLab asks for a client certificate (<c>tls-cert-file</c>); without
    /// it, the one <c>CI_SERVER_TLS_CERT_FILE</c>/<c>CI_SERVER_TLS_KEY_FILE</c> name in a job's pod, if any.</param>
    public static HttpClient CreateClient(string? caCertificates = null, TimeSpan? connectionMaxAge = null,
        System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate = null) =>
        new(new CredentialSafeRedirects(new SocketsHttpHandler
        {
            // The handler's own redirects would carry JOB-TOKEN to any host a redirect names.
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.All,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            // A connection older than this is not reused (a load balancer's view of GitLab can change).
            PooledConnectionLifetime = connectionMaxAge is { } age && age > TimeSpan.Zero ? age : DefaultConnectionMaxAge,
            ResponseDrainTimeout = TimeSpan.FromSeconds(10),
            SslOptions = WithClientCertificate(GitLabCa.SslOptions(caCertificates ?? GitLabCa.FromJobEnvironment()),
                clientCertificate ?? GitLabClientCertificate.FromJobEnvironment()),
        }))
        {
            Timeout = TimeSpan.FromMinutes(60),
            // Buffered answers (everything but artifact downloads, which stream) are small; a huge one is an error, not memory.
            MaxResponseContentBufferSize = MaxBufferedResponseBytes,
        };

    public const int MaxBufferedResponseBytes = 16 * 1024 * 1024;

    private static System.Net.Security.SslClientAuthenticationOptions WithClientCertificate(
        System.Net.Security.SslClientAuthenticationOptions options, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate)
    {
        if (certificate is not null)
        {
            options.ClientCertificates = [certificate];
        }

        return options;
    }
}
