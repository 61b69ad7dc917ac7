using System.Net;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scheduler.LocalCluster.Api;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster;

/// <summary>
/// A single-node Kubernetes API server on loopback (HTTPS with its own certificate, a bearer token required; both are in
/// the kubeconfig it writes), embeddable in-process. Pods are run
/// by the <see cref="IPodRuntime"/> the options' factory builds.
/// </summary>
public sealed class LocalClusterServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Cluster _cluster;
    private readonly FaultInjector _faults;
    private readonly CancellationTokenSource _stopping;
    private int _disposed;

    // The servers this process runs, by URL: a client of one may use what only this server offers (execs over HTTP/2).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Uri, LocalClusterServer> Serving = new();

    private LocalClusterServer(WebApplication app, Cluster cluster, FaultInjector faults, CancellationTokenSource stopping, Uri url, string kubeconfigPath, RequestCounters requests, string token,
        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        _app = app;
        _cluster = cluster;
        _faults = faults;
        _stopping = stopping;
        Url = url;
        KubeconfigPath = kubeconfigPath;
        Token = token;
        Certificate = certificate;
        Requests = requests;
    }

    /// <summary>http://127.0.0.1:&lt;port&gt;</summary>
    public Uri Url { get; }

    public string KubeconfigPath { get; }

    /// <summary>The bearer token every API request but health and version must carry; it is in the kubeconfig.</summary>
    public string Token { get; }

    /// <summary>The server's self-signed certificate: the one authority a client of this cluster trusts.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate { get; }

    /// <summary>Changeable while running: tests turn faults on mid-job.</summary>
    public FaultSettings Faults
    {
        get => _faults.Settings;
        set => _faults.Settings = value ?? FaultSettings.None;
    }

    /// <summary>The request faults injected so far (500, 429, hangs), with a hook that hears of each.</summary>
    public InjectedFaults InjectedFaults => _faults.Injected;

    /// <summary>Requests by verb and resource, for benchmarks and tests of API cost.</summary>
    public RequestCounters Requests { get; }

    public static async Task<LocalClusterServer> StartAsync(LocalClusterOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.StateDir)) throw new ArgumentException("LocalClusterOptions.StateDir is required", nameof(options));
        if (options.Port is < 0 or > 65535) throw new ArgumentException($"invalid port {options.Port}", nameof(options));
        var stateDir = Path.GetFullPath(options.StateDir);
        Directory.CreateDirectory(stateDir);
        var kubeconfigPath = Path.GetFullPath(options.KubeconfigPath ?? Path.Combine(stateDir, "kubeconfig"));
        var node = options.Node with
        {
            StateDir = string.IsNullOrEmpty(options.Node.StateDir) ? stateDir : options.Node.StateDir,
            PrivateFiles = [.. options.Node.PrivateFiles, kubeconfigPath],
            AllowRootContainers = options.AllowRootContainers || options.Node.AllowRootContainers,
        };

        var store = new ObjectStore(Math.Max(1, options.WatchHistorySize));
        var cluster = new Cluster(store, node, options.EventTimeToLive);
        cluster.Runtime = options.RuntimeFactory(node, cluster);
        var faults = new FaultInjector { Settings = options.Faults ?? FaultSettings.None };
        var requests = new RequestCounters();
        var stopping = new CancellationTokenSource();

        var certificate = ServingCertificate.Create();
        var builder = SlimWebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.Port, listen => listen.UseHttps(certificate));
            kestrel.AllowSynchronousIO = true;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
            // A client's execs and watches are streams of its one HTTP/2 connection (two long ones per running job); at
            // Kestrel's default of 100, the 101st would wait for another to end.
            kestrel.Limits.Http2.MaxStreamsPerConnection = 4096;
        });
        var app = builder.Build();
        // kubectl may ask for the WebSocket upgrade with POST (the verb of its SPDY path); the handshake is the same.
        app.Use((context, next) =>
        {
            if (HttpMethods.IsPost(context.Request.Method)
                && context.Request.Headers.Upgrade.ToString().Equals("websocket", StringComparison.OrdinalIgnoreCase))
                context.Request.Method = HttpMethods.Get;
            return next(context);
        });
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        var token = string.IsNullOrEmpty(options.Token) ? RequestGuard.NewToken() : options.Token;
        var api = new HttpApi(cluster, faults, requests, options.BookmarkInterval, token, stopping.Token);
        app.Run(api.HandleAsync);

        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await cluster.Runtime.DisposeAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var url = new Uri($"https://127.0.0.1:{new Uri(address).Port}");
        Directory.CreateDirectory(Path.GetDirectoryName(kubeconfigPath)!);
        await WritePrivateAsync(kubeconfigPath, Kubeconfig(url, token, ServingCertificate.AuthorityData(certificate)), ct).ConfigureAwait(false);
        var server = new LocalClusterServer(app, cluster, faults, stopping, url, kubeconfigPath, requests, token, certificate);
        Serving[url] = server;
        return server;
    }

    /// <summary>
    /// Whether <paramref name="host"/> is a server this process runs and <paramref name="trusted"/> holds its certificate (so a
    /// client trusting it talks to that server and no other). Such a client may run execs as streams of its HTTP/2 connection
    /// (RFC 8441), which Kestrel serves and a real API server does not.
    /// </summary>
    public static bool IsServing(Uri host, System.Security.Cryptography.X509Certificates.X509Certificate2Collection trusted)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(trusted);
        var url = new Uri($"{host.Scheme}://{host.Authority}");
        return Serving.TryGetValue(url, out var server) && server._disposed == 0
               && trusted.Any(c => c.RawData.AsSpan().SequenceEqual(server.Certificate.RawData));
    }

    /// <summary>The kubeconfig holds the token: only its owner may read it (0600 from the start, never world-readable).</summary>
    private static async Task WritePrivateAsync(string path, string text, CancellationToken ct)
    {
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using var stream = new FileStream(path, options);
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A kubeconfig with one cluster, a user with the server's bearer token and the current context <c>local-cluster</c>.
    /// </summary>
    internal static string Kubeconfig(Uri url, string token, string authorityData) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: local-cluster
          cluster:
            server: {url.ToString().TrimEnd('/')}
            certificate-authority-data: {authorityData}
        users:
        - name: local-cluster
          user:
            token: {token}
        contexts:
        - name: local-cluster
          context:
            cluster: local-cluster
            user: local-cluster
            namespace: default
        current-context: local-cluster
        preferences: {"{}"}

        """;

    public KubernetesClientConfiguration ClientConfiguration() => new()
    {
        Host = Url.ToString().TrimEnd('/'),
        Namespace = "default",
        AccessToken = Token,
        SslCaCerts = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(
            System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(Certificate.RawData)),
    };

    /// <summary>Kills every pod's processes through the runtime, then stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        Serving.TryRemove(new KeyValuePair<Uri, LocalClusterServer>(Url, this));
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _cluster.KillAllPodsAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A runtime that cannot kill in time must not keep the server up.
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _cluster.Runtime.DisposeAsync().ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
