using System.Security.Cryptography.X509Certificates;
using k8s;
using k8s.Authentication;
using Scheduler.Messages.Settings;

namespace Scheduler.Kubernetes;

/// <summary>Where the connection to the Kubernetes API comes from.</summary>
public enum KubernetesConnectionSource
{
    /// <summary><c>host</c> (with <c>cert_file</c>/<c>key_file</c>/<c>ca_file</c> and <c>bearer_token</c>) in config.toml.</summary>
    ConfiguredHost,

    /// <summary>The pod's service account, when the runner itself runs in a Kubernetes pod.</summary>
    InCluster,

    /// <summary>A kubeconfig file: an explicit path, else <c>KUBECONFIG</c>, else <c>~/.kube/config</c>.</summary>
    Kubeconfig,

    /// <summary>Nothing configured: the caller may start the embedded cluster.</summary>
    None,
}

/// <summary>
/// The resolved connection. <see cref="Configuration"/> is null when nothing is configured or when the configured
/// source is unusable (<see cref="Error"/> says why). <see cref="Description"/> is safe to log: it never holds a token.
/// </summary>
public sealed record KubernetesConnection(
    KubernetesConnectionSource Source,
    KubernetesClientConfiguration? Configuration,
    string Description,
    string? Error = null)
{
    public bool IsConfigured => Configuration is not null;
}

/// <summary>What the resolver may look at besides the settings: environment variables, the home directory and the service-account mount.</summary>
public sealed record KubernetesEnvironment(
    IReadOnlyDictionary<string, string> Variables,
    string? HomeDirectory,
    string ServiceAccountDirectory = KubernetesEnvironment.DefaultServiceAccountDirectory)
{
    public const string DefaultServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    /// <summary>The environment of this process.</summary>
    public static KubernetesEnvironment FromProcess()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                variables[key] = value;
            }
        }

        var home = System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        return new KubernetesEnvironment(variables, home.Length == 0 ? null : home);
    }

    public string? Variable(string name) =>
        Variables.TryGetValue(name, out var value) && value.Length > 0 ? value : null;
}

/// <summary>Resolves the Kubernetes connection the way GitLab Runner's Kubernetes executor does.</summary>
public static class KubernetesConnectionResolver
{
    /// <param name="settings">The runner's <c>[runners.kubernetes]</c> settings.</param>
    /// <param name="environment">Environment variables, home directory and service-account directory.</param>
    /// <param name="kubeconfigPath">An explicit kubeconfig (e.g. from a command-line flag), used before <c>KUBECONFIG</c>.</param>
    /// <param name="bearerTokenOverwrite">
    /// The job's <c>KUBERNETES_BEARER_TOKEN</c>, already checked against <c>bearer_token_overwrite_allowed</c>; when set it
    /// replaces the token of every source, as GitLab Runner does.
    /// </param>
    public static KubernetesConnection Resolve(
        KubernetesSettings settings,
        KubernetesEnvironment environment,
        string? kubeconfigPath = null,
        string? bearerTokenOverwrite = null)
    {
        var overwrite = string.IsNullOrEmpty(bearerTokenOverwrite) ? null : bearerTokenOverwrite;
        if (!string.IsNullOrEmpty(settings.Host))
        {
            return FromHost(settings, overwrite);
        }

        var serviceHost = environment.Variable("KUBERNETES_SERVICE_HOST");
        var servicePort = environment.Variable("KUBERNETES_SERVICE_PORT");
        var tokenPath = Path.Combine(environment.ServiceAccountDirectory, "token");
        if (serviceHost is not null && servicePort is not null && File.Exists(tokenPath))
        {
            return InCluster(serviceHost, servicePort, environment.ServiceAccountDirectory, overwrite);
        }

        if (!string.IsNullOrEmpty(kubeconfigPath))
        {
            return File.Exists(kubeconfigPath)
                ? FromKubeconfig(kubeconfigPath, "kubeconfig " + kubeconfigPath, settings.Context, overwrite)
                : Failed(KubernetesConnectionSource.Kubeconfig, "kubeconfig " + kubeconfigPath, "the kubeconfig file does not exist");
        }

        if (environment.Variable("KUBECONFIG") is { } list)
        {
            // KUBECONFIG may list several files; the first one that exists is used.
            var first = list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(File.Exists);
            if (first is not null)
            {
                return FromKubeconfig(first, $"kubeconfig {first} (from KUBECONFIG)", settings.Context, overwrite);
            }
        }

        if (environment.HomeDirectory is { } home && Path.Combine(home, ".kube", "config") is var homeConfig && File.Exists(homeConfig))
        {
            return FromKubeconfig(homeConfig, "kubeconfig " + homeConfig, settings.Context, overwrite);
        }

        return new KubernetesConnection(KubernetesConnectionSource.None, null, "none configured");
    }

