using k8s;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary><c>scheduler local-cluster</c> as its own process: the Kubernetes every node of a test talks to. It listens on
/// 127.0.0.1 only; <see cref="TcpForwarder"/> exposes it to a node in another network namespace.</summary>
public sealed class LocalClusterProcess : IAsyncDisposable
{
    private LocalClusterProcess(ChildProcess process, Uri url, string kubeconfigPath)
    {
        Process = process;
        Url = url;
        KubeconfigPath = kubeconfigPath;
    }

    public ChildProcess Process { get; }

    /// <summary>The API server, e.g. <c>https://127.0.0.1:41234/</c>.</summary>
    public Uri Url { get; }

    /// <summary>The kubeconfig the cluster wrote (its certificate and bearer token).</summary>
    public string KubeconfigPath { get; }

    /// <param name="extraArguments">More flags of <c>scheduler local-cluster</c>, e.g. <c>--fault-server-errors 0.1</c>.</param>
    public static async Task<LocalClusterProcess> StartAsync(string directory, IReadOnlyList<string>? extraArguments = null)
    {
        var stateDir = Directory.CreateDirectory(Path.Combine(directory, "cluster-state")).FullName;
        var kubeconfig = Path.Combine(directory, "kubeconfig");
        var process = ChildProcess.Start("local-cluster", SchedulerBinary.Dotnet,
            [SchedulerBinary.Dll, "local-cluster", "--state-dir", stateDir, "--port", "0", "--kubeconfig", kubeconfig, "--host-images", .. extraArguments ?? []],
            Path.Combine(directory, "local-cluster.log"));
        try
        {
            const string prefix = "local-cluster: serving on ";
            var line = await process.WaitForLineAsync(l => l.StartsWith(prefix, StringComparison.Ordinal), TimeSpan.FromSeconds(60),
                "the cluster to serve");
            await process.WaitForLineAsync(l => l.StartsWith("local-cluster: kubeconfig written", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "the kubeconfig");
            return new LocalClusterProcess(process, new Uri(line[prefix.Length..].Trim()), kubeconfig);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    public k8s.Kubernetes Client() =>
        new(KubernetesClientConfiguration.BuildConfigFromConfigFile(KubeconfigPath));

    /// <summary>The cluster's kubeconfig (its bearer token) naming <paramref name="server"/> instead, e.g. a forwarder another
    /// network namespace reaches. The forwarder's address is not in the server's certificate, so this test-only copy skips
    /// the certificate check.</summary>
    public string WriteKubeconfig(string path, Uri server)
    {
        var lines = File.ReadAllLines(KubeconfigPath).Select(line => line.TrimStart() switch
        {
            var l when l.StartsWith("server: ", StringComparison.Ordinal) => line[..line.IndexOf('s')] + $"server: {server.ToString().TrimEnd('/')}",
            var l when l.StartsWith("certificate-authority-data: ", StringComparison.Ordinal) => line[..line.IndexOf('c')] + "insecure-skip-tls-verify: true",
            _ => line,
        });
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>SIGTERM first, so that the cluster kills every pod's processes; then the whole tree.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Signal(ChildProcess.SigTerm);
            await Process.WaitForExitAsync(TimeSpan.FromSeconds(20));
        }

        await Process.DisposeAsync();
    }
}
