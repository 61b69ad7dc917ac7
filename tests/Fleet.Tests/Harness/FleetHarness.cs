using System.Net;
using System.Text;
using k8s;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.FakeGitLab;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>
/// One test's world: a standalone embedded cluster process, the fake GitLab in this process with one runner, and the
/// <c>scheduler run</c> nodes the test starts. With a network namespace, GitLab listens on the veth's host end (host-side
/// nodes reach it there too) and the cluster is also reachable there through a forwarder, so a node inside the namespace
/// reaches both. Disposing stops everything (nodes first, then the cluster with its pods) and deletes the namespace.
/// </summary>
public sealed class FleetHarness : IAsyncDisposable
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "scheduler-fleet-tests");

    private readonly List<RunNode> _nodes = [];
    private readonly List<FakeJob> _jobs = [];
    private TcpForwarder? _forwarder;

    private FleetHarness(string directory, LocalClusterProcess cluster, FakeGitLabServer gitLab, NetworkNamespace? ns)
    {
        Directory = directory;
        Cluster = cluster;
        GitLab = gitLab;
        Namespace = ns;
        RunnerToken = gitLab.AddRunner(description: "fleet");
        Kube = cluster.Client();
    }

    public string Directory { get; }
    public LocalClusterProcess Cluster { get; }
    public FakeGitLabServer GitLab { get; }
    public NetworkNamespace? Namespace { get; }
    public string RunnerToken { get; }
    public k8s.Kubernetes Kube { get; }
    public IReadOnlyList<RunNode> Nodes
    {
        get { lock (_nodes) { return _nodes.ToArray(); } }
    }

    /// <summary>The address host-side nodes advertise to each other: the veth's host end when there is a namespace (so
    /// the node inside reaches them), else loopback.</summary>
    public IPAddress HostAddress => Namespace?.HostAddress ?? IPAddress.Loopback;

    /// <param name="clusterArguments">More flags of the cluster process, e.g. its <c>--fault-*</c> flags.</param>
    public static async Task<FleetHarness> StartAsync(string testName, NetworkNamespace? ns = null, IReadOnlyList<string>? clusterArguments = null)
    {
        var directory = System.IO.Directory.CreateDirectory(Path.Combine(Root, $"{testName}-{DateTime.UtcNow:HHmmss}-{Guid.NewGuid().ToString("N")[..8]}"))
            .FullName;
        // Jobs run as the embedded cluster's non-root user and write their marks here (runs, sleepers started).
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111);
        }
        var cluster = await LocalClusterProcess.StartAsync(directory, clusterArguments);
        FakeGitLabServer gitLab;
        try
        {
            gitLab = ns is null
                ? await FakeGitLabServer.StartAsync()
                : await FakeGitLabServer.StartAsync(ns.HostAddress, null);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return new FleetHarness(directory, cluster, gitLab, ns);
    }

    /// <summary>A kubeconfig that works from inside the namespace: the cluster through a forwarder on the veth's host end.</summary>
    private string KubeconfigFor(NetworkNamespace? ns)
    {
        if (ns is null)
        {
            return Cluster.KubeconfigPath;
        }

        _forwarder ??= new TcpForwarder(ns.HostAddress, new IPEndPoint(IPAddress.Loopback, Cluster.Url.Port));
        return Cluster.WriteKubeconfig(Path.Combine(Directory, $"kubeconfig-{ns.Name}"),
            new Uri($"https://{_forwarder.Endpoint}"));
    }

    /// <summary>Node settings for this harness's GitLab and runner; <paramref name="inNamespace"/> listens on the namespace end.</summary>
    public NodeSettings NodeSettings(string name, int concurrent, bool inNamespace = false, ClusterSection? cluster = null, int limit = 0) => new()
    {
        Name = name,
        GitLabUrl = GitLab.Url,
        RunnerToken = RunnerToken,
        Concurrent = concurrent,
        Limit = limit,
        ListenHost = inNamespace ? Namespace!.InnerAddress : HostAddress,
        Cluster = cluster,
    };

    public async Task<RunNode> StartNodeAsync(NodeSettings settings, bool inNamespace = false)
    {
        var ns = inNamespace ? Namespace ?? throw new InvalidOperationException("this harness has no network namespace") : null;
        string kubeconfig;
        lock (_nodes)
        {
            kubeconfig = KubeconfigFor(ns);
        }

        var node = await RunNode.StartAsync(Directory, settings, kubeconfig, ns);
        lock (_nodes)
        {
            _nodes.Add(node);
        }

        return node;
    }

    /// <summary><paramref name="count"/> fleet nodes (<c>node1</c>…): the first is the seed of all and starts first, the others
    /// then start together; the <paramref name="inNamespace"/>-th (0-based, if any) runs inside the network namespace.
    /// <paramref name="adjust"/> changes a node's settings (e.g. its check_interval). Returns once every node sees all Up.</summary>
    public async Task<IReadOnlyList<RunNode>> StartFleetAsync(int count, int concurrent, int? inNamespace = null,
        Func<int, NodeSettings, NodeSettings>? adjust = null)
    {
        // Nodes on the veth addresses listen beyond loopback, which a node does only with TLS.
        var tls = Namespace is null ? null : FleetCertificates.Write(Path.Combine(Directory, "fleet-tls"));
        var sections = Enumerable.Range(0, count).Select(i => new ClusterSection(
            (i == inNamespace ? Namespace!.InnerAddress : HostAddress).ToString(), FreePort.Next(), []) { Tls = tls }).ToArray();
        var seeds = new[] { sections[0].Address };
        Task<RunNode> Start(int i)
        {
            var inside = i == inNamespace;
            var settings = NodeSettings($"node{i + 1}", concurrent, inside, sections[i] with { SeedNodes = seeds });
            return StartNodeAsync(adjust?.Invoke(i, settings) ?? settings, inside);
        }

        var first = await Start(0);
        var others = await Task.WhenAll(Enumerable.Range(1, count - 1).Select(Start));
        RunNode[] nodes = [first, .. others];
        await WaitMembersUpAsync(nodes);
        return nodes;
    }

    /// <summary>Waits until each of <paramref name="nodes"/> sees exactly them all as Up members.</summary>
    public Task WaitMembersUpAsync(IReadOnlyCollection<RunNode> nodes) =>
        WaitUntilAsync(async () => (await Task.WhenAll(nodes.Select(n => n.MembersUpAsync()))).All(up => up == nodes.Count),
            TimeSpan.FromSeconds(90), () => $"every node to see {nodes.Count} members Up");

    /// <summary>Jobs that need no repository (GIT_STRATEGY none).</summary>
    public static FakeJobBuilder Job(string name, params string[] script) =>
        new FakeJobBuilder().Name(name).Variable("GIT_STRATEGY", "none").Script(script);

    public FakeJob Enqueue(FakeJobBuilder job)
    {
        var queued = GitLab.EnqueueJob(RunnerToken, job);
        lock (_jobs)
        {
            _jobs.Add(queued);
        }

        return queued;
    }

    public async Task<IReadOnlyList<V1Pod>> JobPodsAsync(string ns = "default") =>
        (await Kube.CoreV1.ListNamespacedPodAsync(ns, labelSelector: PodMetadata.JobIdLabel)).Items.ToArray();

    /// <summary>The <c>scheduler/owner</c> of each job's live pod (not being deleted), by job id.</summary>
    public async Task<IReadOnlyDictionary<long, string?>> OwnersAsync(string ns = "default") =>
        (await JobPodsAsync(ns))
        .Where(pod => pod.Metadata.DeletionTimestamp is null)
        .GroupBy(pod => long.Parse(PodWatchRecorder.ValueOf(pod.Metadata.Labels, PodMetadata.JobIdLabel)!, System.Globalization.CultureInfo.InvariantCulture))
        .ToDictionary(g => g.Key, g => PodWatchRecorder.ValueOf(g.First().Metadata.Annotations, PodMetadata.OwnerAnnotation));

    /// <summary>The node an owner id names (<c>akka.tcp://scheduler@host:port#uid</c>), if it is one of this harness's.</summary>
    public RunNode? NodeOf(string? owner) =>
        owner is null ? null : Nodes.FirstOrDefault(n => n.Settings.Cluster is { } c && owner.StartsWith(c.Address + "#", StringComparison.Ordinal));

    /// <summary>Waits for <paramref name="condition"/>; on timeout the error carries every process's last lines.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds} s waiting for {what()}\n{Diagnostics()}");
            }

            await Task.Delay(250);
        }
    }

    public Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> what) =>
        WaitUntilAsync(() => Task.FromResult(condition()), timeout, what);

    public Task WaitFinishedAsync(IReadOnlyCollection<FakeJob> jobs, TimeSpan timeout) =>
        WaitUntilAsync(() => jobs.All(j => j.IsFinished), timeout,
            () => "jobs to finish: " + string.Join(", ", jobs.Select(j => $"{j.Id} {j.Name} {j.Status}")));

    /// <summary>Every job's trace as GitLab holds it, in <c>traces/</c> beside the processes' logs, for a look after a failure.</summary>
    private void SaveTraces()
    {
        var dir = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "traces")).FullName;
        lock (_jobs)
        {
            foreach (var job in _jobs)
            {
                File.WriteAllBytes(Path.Combine(dir, $"{job.Id}-{job.Name}-{job.Status}.log"), job.TraceBytes());
            }
        }
    }

    /// <summary>The tail of every process's output, for a failure message.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        foreach (var node in Nodes)
        {
            text.AppendLine(node.Process.Tail(30));
        }

        text.AppendLine(Cluster.Process.Tail(15));
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        SaveTraces();
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        Kube.Dispose();
        await Cluster.DisposeAsync();
        await GitLab.DisposeAsync();
        if (_forwarder is not null)
        {
            await _forwarder.DisposeAsync();
        }

        Namespace?.Dispose();
        try
        {
            // Pods' volumes and logs; the processes' logs stay for a look after a failure.
            System.IO.Directory.Delete(Path.Combine(Directory, "cluster-state"), recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort in the temp directory.
        }
    }
}
