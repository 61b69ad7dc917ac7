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

    /// <summary>The API server, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Url { get; }

    /// <summary>The kubeconfig the cluster wrote (a placeholder token user, which KubernetesClient accepts).</summary>
    public string KubeconfigPath { get; }

    /// <param name="extraArguments">More flags of <c>scheduler local-cluster</c>, e.g. <c>--fault-server-errors 0.1</c>.</param>
    public static async Task<LocalClusterProcess> StartAsync(string directory, IReadOnlyList<string>? extraArguments = null)
    {
        var stateDir = Directory.CreateDirectory(Path.Combine(directory, "cluster-state")).FullName;
        var kubeconfig = Path.Combine(directory, "kubeconfig");
        var process = ChildProcess.Start("local-cluster", SchedulerBinary.Dotnet,
            [SchedulerBinary.Dll, "local-cluster", "--state-dir", stateDir, "--port", "0", "--kubeconfig", kubeconfig, .. extraArguments ?? []],
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

    /// <summary>A kubeconfig naming <paramref name="server"/> (e.g. a forwarder another network namespace reaches).</summary>
    public static string WriteKubeconfig(string path, Uri server)
    {
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: embedded
              cluster:
                server: {{server.ToString().TrimEnd('/')}}
            users:
            - name: fleet-tests
              user:
                token: fleet-tests
            contexts:
            - name: embedded
              context:
                cluster: embedded
                user: fleet-tests
            current-context: embedded
            """);
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
