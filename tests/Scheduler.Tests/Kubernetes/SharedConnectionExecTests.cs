using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scheduler.Actors.Execution;
using Scheduler.Kubernetes;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The gateway's execs as streams of the client's HTTP/2 connection, against the embedded cluster and against a server
/// that does not offer them.</summary>
public sealed class SharedConnectionExecTests : EmbeddedGatewayTestBase
{
    private readonly ExecRequests _requests = new();

    protected override k8s.Kubernetes CreateClient(KubernetesClientConfiguration configuration)
    {
        var client = new k8s.Kubernetes(configuration, _requests);
        SharedConnectionExec.Use(client);
        return client;
    }

    private KubernetesGateway SharedGateway(TimeSpan? requestTimeout = null) => new(Client, new ApiRateLimiter(100, 100), requestTimeout);

    private async Task RunningPodAsync(string name)
    {
        await Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1PodSpec
            {
                TerminationGracePeriodSeconds = 1,
                Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"] }],
            },
        }, "default");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await Client.CoreV1.ReadNamespacedPodAsync(name, "default", cancellationToken: timeout.Token)).Status?.Phase != "Running")
        {
            await Task.Delay(50, timeout.Token);
        }
    }

    private static async Task<(int Code, string Stdout)> ExecAsync(KubernetesGateway gateway, string pod, params string[] command)
    {
        var output = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await gateway.ExecAsync("default", pod, "main", command, chunk =>
        {
            output.Append(Encoding.UTF8.GetString(chunk.Span));
            return Task.CompletedTask;
        }, timeout.Token);
        return (code, output.ToString());
    }

    [Fact]
    public async Task Execs_go_as_http2_streams_with_their_exit_codes_and_output_as_before()
    {
        await RunningPodAsync("p1");
        var gateway = SharedGateway();

        Assert.Equal((0, ""), await ExecAsync(gateway, "p1", "true"));
        Assert.Equal((3, ""), await ExecAsync(gateway, "p1", "sh", "-c", "echo to-stderr >&2; exit 3"));
        Assert.Equal((0, "first\nsecond\n"), await ExecAsync(gateway, "p1", "sh", "-c", "echo first; sleep 0.3; echo second"));

        // Every exec went out as an extended CONNECT on the client's HTTP/2 connection, none as an HTTP/1.1 upgrade.
        Assert.Equal(3, _requests.Execs.Count);
        Assert.All(_requests.Execs, exec => Assert.Equal(("CONNECT", HttpVersion.Version20), exec));
    }

    [Fact]
    public async Task A_streaming_exec_goes_over_the_streaming_client_and_the_short_execs_over_the_shared_connection()
    {
        await RunningPodAsync("p9");
        using var streaming = new k8s.Kubernetes(Server.ClientConfiguration());
        var gateway = new KubernetesGateway(Client, new ApiRateLimiter(100, 100), streamingClient: streaming);
        long received = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var code = await gateway.ExecStreamingAsync("default", "p9", "main", ["sh", "-c", "head -c 300000 /dev/zero"], chunk =>
        {
            received += chunk.Length;
            return Task.CompletedTask;
        }, timeout.Token);

        Assert.Equal((0, 300_000L), (code, received));
        Assert.Empty(_requests.Execs); // not a stream of the shared connection
        Assert.Equal((0, ""), await ExecAsync(gateway, "p9", "true"));
        Assert.Equal([("CONNECT", HttpVersion.Version20)], _requests.Execs);
    }

    [Fact]
    public async Task A_dropped_exec_is_lost_and_the_exec_beside_it_on_the_same_connection_goes_on()
    {
        await RunningPodAsync("p2");
        var gateway = SharedGateway();
        var beside = ExecAsync(gateway, "p2", "sh", "-c", "sleep 1; echo still-here");
        await Task.Delay(300);

        Server.Faults = new FaultSettings { ExecDropAfterBytes = 4 };
        await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync(gateway, "p2", "sh", "-c", "printf 0123456789; sleep 2"));
        Server.Faults = FaultSettings.None;

        Assert.Equal((0, "still-here\n"), await beside);
        Assert.Equal((0, "again\n"), await ExecAsync(gateway, "p2", "echo", "again"));
    }

    [Fact]
    public async Task An_exec_whose_stream_drops_while_the_command_runs_is_lost_not_ended()
    {
        await RunningPodAsync("p3");
        Server.Faults = new FaultSettings { ExecDropAfter = TimeSpan.FromMilliseconds(300) };

        var lost = await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync(SharedGateway(), "p3", "sh", "-c", "sleep 5"));
        Assert.Contains("p3", lost.Message);
    }

    [Fact]
    public async Task An_exec_the_server_never_answers_ends_at_the_request_timeout_and_the_connection_still_serves()
    {
        await RunningPodAsync("p4");
        var gateway = SharedGateway(TimeSpan.FromSeconds(1));
        Server.Faults = new FaultSettings { HangRate = 1, HangFor = TimeSpan.FromSeconds(30) };

        var lost = await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync(gateway, "p4", "true"));
        Assert.Contains("could not connect within 1 s", lost.Message);

        Server.Faults = FaultSettings.None;
        Assert.Equal((0, ""), await ExecAsync(gateway, "p4", "true"));
    }

    [Fact]
    public async Task A_server_whose_certificate_the_configuration_does_not_trust_gets_no_exec()
    {
        await RunningPodAsync("p5");
        var marker = Path.Combine(StateDir, "must-not-exist");
        var configuration = Server.ClientConfiguration();
        configuration.SslCaCerts = [SelfSigned()];
        using var untrusting = new k8s.Kubernetes(configuration);
        SharedConnectionExec.Use(untrusting);
        var gateway = new KubernetesGateway(untrusting, new ApiRateLimiter(100, 100));
        var execsBefore = Server.Requests.Count("create", "pods/exec") + Server.Requests.Count("get", "pods/exec");

        await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync(gateway, "p5", "touch", marker));

        Assert.False(File.Exists(marker));
        Assert.Equal(execsBefore, Server.Requests.Count("create", "pods/exec") + Server.Requests.Count("get", "pods/exec"));
    }

    [Fact]
    public async Task An_exec_with_a_wrong_bearer_token_is_refused_and_not_run()
    {
        await RunningPodAsync("p6");
        var marker = Path.Combine(StateDir, "must-not-exist");
        var configuration = Server.ClientConfiguration();
        configuration.AccessToken = "not-the-token";
        using var wrongToken = new k8s.Kubernetes(configuration);
        SharedConnectionExec.Use(wrongToken);

        var refused = await Assert.ThrowsAsync<KubernetesException>(() =>
            ExecAsync(new KubernetesGateway(wrongToken, new ApiRateLimiter(100, 100)), "p6", "touch", marker));

        Assert.Contains("401", refused.Message);
        Assert.DoesNotContain("not-the-token", refused.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task A_server_without_http2_execs_is_reached_with_an_http11_upgrade()
    {
        var certificate = SelfSigned();
        await using var server = await Http11ExecServer.StartAsync(certificate);
        using var client = new k8s.Kubernetes(new KubernetesClientConfiguration
        {
            Host = server.Url, AccessToken = "the-token", SslCaCerts = [X509CertificateLoader.LoadCertificate(certificate.RawData)],
        });
        SharedConnectionExec.Use(client);

        var code = await new KubernetesGateway(client, new ApiRateLimiter(100, 100)).ExecAsync("default", "pod", "main", ["true"], null, CancellationToken.None);

        Assert.Equal(0, code);
        Assert.Equal(("HTTP/1.1", "Bearer the-token"), server.Seen.Single());
    }

    [Fact]
    public async Task Only_a_configuration_of_an_embedded_cluster_this_process_serves_is_taken_for_one()
    {
        var configuration = Server.ClientConfiguration();
        var port = new Uri(configuration.Host).Port;
        Assert.True(SharedConnectionExec.IsEmbeddedCluster(configuration));
        Assert.True(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = configuration.Host + "/", SslCaCerts = configuration.SslCaCerts }));

        // Another CA, no CA, another port, another host: a real API server, or a server posing as this one.
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = configuration.Host, SslCaCerts = [SelfSigned()] }));
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = configuration.Host, SkipTlsVerify = true }));
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = configuration.Host, SslCaCerts = configuration.SslCaCerts, SkipTlsVerify = true }));
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = $"https://127.0.0.1:{(port == 1 ? 2 : port - 1)}", SslCaCerts = configuration.SslCaCerts }));
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(new KubernetesClientConfiguration { Host = $"https://kubernetes.example:{port}", SslCaCerts = configuration.SslCaCerts }));

        await Server.DisposeAsync();
        Assert.False(SharedConnectionExec.IsEmbeddedCluster(configuration));
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Records the method and the answer's HTTP version of each exec request.</summary>
    private sealed class ExecRequests : DelegatingHandler
    {
        public List<(string Method, Version Version)> Execs { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.RequestUri?.AbsolutePath.EndsWith("/exec", StringComparison.Ordinal) == true)
            {
                lock (Execs)
                {
                    Execs.Add((request.Method.Method, response.Version));
                }
            }

            return response;
        }
    }

    /// <summary>An HTTPS server that speaks only HTTP/1.1, as a real API server does for exec: it upgrades, sends a success
    /// status on channel 3 and closes.</summary>
    private sealed class Http11ExecServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Http11ExecServer(WebApplication app, string url)
        {
            _app = app;
            Url = url;
        }

        public string Url { get; }

        public List<(string Protocol, string Authorization)> Seen { get; } = [];

        public static async Task<Http11ExecServer> StartAsync(X509Certificate2 certificate)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.UseHttps(certificate);
            }));
            var app = builder.Build();
            Http11ExecServer? server = null;
            app.UseWebSockets();
            app.Run(async context =>
            {
                lock (server!.Seen)
                {
                    server.Seen.Add((context.Request.Protocol, context.Request.Headers.Authorization.ToString()));
                }

                using var socket = await context.WebSockets.AcceptWebSocketAsync("v4.channel.k8s.io");
                await socket.SendAsync("\u0003{\"status\":\"Success\"}"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            });
            await app.StartAsync();
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            server = new Http11ExecServer(app, $"https://127.0.0.1:{address.Port}");
            return server;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
