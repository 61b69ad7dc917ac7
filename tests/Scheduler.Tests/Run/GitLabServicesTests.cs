using System.Net;
using System.Net.Sockets;
using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>A job's services on the embedded cluster answer the build container by their aliases and by the names GitLab
/// derives from their image (the pod's hostAliases, which the cluster writes into the pod's /etc/hosts).</summary>
[Collection(RunClusterCollection.Name)]
public sealed class GitLabServicesTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    // A one-line TCP server: answers each connection with $GREETING and the line it received.
    private const string Server =
        "my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die \"listen: $!\";"
        + " while (my $c = $s->accept) { my $l = <$c>; print $c \"$ENV{GREETING} $l\"; close $c }";

    // Connects (retrying while the service starts), sends the name it used, prints the answer.
    private static string Ask(string host, int port) =>
        "perl -MIO::Socket::INET -e 'for (1..100) { $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 2) and last;"
        + " select(undef, undef, undef, 0.1) } $c or die \"connect $ARGV[0]: $!\\n\"; print $c \"$ARGV[0]\\n\"; print scalar <$c>' "
        + $"{host}:{port}";

    [Fact]
    public async Task A_service_answers_on_its_aliases_and_its_image_name()
    {
        var port = FreePort();
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job(Ask("backend", port), Ask("api-backend", port), Ask("tcp-echo", port))
            .Service("tcp-echo:1", alias: "backend, api-backend", entrypoint: ["perl", "-MIO::Socket::INET", "-e"],
                command: [Server, port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                variables: new Dictionary<string, string> { ["GREETING"] = "hello-from-service" }));
        StartHost(Settings(1, Entry("r1", token)));

        await WaitFinishedAsync(job);
        AssertFinal(job, "success");
        var trace = job.TraceText();
        Assert.Contains($"\nhello-from-service backend:{port}\n", trace);
        Assert.Contains($"\nhello-from-service api-backend:{port}\n", trace);
        Assert.Contains($"\nhello-from-service tcp-echo:{port}\n", trace);
        await AssertNoPodLeftAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