    private static KubernetesConnection FromHost(KubernetesSettings settings, string? overwrite)
    {
        var host = settings.Host!.Contains("://", StringComparison.Ordinal) ? settings.Host : "https://" + settings.Host;
        var description = new List<string>();
        var configuration = new KubernetesClientConfiguration { Host = host };

        if (!string.IsNullOrEmpty(settings.CertFile))
        {
            if (string.IsNullOrEmpty(settings.KeyFile) || string.IsNullOrEmpty(settings.CaFile))
            {
                return Failed(KubernetesConnectionSource.ConfiguredHost, "host " + host,
                    "ca file, cert file and key file must be specified when using file based auth");
            }

            foreach (var file in new[] { settings.CertFile, settings.KeyFile })
            {
                if (!File.Exists(file))
                {
                    return Failed(KubernetesConnectionSource.ConfiguredHost, "host " + host, $"file {file} does not exist");
                }
            }

            configuration.ClientCertificateFilePath = settings.CertFile;
            configuration.ClientKeyFilePath = settings.KeyFile;
            description.Add($"client certificate {settings.CertFile}");
        }

        if (!string.IsNullOrEmpty(settings.CaFile))
        {
            try
            {
                configuration.SslCaCerts = LoadCertificates(settings.CaFile);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException
                                              or System.Security.Cryptography.CryptographicException)
            {
                return Failed(KubernetesConnectionSource.ConfiguredHost, "host " + host,
                    $"cannot load ca_file {settings.CaFile}: {error.Message}");
            }

            description.Add($"CA {settings.CaFile}");
        }

        var token = overwrite ?? (string.IsNullOrEmpty(settings.BearerToken) ? null : settings.BearerToken);
        if (token is not null)
        {
            configuration.AccessToken = token;
            description.Add(overwrite is not null ? "bearer token from the job" : "bearer token from config");
        }

        var details = description.Count == 0 ? "" : $" ({string.Join(", ", description)})";
        return new KubernetesConnection(KubernetesConnectionSource.ConfiguredHost, configuration, $"host {host}{details}");
    }

    private static KubernetesConnection InCluster(string serviceHost, string servicePort, string directory, string? overwrite)
    {
        // An IPv6 service address needs brackets in a URL.
        var hostPart = serviceHost.Contains(':') && !serviceHost.StartsWith('[') ? $"[{serviceHost}]" : serviceHost;
        var host = $"https://{hostPart}:{servicePort}";
        var configuration = new KubernetesClientConfiguration { Host = host };
        var caPath = Path.Combine(directory, "ca.crt");
        if (File.Exists(caPath))
        {
            try
            {
                configuration.SslCaCerts = LoadCertificates(caPath);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException
                                              or System.Security.Cryptography.CryptographicException)
            {
                return Failed(KubernetesConnectionSource.InCluster, "in-cluster " + host, $"cannot load {caPath}: {error.Message}");
            }
        }

        var namespacePath = Path.Combine(directory, "namespace");
        if (File.Exists(namespacePath))
        {
            configuration.Namespace = File.ReadAllText(namespacePath).Trim();
        }

        string tokenSource;
        if (overwrite is not null)
        {
            configuration.AccessToken = overwrite;
            tokenSource = "bearer token from the job";
        }
        else
        {
            // Read on every request, so that rotated service-account tokens are picked up.
            configuration.TokenProvider = new TokenFileAuth(Path.Combine(directory, "token"));
            tokenSource = $"service account token {Path.Combine(directory, "token")}";
        }

        return new KubernetesConnection(KubernetesConnectionSource.InCluster, configuration, $"in-cluster {host} ({tokenSource})");
    }

    // context: the kubeconfig context config.toml names (GitLab Runner's `context`), else the file's current context.
    private static KubernetesConnection FromKubeconfig(string path, string description, string? context, string? overwrite)
    {
        KubernetesClientConfiguration configuration;
        try
        {
            configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(path,
                currentContext: string.IsNullOrEmpty(context) ? null : context);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // Malformed YAML, a missing context or unreadable certificate data all land here.
            return Failed(KubernetesConnectionSource.Kubeconfig, description, $"cannot use the kubeconfig: {error.Message}");
        }

        if (overwrite is not null)
        {
            configuration.AccessToken = overwrite;
            configuration.TokenProvider = null;
            description += ", bearer token from the job";
        }

        var used = string.IsNullOrEmpty(configuration.CurrentContext) ? "" : $" context {configuration.CurrentContext}";
        return new KubernetesConnection(KubernetesConnectionSource.Kubeconfig, configuration,
            $"{description}{used} -> {configuration.Host}");
    }

    /// <summary>The PEM certificates of a CA bundle; a file with none is an error, not an empty trust list.</summary>
    private static X509Certificate2Collection LoadCertificates(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        return certificates.Count > 0 ? certificates : throw new ArgumentException("no PEM certificate in the file");
    }

    private static KubernetesConnection Failed(KubernetesConnectionSource source, string description, string error) =>
        new(source, null, description, error);
}
