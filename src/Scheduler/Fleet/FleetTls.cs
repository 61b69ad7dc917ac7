using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Hosting;
using Akka.Remote.Transport.DotNetty;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

/// <summary>
/// Mutual TLS on the cluster port: every node presents its certificate (<c>[cluster] tls_certificate</c>/<c>tls_key</c>)
/// and accepts a peer, inbound or outbound, only when the peer's certificate chains to the fleet's CA
/// (<c>tls_ca</c>). Akka.Remote 1.5.73's DotNetty transport asks the client for its certificate
/// (<c>require-mutual-authentication</c>) and hands both sides' certificates to <see cref="PeerValidator"/>.
/// </summary>
public static class FleetTls
{
    /// <summary>This node's certificate (with its key) and the check every peer's certificate passes.</summary>
    public sealed record Material(X509Certificate2 Certificate, CertificateValidationCallback PeerCheck);

    public static bool Enabled(ClusterSettings cluster) => cluster.TlsCertificate is not null;

    /// <summary>Why this node must not start, or null: without TLS the cluster port may only listen on loopback, where no
    /// job pod can reach it.</summary>
    public static string? StartError(ClusterSettings cluster)
    {
        if (Enabled(cluster))
        {
            return cluster.TlsKey is null || cluster.TlsCa is null
                ? "[cluster] tls_certificate, tls_key and tls_ca go together: set all three or none"
                : null;
        }

        var bind = cluster.BindHost ?? cluster.Hostname ?? "127.0.0.1";
        if (cluster.Discovery.Length == 0 && IsLoopback(bind) && IsLoopback(cluster.Hostname ?? "127.0.0.1"))
        {
            return null;
        }

        return $"the cluster port would listen on \"{bind}\" without TLS, where anything on the network (a job pod too) could "
               + "join the fleet and send it messages; set [cluster] tls_certificate, tls_key and tls_ca (see docs/security.md) "
               + "or keep hostname and bind_host on 127.0.0.1";
    }

    /// <summary>True for <c>localhost</c> and loopback IP addresses; <c>0.0.0.0</c> and names are not.</summary>
    public static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    /// <summary>The TLS material from the PEM files of <paramref name="cluster"/>, or null without TLS; throws a clear
    /// error (InvalidOperationException) when a file is missing or does not hold what it should. Loaded before the
    /// ActorSystem starts, so that the error reaches the caller instead of a half-started host.</summary>
    public static Material? Load(ClusterSettings cluster) =>
        Enabled(cluster)
            ? new Material(LoadCertificate(cluster.TlsCertificate!, cluster.TlsKey!), PeerValidator(LoadCa(cluster.TlsCa!)))
            : null;

    /// <summary>Mutual TLS on <paramref name="remote"/>: this node's certificate, the client asked for its certificate,
    /// validation on (the peer check decides), host names not checked (nodes are addressed by pod IP).</summary>
    public static void ApplyTo(RemoteOptions remote, Material tls)
    {
        remote.EnableSsl = true;
        remote.Ssl.X509Certificate = tls.Certificate;
        remote.Ssl.SuppressValidation = false;
        remote.Ssl.RequireMutualAuthentication = true;
        remote.Ssl.ValidateCertificateHostname = false;
        remote.Ssl.CustomValidator = tls.PeerCheck;
    }

    /// <summary>Accepts a peer certificate only when it chains to one of <paramref name="roots"/>. The system's trust store
    /// plays no part (a certificate from a public CA is not a fleet node); host names are not checked because nodes are
    /// addressed by pod IP; membership in the fleet is having a certificate its CA issued.</summary>
    public static CertificateValidationCallback PeerValidator(X509Certificate2Collection roots) =>
        (certificate, chain, _, errors, log) =>
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            {
                log?.Warning("fleet TLS: a peer presented no certificate; refused");
                return false;
            }

            var intermediates = chain?.ChainElements.Select(e => e.Certificate).Skip(1).ToList() ?? [];
            if (ChainsTo(certificate, roots, intermediates))
            {
                return true;
            }

            log?.Warning("fleet TLS: a peer's certificate ({Subject}) is not issued by the fleet's CA; refused", certificate.Subject);
            return false;
        };

    /// <summary>Whether <paramref name="certificate"/> chains to one of <paramref name="roots"/> (custom root trust, no
    /// revocation lookups: the nodes have no network path to a CRL and the CA is the fleet's own).</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots,
        IReadOnlyList<X509Certificate2> intermediates)
    {
        if (roots.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
        return chain.Build(certificate);
    }

    private static X509Certificate2 LoadCertificate(string certificatePath, string keyPath)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // A PEM key is ephemeral; SslStream wants a certificate whose key it can use as a server: go through PKCS#12.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException
                                       or ArgumentException)
        {
            throw new InvalidOperationException(
                $"[cluster] tls_certificate \"{certificatePath}\" with tls_key \"{keyPath}\" cannot be loaded: {e.Message}", e);
        }
    }

    private static X509Certificate2Collection LoadCa(string path)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"[cluster] tls_ca \"{path}\" cannot be loaded: {e.Message}", e);
        }

        return roots.Count > 0 ? roots : throw new InvalidOperationException($"[cluster] tls_ca \"{path}\" holds no certificate");
    }
}
