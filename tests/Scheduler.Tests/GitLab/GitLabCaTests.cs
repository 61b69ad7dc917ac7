using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Scheduler.Config;
using Scheduler.GitLab;
using Scheduler.Scheduler.Tests.Fleet;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary><c>tls-ca-file</c>: a GitLab certificate the system does not trust is accepted only when it chains to the
/// configured CA and no other check failed; the config refuses a file it cannot use.</summary>
public sealed class GitLabCaTests : IDisposable
{
    private readonly TestCertificates _ca = new("gitlab test CA");
    private readonly TestCertificates _other = new("another CA");

    public void Dispose()
    {
        _ca.Dispose();
        _other.Dispose();
    }

    [Theory]
    [InlineData(SslPolicyErrors.RemoteCertificateChainErrors, true, true)]
    [InlineData(SslPolicyErrors.RemoteCertificateChainErrors, false, false)]
    [InlineData(SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors, true, false)]
    [InlineData(SslPolicyErrors.RemoteCertificateNameMismatch, true, false)]
    [InlineData(SslPolicyErrors.None, false, true)]
    public void A_certificate_is_accepted_only_when_it_chains_to_the_configured_CA(SslPolicyErrors errors, bool issuedByConfiguredCa, bool accepted)
    {
        var (_, _, certificate) = (issuedByConfiguredCa ? _ca : _other).Issue("gitlab");
        var roots = GitLabCa.Parse(File.ReadAllText(_ca.CaPath));

        Assert.Equal(accepted, GitLabCa.Validate(roots, certificate, null, errors));
    }

    [Fact]
    public void No_certificate_is_never_accepted() =>
        Assert.False(GitLabCa.Validate(GitLabCa.Parse(File.ReadAllText(_ca.CaPath)), null, null, SslPolicyErrors.RemoteCertificateNotAvailable));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a certificate")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")]
    public void Text_without_a_certificate_gives_no_CA(string? pem) => Assert.Empty(GitLabCa.Parse(pem));

    [Fact]
    public void The_config_reads_the_CA_file_once()
    {
        var result = ConfigLoader.LoadText(Entry(_ca.CaPath), "config.toml");

        Assert.Empty(result.Errors);
        var runner = Assert.Single(result.Settings!.Runners);
        Assert.Equal(_ca.CaPath, runner.TlsCaFile);
        Assert.Equal(File.ReadAllText(_ca.CaPath), runner.TlsCaCertificates);
        Assert.DoesNotContain(result.Warnings, w => w.Message.Contains("tls-ca-file", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_or_empty_CA_file_is_a_config_error()
    {
        var empty = Path.Combine(_ca.Directory, "empty.crt");
        File.WriteAllText(empty, "no certificate here\n");

        Assert.Contains("cannot be read", Assert.Single(ConfigLoader.LoadText(Entry(Path.Combine(_ca.Directory, "missing.crt")), "config.toml").Errors).Message);
        Assert.Contains("holds no PEM certificate", Assert.Single(ConfigLoader.LoadText(Entry(empty), "config.toml").Errors).Message);
    }

    private static string Entry(string caPath) =>
        $"concurrent = 1\n[[runners]]\nname = \"r\"\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\ntls-ca-file = \"{caPath}\"\n";
}
