using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s.Authentication;
using Scheduler.Kubernetes;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Kubernetes;

public sealed class KubernetesConnectionTests : IDisposable
{
    private const string ConfigToken = "config-token-value";
    private const string JobToken = "job-token-value";

    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private KubernetesEnvironment Environment(Dictionary<string, string>? variables = null, string? home = null) =>
        new(variables ?? new Dictionary<string, string>(), home ?? Path.Combine(_directory.Path, "empty-home"),
            Path.Combine(_directory.Path, "serviceaccount"));

    private static string CertificatePem()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=test-ca", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return certificate.ExportCertificatePem();
    }

    private string Kubeconfig(string name, string server, string token) => _directory.Write(name, $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: {server}
            insecure-skip-tls-verify: true
        users:
        - name: tester
          user:
            token: {token}
        contexts:
        - name: test-context
          context:
            cluster: test
            user: tester
            namespace: ci
        current-context: test-context
        """);

    [Fact]
    public void Host_with_client_certificate_and_ca()
    {
        var settings = new KubernetesSettings
        {
            Host = "https://45.67.34.123:4892",
            CertFile = _directory.Write("api.crt", CertificatePem()),
            KeyFile = _directory.Write("api.key", "key"),
            CaFile = _directory.Write("ca.crt", CertificatePem()),
        };

        var connection = KubernetesConnectionResolver.Resolve(settings, Environment());

        Assert.Equal(KubernetesConnectionSource.ConfiguredHost, connection.Source);
        Assert.Null(connection.Error);
        var configuration = connection.Configuration!;
        Assert.Equal("https://45.67.34.123:4892", configuration.Host);
        Assert.Equal(settings.CertFile, configuration.ClientCertificateFilePath);
        Assert.Equal(settings.KeyFile, configuration.ClientKeyFilePath);
        Assert.Equal("CN=test-ca", Assert.Single(configuration.SslCaCerts!).Subject);
        Assert.Null(configuration.AccessToken);
        Assert.Contains(settings.CertFile, connection.Description);
        Assert.Contains(settings.CaFile, connection.Description);
    }

    [Theory]
    [InlineData(null, ConfigToken, "bearer token from config")]
    [InlineData(JobToken, JobToken, "bearer token from the job")]
    public void Host_with_bearer_token_which_the_job_overwrite_replaces(string? overwrite, string expectedToken, string expectedSource)
    {
        var settings = new KubernetesSettings { Host = "10.0.0.5:6443", BearerToken = ConfigToken };

        var connection = KubernetesConnectionResolver.Resolve(settings, Environment(), bearerTokenOverwrite: overwrite);

        Assert.Equal("https://10.0.0.5:6443", connection.Configuration!.Host);
        Assert.Equal(expectedToken, connection.Configuration.AccessToken);
        Assert.Contains(expectedSource, connection.Description);
        Assert.DoesNotContain(ConfigToken, connection.Description);
        Assert.DoesNotContain(JobToken, connection.Description);
    }

    [Theory]
    [InlineData(true, false, "ca file, cert file and key file must be specified")]
    [InlineData(false, true, "ca file, cert file and key file must be specified")]
    public void Host_with_incomplete_file_auth_is_an_error(bool withKey, bool withCa, string error)
    {
        var settings = new KubernetesSettings
        {
            Host = "https://k8s:6443",
            CertFile = _directory.Write("api.crt", CertificatePem()),
            KeyFile = withKey ? _directory.Write("api.key", "key") : null,
            CaFile = withCa ? _directory.Write("ca.crt", CertificatePem()) : null,
        };

        var connection = KubernetesConnectionResolver.Resolve(settings, Environment());

        Assert.Equal(KubernetesConnectionSource.ConfiguredHost, connection.Source);
        Assert.Null(connection.Configuration);
        Assert.Contains(error, connection.Error);
    }

    [Fact]
    public void Host_with_a_ca_file_that_holds_no_certificate_is_an_error()
    {
        var settings = new KubernetesSettings { Host = "https://k8s:6443", CaFile = _directory.Write("ca.crt", "not a certificate") };

        var connection = KubernetesConnectionResolver.Resolve(settings, Environment());

        Assert.Null(connection.Configuration);
        Assert.Contains("cannot load ca_file", connection.Error);
    }

    [Theory]
    [InlineData(null, "service account token")]
    [InlineData(JobToken, "bearer token from the job")]
    public void In_cluster_when_running_in_a_pod(string? overwrite, string tokenSource)
    {
        _directory.Write("serviceaccount/token", "sa-token");
        _directory.Write("serviceaccount/ca.crt", CertificatePem());
        _directory.Write("serviceaccount/namespace", "runners\n");
        var variables = new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1", ["KUBERNETES_SERVICE_PORT"] = "443" };
        Kubeconfig("kubeconfig", "https://elsewhere:6443", "kc-token");
        variables["KUBECONFIG"] = Path.Combine(_directory.Path, "kubeconfig");

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment(variables), bearerTokenOverwrite: overwrite);

        Assert.Equal(KubernetesConnectionSource.InCluster, connection.Source);
        var configuration = connection.Configuration!;
        Assert.Equal("https://10.96.0.1:443", configuration.Host);
        Assert.Equal("runners", configuration.Namespace);
        Assert.Single(configuration.SslCaCerts!);
        if (overwrite is null)
        {
            Assert.IsType<TokenFileAuth>(configuration.TokenProvider);
        }
        else
        {
            Assert.Equal(JobToken, configuration.AccessToken);
            Assert.Null(configuration.TokenProvider);
        }

        Assert.Contains(tokenSource, connection.Description);
        Assert.DoesNotContain("sa-token", connection.Description);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void In_cluster_needs_both_the_service_variables_and_the_token_file(bool withVariables, bool withToken)
    {
        if (withToken)
        {
            _directory.Write("serviceaccount/token", "sa-token");
        }

        var variables = withVariables
            ? new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1", ["KUBERNETES_SERVICE_PORT"] = "443" }
            : new Dictionary<string, string>();

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment(variables));

        Assert.Equal(KubernetesConnectionSource.None, connection.Source);
    }

    [Fact]
    public void Kubeconfig_from_the_KUBECONFIG_variable()
    {
        var path = Kubeconfig("kubeconfig", "https://k.example:6443", "kc-token");
        var variables = new Dictionary<string, string> { ["KUBECONFIG"] = Path.Combine(_directory.Path, "missing") + Path.PathSeparator + path };

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment(variables));

        Assert.Equal(KubernetesConnectionSource.Kubeconfig, connection.Source);
        Assert.Equal("https://k.example:6443", connection.Configuration!.Host);
        Assert.Equal("kc-token", connection.Configuration.AccessToken);
        Assert.Equal("ci", connection.Configuration.Namespace);
        Assert.Contains(path, connection.Description);
        Assert.Contains("KUBECONFIG", connection.Description);
        Assert.DoesNotContain("kc-token", connection.Description);
    }

    [Fact]
    public void An_explicit_kubeconfig_path_wins_over_KUBECONFIG_and_home()
    {
        var fromVariable = Kubeconfig("from-variable", "https://variable:6443", "t1");
        var explicitPath = Kubeconfig("explicit", "https://explicit:6443", "t2");
        var home = Path.Combine(_directory.Path, "home");
        Kubeconfig("home/.kube/config", "https://home:6443", "t3");

        var connection = KubernetesConnectionResolver.Resolve(
            new KubernetesSettings(), Environment(new Dictionary<string, string> { ["KUBECONFIG"] = fromVariable }, home), explicitPath);

        Assert.Equal("https://explicit:6443", connection.Configuration!.Host);
        Assert.Contains(explicitPath, connection.Description);
    }

    [Fact]
    public void Kubeconfig_from_the_home_directory_with_the_job_token()
    {
        var home = Path.Combine(_directory.Path, "home");
        Kubeconfig("home/.kube/config", "https://home:6443", "kc-token");

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment(home: home), bearerTokenOverwrite: JobToken);

        Assert.Equal("https://home:6443", connection.Configuration!.Host);
        Assert.Equal(JobToken, connection.Configuration.AccessToken);
        Assert.DoesNotContain(JobToken, connection.Description);
    }

    [Theory]
    [InlineData("missing", "does not exist")]
    [InlineData("broken", "cannot use the kubeconfig")]
    public void An_unusable_explicit_kubeconfig_is_an_error(string name, string error)
    {
        if (name == "broken")
        {
            _directory.Write(name, "this: [is not a kubeconfig");
        }

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment(), Path.Combine(_directory.Path, name));

        Assert.Equal(KubernetesConnectionSource.Kubeconfig, connection.Source);
        Assert.Null(connection.Configuration);
        Assert.Contains(error, connection.Error);
    }

    [Fact]
    public void None_when_nothing_is_configured()
    {
        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings(), Environment());

        Assert.Equal(KubernetesConnectionSource.None, connection.Source);
        Assert.Null(connection.Configuration);
        Assert.Null(connection.Error);
        Assert.False(connection.IsConfigured);
        Assert.Equal("none configured", connection.Description);
    }
}
