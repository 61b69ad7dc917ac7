using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Scheduler.GitLab;

/// <summary>A custom CA for a self-managed GitLab (<c>tls-ca-file</c>, <c>CI_SERVER_TLS_CA_FILE</c>): a certificate the
/// system does not trust is accepted when it chains to one of these CAs; a name mismatch is never accepted.</summary>
public static class GitLabCa
{
    /// <summary>The job variable that names the CA file in a job's pod, as in GitLab Runner.</summary>
    public const string JobVariable = "CI_SERVER_TLS_CA_FILE";

    /// <summary>TLS options trusting <paramref name="pem"/>'s certificates besides the system's; default options when null.</summary>
    public static SslClientAuthenticationOptions SslOptions(string? pem)
    {
        var roots = Parse(pem);
        return roots.Count == 0
            ? new SslClientAuthenticationOptions()
            : new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(roots, certificate, chain, errors) };
    }

    /// <summary>The certificates of a PEM text; none for null, empty or unreadable text.</summary>
    public static X509Certificate2Collection Parse(string? pem)
    {
        var roots = new X509Certificate2Collection();
        if (string.IsNullOrWhiteSpace(pem))
        {
            return roots;
        }

        try
        {
            roots.ImportFromPem(pem);
        }
        catch (CryptographicException)
        {
            roots.Clear();
        }

        return roots;
    }

    /// <summary>The content of the file <see cref="JobVariable"/> names, or null (unset, unreadable).</summary>
    public static string? FromJobEnvironment()
    {
        var path = Environment.GetEnvironmentVariable(JobVariable);
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static bool Validate(X509Certificate2Collection roots, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
        {
            return false; // a wrong name or no certificate: no CA makes that right
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(leaf);
    }
}
