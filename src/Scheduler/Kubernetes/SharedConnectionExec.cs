using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace Scheduler.Kubernetes;

/// <summary>
/// Execs as WebSocket streams of the client's own HTTP/2 connection (RFC 8441, extended CONNECT) instead of a new TCP, TLS
/// and HTTP/1.1 upgrade each. Only for the embedded cluster, which offers it; a real API server does not serve exec over
/// HTTP/2, so its clients keep KubernetesClient's own connection per exec. Where the server does not offer extended
/// CONNECT, .NET falls back to an HTTP/1.1 upgrade over the same handler.
/// </summary>
public static class SharedConnectionExec
{
    /// <summary>Makes <paramref name="client"/>'s execs streams of its HTTP/2 connection.</summary>
    public static void Use(k8s.Kubernetes client)
    {
        ArgumentNullException.ThrowIfNull(client);
        client.CreateWebSocketBuilder = () => new Builder(client.HttpClient);
    }

    /// <summary>Whether <paramref name="configuration"/> points at an embedded cluster this process serves: its URL, and
    /// trusting that cluster's own certificate.</summary>
    public static bool IsEmbeddedCluster(KubernetesClientConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // With skip-TLS-verify the client could be talking to any server at that address: not known to be ours.
        return !configuration.SkipTlsVerify
               && Uri.TryCreate(configuration.Host, UriKind.Absolute, out var host)
               && configuration.SslCaCerts is { Count: > 0 } trusted
               && LocalCluster.LocalClusterServer.IsServing(host, trusted);
    }

    /// <summary>
    /// KubernetesClient's builder sets the headers (the bearer token) and the TLS settings on the ClientWebSocket itself; here
    /// the connection is the client's own handler, which already verifies the server against the same CA (or skips the check
    /// when the same configuration says so) and presents the same client certificates. So the TLS settings the builder is
    /// given are dropped (ClientWebSocket refuses them beside a handler), never replaced by weaker ones.
    /// </summary>
    private sealed class Builder : WebSocketBuilder
    {
        private readonly HttpMessageInvoker _connection;

        public Builder(HttpMessageInvoker connection)
        {
            _connection = connection;
            Options.HttpVersion = HttpVersion.Version20;
            Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
        }

        // The handler presents the client certificates: KubernetesClient hands over the handler's own.
        public override WebSocketBuilder AddClientCertificate(X509Certificate2 certificate) => this;

        public override async Task<WebSocket> BuildAndConnectAsync(Uri uri, CancellationToken cancellationToken)
        {
            Options.RemoteCertificateValidationCallback = null; // the handler's own check applies (see above)
            await WebSocket.ConnectAsync(uri, _connection, cancellationToken).ConfigureAwait(false);
            return WebSocket;
        }
    }
}
