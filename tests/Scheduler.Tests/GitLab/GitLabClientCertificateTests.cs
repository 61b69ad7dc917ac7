using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Scheduler.Actors.Scripts;
using Scheduler.Config;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Scheduler.Tests.Fleet;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary><c>tls-cert-file</c>/<c>tls-key-file</c>: the runner presents the certificate to a GitLab that asks for one,
/// the config refuses a pair it cannot use, and a job gets the pair as file variables with the key never public.</summary>
public sealed class GitLabClientCertificateTests : IDisposable
{
    private readonly TestCertificates _ca = new("gitlab test CA");

    public void Dispose() => _ca.Dispose();

    [Fact]
    public async Task The_runner_presents_its_certificate_to_a_GitLab_that_requires_one()
    {
        var (certificatePath, keyPath, _) = _ca.Issue("runner-one");
        using var server = new ClientCertificateServer(_ca);
        var config = ConfigLoader.LoadText(Entry(certificatePath, keyPath), "config.toml");
        var runner = Assert.Single(config.Settings!.Runners);
        using var certificate = GitLabClientCertificate.FromPem(runner.TlsClientCertificate!, runner.TlsClientKey!, out _);

        using var http = GitLabHttp.CreateClient(File.ReadAllText(_ca.CaPath), clientCertificate: certificate);
        var answer = await http.GetStringAsync(server.Url);

        Assert.Equal("ok", answer);
        Assert.Equal("CN=runner-one", server.SeenSubject);
    }

    [Fact]
    public async Task Without_a_certificate_a_GitLab_that_requires_one_refuses_the_connection()
    {
        using var server = new ClientCertificateServer(_ca);

        using var http = GitLabHttp.CreateClient(File.ReadAllText(_ca.CaPath));

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync(server.Url));
        Assert.Null(server.SeenSubject);
    }

    [Fact]
    public void The_config_reads_both_files_once_and_never_prints_the_key()
    {
        var (certificatePath, keyPath, _) = _ca.Issue("runner-one");

        var result = ConfigLoader.LoadText(Entry(certificatePath, keyPath), "config.toml");

        Assert.Empty(result.Errors);
        var runner = Assert.Single(result.Settings!.Runners);
        Assert.Equal(File.ReadAllText(certificatePath), runner.TlsClientCertificate);
        Assert.Equal(File.ReadAllText(keyPath), runner.TlsClientKey);
        Assert.DoesNotContain(result.Warnings, w => w.Message.Contains("tls-cert-file", StringComparison.Ordinal));
        Assert.DoesNotContain("PRIVATE KEY", runner.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_pair_the_runner_cannot_use_is_a_config_error_naming_the_key()
    {
        var (certificatePath, keyPath, _) = _ca.Issue("runner-one");
        var (_, otherKeyPath, _) = _ca.Issue("runner-two");
        var missing = Path.Combine(_ca.Directory, "missing.key");

        Assert.Contains("needs tls-key-file as well", OnlyError($"tls-cert-file = \"{certificatePath}\"\n"));
        Assert.Contains("needs tls-cert-file as well", OnlyError($"tls-key-file = \"{keyPath}\"\n"));
        Assert.Contains("cannot be read", OnlyError($"tls-cert-file = \"{certificatePath}\"\ntls-key-file = \"{missing}\"\n"));
        Assert.Contains("not a PEM certificate and its private key", OnlyError($"tls-cert-file = \"{certificatePath}\"\ntls-key-file = \"{otherKeyPath}\"\n"));
        Assert.Contains("not a PEM certificate and its private key", OnlyError($"tls-cert-file = \"{_ca.CaPath}\"\ntls-key-file = \"{keyPath}\"\n"));
    }

    [Fact]
    public void A_job_gets_the_certificate_public_and_the_key_as_a_secret_file()
    {
        var (certificatePath, keyPath, _) = _ca.Issue("runner-one");
        var runner = Assert.Single(ConfigLoader.LoadText(Entry(certificatePath, keyPath), "config.toml").Settings!.Runners);

        var job = JobScripts.WithServerCa(new JobPayload { Id = 1, Token = "t" }, runner);

        var certificate = Assert.Single(job.Variables, v => v.Key == "CI_SERVER_TLS_CERT_FILE");
        var key = Assert.Single(job.Variables, v => v.Key == "CI_SERVER_TLS_KEY_FILE");
        Assert.True(certificate is { Public: true, File: true });
        Assert.True(key is { Public: false, File: true });
        Assert.Equal(File.ReadAllText(keyPath), key.Value);
    }

    private static string OnlyError(string keys) =>
        Assert.Single(ConfigLoader.LoadText(
            $"concurrent = 1\n[[runners]]\nname = \"r\"\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n{keys}", "config.toml").Errors).Message;

    private static string Entry(string certificatePath, string keyPath) =>
        $"concurrent = 1\n[[runners]]\nname = \"r\"\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n" +
        $"tls-cert-file = \"{certificatePath}\"\ntls-key-file = \"{keyPath}\"\n";

    /// <summary>An HTTPS server on loopback that requires a client certificate issued by the test CA and answers "ok".</summary>
    private sealed class ClientCertificateServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2 _certificate;
        private readonly X509Certificate2 _ca;

        public ClientCertificateServer(TestCertificates ca)
        {
            var (certificatePath, keyPath, _) = ca.Issue("gitlab");
            _certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            _ca = ca.Ca;
            _listener.Start();
            Url = $"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/api/v4/version";
            _ = ServeAsync();
        }

        public string Url { get; }

        public string? SeenSubject { get; private set; }

        public void Dispose()
        {
            _listener.Stop();
            _certificate.Dispose();
        }

        private async Task ServeAsync()
        {
            while (true)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }

                using (client)
                {
                    try
                    {
                        await using var tls = new SslStream(client.GetStream());
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                        {
                            ServerCertificate = _certificate,
                            ClientCertificateRequired = true,
                            RemoteCertificateValidationCallback = (_, certificate, _, _) => IssuedByCa(certificate),
                        });
                        SeenSubject = tls.RemoteCertificate?.Subject;
                        var buffer = new byte[4096];
                        var request = new StringBuilder();
                        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                        {
                            var read = await tls.ReadAsync(buffer);
                            if (read == 0)
                            {
                                break;
                            }

                            request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        }

                        await tls.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray());
                    }
                    catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
                    {
                        // A client without an acceptable certificate: the handshake fails, which is the point.
                    }
                }
            }
        }

        private bool IssuedByCa(X509Certificate? certificate)
        {
            if (certificate is null)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        }
    }
}
