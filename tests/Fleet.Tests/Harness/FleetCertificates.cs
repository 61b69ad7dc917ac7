using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>A test fleet's CA and one node certificate (server and client usage) as PEM files, for <c>[cluster] tls_*</c>.</summary>
public sealed record FleetCertificates(string Certificate, string Key, string Ca)
{
    public static FleetCertificates Write(string directory)
    {
        Directory.CreateDirectory(directory);
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=fleet tests CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=fleet test node", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10),
            RandomNumberGenerator.GetBytes(8));

        var files = new FleetCertificates(Path.Combine(directory, "tls.crt"), Path.Combine(directory, "tls.key"),
            Path.Combine(directory, "ca.crt"));
        File.WriteAllText(files.Certificate, issued.ExportCertificatePem());
        File.WriteAllText(files.Key, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.Ca, ca.ExportCertificatePem());
        return files;
    }
}
