using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Scheduler.GitLab;

/// <summary>The client certificate a runner entry presents to a GitLab that asks for one (<c>tls-cert-file</c> and
/// <c>tls-key-file</c>, as in GitLab Runner); in a job's pod the helper finds them through <c>CI_SERVER_TLS_CERT_FILE</c>
/// and <c>CI_SERVER_TLS_KEY_FILE</c>.</summary>
public static class GitLabClientCertificate
{
    /// <summary>The job variable that names the certificate file in a job's pod, as in GitLab Runner.</summary>
    public const string CertificateVariable = "CI_SERVER_TLS_CERT_FILE";

    /// <summary>The job variable that names the key file in a job's pod, as in GitLab Runner.</summary>
    public const string KeyVariable = "CI_SERVER_TLS_KEY_FILE";

    /// <summary>The certificate with its key, or null with the reason when the two texts are not a PEM certificate and
    /// its private key.</summary>
    public static X509Certificate2? FromPem(string certificatePem, string keyPem, out string? error)
    {
        try
        {
            error = null;
            return X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (CryptographicException e)
        {
            error = e.Message;
            return null;
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>The certificate the files <see cref="CertificateVariable"/> and <see cref="KeyVariable"/> name, or null
    /// (unset, unreadable, not a certificate and its key).</summary>
    public static X509Certificate2? FromJobEnvironment()
    {
        var certificatePath = Environment.GetEnvironmentVariable(CertificateVariable);
        var keyPath = Environment.GetEnvironmentVariable(KeyVariable);
        if (string.IsNullOrEmpty(certificatePath) || string.IsNullOrEmpty(keyPath))
        {
            return null;
        }

        try
        {
            return FromPem(File.ReadAllText(certificatePath), File.ReadAllText(keyPath), out _);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
