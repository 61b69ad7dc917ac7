using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;
using Scheduler.Fleet;
using Scheduler.Hosting;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Settings;
using ClusterSettings = Scheduler.Messages.Settings.ClusterSettings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>
/// Attack tests on the cluster port: only a peer holding a certificate of the fleet's CA is let in, and nothing from the
/// wire builds a type that is not one of the fleet's messages.
/// </summary>
public sealed class FleetTransportSecurityTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>TLS on a hand-made peer; its certificate and peer check come with its DotNettySslSetup.</summary>
    private const string EnableSsl = """
        akka.remote.dot-netty.tcp.enable-ssl = true
        akka.remote.dot-netty.tcp.ssl.require-mutual-authentication = true
        akka.remote.dot-netty.tcp.ssl.suppress-validation = false
        """;

    private readonly TestCertificates _fleet = new();
    private readonly TestCertificates _foreign = new("someone else's CA");
    private readonly List<ActorSystem> _systems = [];

    [Fact]
    public async Task Nodes_with_the_fleets_certificates_form_a_fleet_over_TLS()
    {
        var a = Start(TlsNode(_fleet, "a"));
        var b = Start(TlsNode(_fleet, "b", seed: a));

        await Eventually(() => FleetTestCluster.UpCount(a) == 2 && FleetTestCluster.UpCount(b) == 2);
        Assert.True(a.Settings.Config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
    }

    [Fact]
    public async Task A_process_without_TLS_cannot_reach_a_node()
    {
        var node = Start(TlsNode(_fleet, "a"));
        node.ActorOf(Props.Empty, "target");

        var attacker = Attacker("");

        Assert.Null(await Identify(attacker, node));
    }

    [Fact]
    public async Task A_process_with_a_certificate_of_another_CA_cannot_reach_a_node()
    {
        var node = Start(TlsNode(_fleet, "a"));
        node.ActorOf(Props.Empty, "target");
        var (certificate, key, _) = _foreign.Issue("intruder");
        // The intruder trusts anyone: the refusal is the node's own doing.
        var setup = new DotNettySslSetup(LoadPem(certificate, key), suppressValidation: false, requireMutualAuthentication: true,
            validateCertificateHostname: false, customValidator: (_, _, _, _, _) => true);

        var attacker = Attacker(EnableSsl, setup);

        Assert.Null(await Identify(attacker, node));
    }

    [Fact]
    public async Task A_member_with_the_fleets_certificate_reaches_the_same_actor()
    {
        // The control for the two refusals above: the same request from a certified peer is answered.
        var node = Start(TlsNode(_fleet, "a"));
        node.ActorOf(Props.Empty, "target");
        var (certificate, key, _) = _fleet.Issue("peer");
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(_fleet.Ca);
        var setup = new DotNettySslSetup(LoadPem(certificate, key), false, true, false, FleetTls.PeerValidator(roots));

        var peer = Attacker(EnableSsl, setup);

        Assert.NotNull(await Identify(peer, node));
    }

    [Fact]
    public async Task A_TLS_client_without_a_certificate_is_cut_off()
    {
        var node = Start(TlsNode(_fleet, "a"));
        var port = Cluster.Get(node).SelfAddress.Port!.Value;

        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        var refused = false;
        try
        {
            await tls.AuthenticateAsClientAsync("127.0.0.1").WaitAsync(Patience);
            // TLS 1.3 finishes the client's side before the server has checked the client: the server then closes.
            var buffer = new byte[16];
            await tls.WriteAsync(new byte[] { 0, 0, 0, 4, 1, 2, 3, 4 });
            refused = await tls.ReadAsync(buffer).AsTask().WaitAsync(Patience) == 0;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or SocketException)
        {
            refused = true;
        }

        Assert.True(refused);
    }

    [Fact]
    public void A_payload_for_the_generic_JSON_serializer_is_refused_without_building_its_type()
    {
        var node = Start(new ClusterSettings { Port = 0 });
        Tripwire.Built = 0;
        var payload = """{"Armed":true}"""u8.ToArray();
        var manifest = typeof(Tripwire).AssemblyQualifiedName!;

        // What the transport does with an inbound message: serializer id and manifest come from the sender.
        var error = Assert.Throws<SerializationException>(() => node.Serialization.Deserialize(payload, 1, manifest));

        Assert.Contains("refused", error.Message);
        Assert.Equal(0, Tripwire.Built);
        Assert.IsType<RefusingSerializer>(node.Serialization.FindSerializerForType(typeof(object)));
    }

    [Fact]
    public void Stock_Akka_would_have_built_the_type()
    {
        // The control for the test above: Akka's default config builds whatever the manifest names.
        using var stock = ActorSystem.Create("stock", "akka.actor.provider = remote\nakka.remote.dot-netty.tcp.port = 0");
        Tripwire.Built = 0;

        var built = stock.Serialization.Deserialize("""{"Armed":true}"""u8.ToArray(), 1, typeof(Tripwire).AssemblyQualifiedName!);

        Assert.IsType<Tripwire>(built);
        Assert.Equal(1, Tripwire.Built);
    }

    [Theory]
    [InlineData("Tripwire")]
    [InlineData("RunJob")]
    [InlineData("System.Diagnostics.Process, System.Diagnostics.Process")]
    public void A_fleet_payload_naming_a_foreign_type_is_refused(string manifest)
    {
        var node = Start(new ClusterSettings { Port = 0 });
        Tripwire.Built = 0;

        Assert.Throws<SerializationException>(() =>
            node.Serialization.Deserialize("{}"u8.ToArray(), FleetMessageSerializer.SerializerId, manifest));
        Assert.Equal(0, Tripwire.Built);
    }

    [Fact]
    public void A_message_without_its_own_serializer_cannot_be_sent_to_another_node()
    {
        var node = Start(new ClusterSettings { Port = 0 });

        Assert.ThrowsAny<Exception>(() => node.Serialization.FindSerializerFor(new Tripwire()).ToBinary(new Tripwire()));
        Assert.IsType<FleetMessageSerializer>(node.Serialization.FindSerializerFor(new SlotGranted("lease")));
    }

    [Fact]
    public async Task A_member_sending_a_foreign_type_over_the_wire_is_dropped()
    {
        var node = Start(new ClusterSettings { Port = 0 });
        var received = new List<object>();
        node.ActorOf(Props.Create(() => new Recorder(received)), "target");
        // A peer with Akka's stock serializers (an older or tampered build) that can reach the port.
        using var peer = ActorSystem.Create("scheduler", """
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp.port = 0
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.actor.serializers.fleet-json = "Scheduler.Fleet.FleetMessageSerializer, scheduler"
            akka.actor.serialization-bindings."Scheduler.Messages.Fleet.IFleetMessage, Scheduler.Messages" = fleet-json
            """);
        Tripwire.Built = 0;
        var target = peer.ActorSelection($"{Cluster.Get(node).SelfAddress}/user/target");
        target.Tell(new Tripwire());
        var builtBySender = Tripwire.Built;
        target.Tell(new SlotGranted("after"));

        await Eventually(() => { lock (received) { return received.Count > 0; } });
        lock (received)
        {
            Assert.Equal([new SlotGranted("after")], received);
        }

        Assert.Equal(builtBySender, Tripwire.Built);
    }

    [Theory]
    [InlineData("127.0.0.1", null, "", true)]
    [InlineData("localhost", null, "", true)]
    [InlineData("::1", null, "", true)]
    [InlineData("10.0.0.5", null, "", false)]
    [InlineData("127.0.0.1", "0.0.0.0", "", false)]
    [InlineData("127.0.0.1", null, ClusterSettings.KubernetesApiDiscovery, false)]
    [InlineData("runner-0.runners", null, "", false)]
    public void Without_TLS_a_node_starts_only_on_loopback(string hostname, string? bindHost, string discovery, bool starts)
    {
        var settings = new ClusterSettings { Hostname = hostname, BindHost = bindHost, Discovery = discovery };

        Assert.Equal(starts, FleetTls.StartError(settings) is null);
    }

    [Fact]
    public void A_node_that_would_listen_beyond_loopback_without_TLS_refuses_to_start_with_a_clear_error()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            SchedulerActorSystem.CreateClustered(new ClusterSettings { Hostname = "0.0.0.0", Port = 0 }));

        Assert.Contains("without TLS", error.Message);
        Assert.Contains("tls_certificate", error.Message);
    }

    [Fact]
    public void With_TLS_a_node_may_listen_on_any_address()
    {
        var (certificate, key, _) = _fleet.Issue("any");

        Assert.Null(FleetTls.StartError(new ClusterSettings
            { Hostname = "10.0.0.5", BindHost = "0.0.0.0", TlsCertificate = certificate, TlsKey = key, TlsCa = _fleet.CaPath }));
    }

    [Fact]
    public void A_missing_certificate_file_is_a_clear_error()
    {
        var settings = new ClusterSettings
            { Port = 0, TlsCertificate = "/nonexistent/node.crt", TlsKey = "/nonexistent/node.key", TlsCa = _fleet.CaPath };

        var error = Assert.Throws<InvalidOperationException>(() => SchedulerActorSystem.CreateClustered(settings));

        Assert.Contains("/nonexistent/node.crt", error.Message);
    }

    [Fact]
    public void Peer_check_accepts_only_certificates_of_the_fleets_CA()
    {
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(_fleet.Ca);
        var ours = _fleet.Issue("ours").Issued;
        var theirs = _foreign.Issue("theirs").Issued;
        var check = FleetTls.PeerValidator(roots);

        Assert.True(check(ours, null, "peer", SslPolicyErrors.RemoteCertificateChainErrors, null!));
        Assert.False(check(theirs, null, "peer", SslPolicyErrors.RemoteCertificateChainErrors, null!));
        Assert.False(check(_foreign.Ca, null, "peer", SslPolicyErrors.RemoteCertificateChainErrors, null!));
        Assert.False(check(null, null, "peer", SslPolicyErrors.RemoteCertificateNotAvailable, null!));
        Assert.False(FleetTls.ChainsTo(ours, [], []));
    }

    public void Dispose()
    {
        FleetTestCluster.Shutdown(_systems.ToArray());
        _fleet.Dispose();
        _foreign.Dispose();
    }

    private ClusterSettings TlsNode(TestCertificates ca, string name, ActorSystem? seed = null)
    {
        var (certificate, key, _) = ca.Issue(name);
        return new ClusterSettings
        {
            Port = 0,
            SeedNodes = seed is null ? [] : [Cluster.Get(seed).SelfAddress.ToString()],
            TlsCertificate = certificate,
            TlsKey = key,
            TlsCa = ca.CaPath,
        };
    }

    private ActorSystem Start(ClusterSettings settings)
    {
        var system = SchedulerActorSystem.CreateClustered(settings, FleetTestCluster.FastTimings);
        _systems.Add(system);
        return system;
    }

    /// <summary>A process on the job side: a plain remoting ActorSystem on loopback, with or without TLS.</summary>
    private ActorSystem Attacker(string hocon, DotNettySslSetup? tls = null)
    {
        var config = ConfigurationFactory.ParseString(hocon + """

            akka.actor.provider = remote
            akka.loglevel = ERROR
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.remote.dot-netty.tcp.port = 0
            akka.remote.transport-failure-detector.heartbeat-interval = 1s
            """);
        var setup = BootstrapSetup.Create().WithConfig(config);
        var system = tls is null ? ActorSystem.Create("scheduler", setup) : ActorSystem.Create("scheduler", setup.And(tls));
        _systems.Add(system);
        return system;
    }

    private static async Task<IActorRef?> Identify(ActorSystem from, ActorSystem node)
    {
        try
        {
            // The node's own scheme (akka.ssl.tcp) is unknown to a peer without TLS: it dials the same host and port.
            var address = Cluster.Get(node).SelfAddress;
            var path = from.Settings.Config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl")
                ? $"{address}/user/target"
                : $"akka.tcp://{address.System}@{address.Host}:{address.Port}/user/target";
            var identity = await from.ActorSelection(path)
                .Ask<ActorIdentity>(new Identify(1), TimeSpan.FromSeconds(8));
            return identity.Subject;
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadPem(string certificate, string key)
    {
        using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(100);
        }
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(List<object> received) => ReceiveAny(m =>
        {
            lock (received)
            {
                received.Add(m);
            }
        });
    }
}

/// <summary>A type no fleet message is: counts how often anything builds it.</summary>
public sealed class Tripwire
{
    public static int Built;

    public Tripwire() => Interlocked.Increment(ref Built);

    public bool Armed { get; set; }
}
