using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>A throw-away CA and the certificates it issues, written as PEM files the way an operator mounts them.</summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly RSA _caKey = RSA.Create(2048);

    public TestCertificates(string name = "fleet test CA")
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("fleet-tls-").FullName;
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(Directory, "ca.crt");
        File.WriteAllText(CaPath, Ca.ExportCertificatePem());
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    public string CaPath { get; }

    /// <summary>A node certificate issued by this CA: (certificate PEM path, key PEM path, certificate).</summary>
    public (string Certificate, string Key, X509Certificate2 Issued) Issue(string node)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={node}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var subjectNames = new SubjectAlternativeNameBuilder();
        subjectNames.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(subjectNames.Build());
        var serial = RandomNumberGenerator.GetBytes(8);
        using var issued = request.Create(Ca.SubjectName, X509SignatureGenerator.CreateForRSA(_caKey, RSASignaturePadding.Pkcs1),
            DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        var certificatePath = Path.Combine(Directory, $"{node}.crt");
        var keyPath = Path.Combine(Directory, $"{node}.key");
        File.WriteAllText(certificatePath, issued.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath, X509CertificateLoader.LoadCertificate(issued.RawData));
    }

    public void Dispose()
    {
        _caKey.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
