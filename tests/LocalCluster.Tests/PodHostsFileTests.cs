using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// Each pod gets its own /etc/hosts, as the kubelet writes it: localhost, the pod's name and <c>spec.hostAliases</c>
/// (the runner puts the services' names there). Another pod and the host do not see a pod's names.
/// </summary>
public sealed class PodHostsFileTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "local-cluster-hosts", Guid.NewGuid().ToString("N"));
    private readonly string _kubeconfig = Path.Combine(Path.GetTempPath(), "local-cluster-hosts", Guid.NewGuid().ToString("N") + ".kubeconfig");
    private LocalClusterServer _server = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            KubeconfigPath = _kubeconfig,
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _client = new Kubernetes(_server.ClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_stateDir, recursive: true);
            File.Delete(_kubeconfig);
        }
        catch (IOException)
        {
            // Best effort cleanup of a temp dir.
        }
    }

    private static V1Pod Pod(string name, params V1HostAlias[] aliases) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 1,
            Containers =
            [
                new V1Container { Name = "main", Image = "alpine:3", Command = ["sleep", "120"] },
                new V1Container { Name = "side", Image = "alpine:3", Command = ["sleep", "120"] },
            ],
            HostAliases = aliases.Length > 0 ? aliases : null,
        },
    };

    private async Task<(int ExitCode, string Output)> Exec(string pod, string container, string script)
    {
        var output = "";
        var exitCode = await _client.NamespacedPodExecAsync(pod, "default", container, ["sh", "-c", script], false, async (_, stdout, stderr) =>
        {
            var readOut = new StreamReader(stdout).ReadToEndAsync();
            var readErr = new StreamReader(stderr).ReadToEndAsync();
            output = await readOut + await readErr;
        }, CancellationToken.None);
        return (exitCode, output);
    }

    [Fact]
    public async Task A_pods_host_aliases_resolve_in_its_containers_only()
    {
        var hostFileBefore = await File.ReadAllTextAsync("/etc/hosts");
        await _client.CoreV1.CreateNamespacedPodAsync(Pod("with-services",
            new V1HostAlias { Ip = "127.0.0.1", Hostnames = ["postgres", "db-svc-test"] },
            new V1HostAlias { Ip = "10.1.2.3", Hostnames = ["web1.example.test"] }), "default");
        await _client.CoreV1.CreateNamespacedPodAsync(Pod("plain"), "default");
        await WaitForPhase(_client, "with-services", "Running");
        await WaitForPhase(_client, "plain", "Running");

        Assert.Equal((0, "127.0.0.1       postgres db-svc-test\n"), await Exec("with-services", "main", "getent hosts db-svc-test"));
        Assert.Equal((0, "10.1.2.3        web1.example.test\n"), await Exec("with-services", "side", "getent hosts web1.example.test"));
        var (code, hosts) = await Exec("with-services", "main", "cat /etc/hosts");
        Assert.Equal(0, code);
        Assert.Contains("127.0.0.1\tlocalhost\n", hosts);
        Assert.Contains("127.0.0.1\twith-services\n", hosts);
        Assert.Contains("127.0.0.1\tpostgres\tdb-svc-test\n", hosts);

        // The containers of one pod share the file (as the kubelet's); another pod and the host do not see its names.
        Assert.Equal(0, (await Exec("with-services", "main", "echo '127.0.0.2 added-by-job' >> /etc/hosts")).ExitCode);
        Assert.Equal((0, "127.0.0.2       added-by-job\n"), await Exec("with-services", "side", "getent hosts added-by-job"));
        Assert.NotEqual(0, (await Exec("plain", "main", "getent hosts db-svc-test")).ExitCode);
        Assert.Equal((0, "127.0.0.1\tplain\n"), await Exec("plain", "main", "grep -v localhost /etc/hosts | grep plain"));
        Assert.Equal(hostFileBefore, await File.ReadAllTextAsync("/etc/hosts"));
    }

    [Fact]
    public void Names_that_would_add_lines_or_comments_are_left_out()
    {
        var pod = Pod("p",
            new V1HostAlias { Ip = "127.0.0.1", Hostnames = ["ok", "evil\n10.0.0.1 gitlab.example.com", "#x", ""] },
            new V1HostAlias { Ip = "127.0.0.1\n10.9.9.9", Hostnames = ["other"] },
            new V1HostAlias { Ip = "10.0.0.2", Hostnames = [] });

        var text = PodHostsFile.Render(pod, "p");

        Assert.EndsWith("# Entries added by HostAliases.\n127.0.0.1\tok\n", text);
        Assert.DoesNotContain("gitlab.example.com", text);
        Assert.DoesNotContain("10.9.9.9", text);
    }

    [Fact]
    public void A_container_that_mounts_etc_hosts_or_a_host_network_pod_keeps_its_own()
    {
        var pod = Pod("p");
        Assert.True(PodHostsFile.Applies(pod, [new SandboxMount("/x", "/etc/other", false)]));
        Assert.False(PodHostsFile.Applies(pod, [new SandboxMount("/x", "/etc/hosts", true, IsFile: true)]));
        pod.Spec.HostNetwork = true;
        Assert.False(PodHostsFile.Applies(pod, []));
    }
}
