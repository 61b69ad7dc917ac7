using System.Text;
using Scheduler.Actors.Execution;
using Scheduler.Config;
using Scheduler.Exec;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

/// <summary>SCHEDULER_E2E_LOG=FILE writes the actors' debug log there, to see where a job stalls.</summary>
internal static class DebugLog
{
    public static readonly string Hocon = Configure();

    private static string Configure()
    {
        if (Environment.GetEnvironmentVariable("SCHEDULER_E2E_LOG") is not { Length: > 0 } path)
        {
            return "";
        }

        Serilog.Log.Logger = new Serilog.LoggerConfiguration().MinimumLevel.Debug()
            .WriteTo.Sink(new FileSink(path)).CreateLogger();
        return "akka.loglevel = DEBUG";
    }

    private sealed class FileSink(string path) : Serilog.Core.ILogEventSink
    {
        private readonly Lock _lock = new();

        public void Emit(Serilog.Events.LogEvent logEvent)
        {
            lock (_lock)
            {
                File.AppendAllText(path, $"{logEvent.Timestamp:HH:mm:ss.fff} {logEvent.Level} {logEvent.RenderMessage()} {logEvent.Exception}\n");
            }
        }
    }
}

/// <summary>What a job run left behind: its result and its whole trace as the console sink wrote it.</summary>
public sealed record JobRun(JobResult Result, string Trace, JobPayload Job);

/// <summary>Runs .gitlab-ci.yml jobs the way <c>scheduler exec</c> does, through the actor tree on the fixture's cluster.</summary>
public sealed class JobHarness(ClusterFixture cluster)
{
    public static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(45);

    /// <summary>The TOML of <c>[runners.kubernetes]</c> and below, added to a runner entry like exec's built-in one.</summary>
    public static string Config(string kubernetesExtra = "") => $"""
        concurrent = 4
        [[runners]]
        name = "e2e"
        url = "{ExecJobPayloadBuilder.ServerUrl}"
        token = "e2e-runner-token"
        executor = "kubernetes"
        [runners.kubernetes]
        image = "alpine:latest"
        namespace = "default"
        poll_interval = 1
        poll_timeout = 60
        {kubernetesExtra}
        """;

    public async Task<JobRun> RunAsync(string yaml, string jobName, string? configToml = null, string? artifactsDir = null,
        IReadOnlyList<ExecVariableFlag>? flags = null, Action<JobPayload>? onStart = null, string? cancelWhenTraceHas = null)
    {
        var parsed = CiFileParser.Parse(yaml, ".gitlab-ci.yml");
        Assert.True(parsed.IsSuccess, string.Join("\n", parsed.Errors));
        var job = parsed.File!.Job(jobName) ?? throw new ArgumentException($"no job {jobName}");
        var payload = ExecJobPayloadBuilder.Build(job, cluster.Repository,
            new ExecJobOptions(ExecJobPayloadBuilder.NewJobId(), ExecJobPayloadBuilder.NewJobToken(), flags ?? [], DateTimeOffset.UtcNow));

        var config = ConfigLoader.LoadText(configToml ?? Config(), "e2e.toml");
        Assert.True(config.IsValid, string.Join("\n", config.Errors));
        var options = new ExecutionOptions(RunnerIdentity.Current(), ExecHelper.ForThisProcess(), artifactsDir);
        var gateways = ExecGateways.Create(cluster.Server.ClientConfiguration());
        await using var session = ExecSession.Start(config.Settings!,
            DebugLog.Hocon.Length > 0 ? new LoggingGateways(gateways) : gateways, options, DebugLog.Hocon);

        using var graceful = new CancellationTokenSource();
        var trace = new ObservedTrace(cancelWhenTraceHas, graceful);
        var sink = new ConsoleTraceSink(trace, TextWriter.Null, showProgress: false);
        using var timeout = new CancellationTokenSource(JobTimeout);
        var run = session.RunAsync(payload, config.Settings!.Runners[0].Name, sink, graceful.Token, timeout.Token);
        onStart?.Invoke(payload);
        var result = await run;
        return new JobRun(result, Encoding.UTF8.GetString(trace.ToArray()), payload);
    }
}

/// <summary>The trace in memory; cancels the job (gracefully, like a first Ctrl-C) once it contains a given text.</summary>
internal sealed class ObservedTrace(string? cancelWhenTraceHas, CancellationTokenSource graceful) : MemoryStream
{
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        base.Write(buffer);
        if (cancelWhenTraceHas is not null && !graceful.IsCancellationRequested &&
            Encoding.UTF8.GetString(ToArray()).Contains(cancelWhenTraceHas, StringComparison.Ordinal))
        {
            graceful.Cancel();
        }
    }
}

/// <summary>With SCHEDULER_E2E_LOG set, every exec's argv and outcome goes to the debug log.</summary>
internal sealed class LoggingGateways(IKubernetesGatewayFactory inner) : IKubernetesGatewayFactory
{
    public IKubernetesGateway For(Messages.Settings.RunnerEntry runner, string? bearerTokenOverwrite) =>
        new Gateway(inner.For(runner, bearerTokenOverwrite));

    private sealed class Gateway(IKubernetesGateway inner) : IKubernetesGateway
    {
        public Task<k8s.Models.V1Pod> CreatePodAsync(k8s.Models.V1Pod pod, CancellationToken ct) => inner.CreatePodAsync(pod, ct);
        public Task<k8s.Models.V1Secret> CreateSecretAsync(k8s.Models.V1Secret secret, CancellationToken ct) => inner.CreateSecretAsync(secret, ct);
        public Task<k8s.Models.V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(k8s.Models.V1PodDisruptionBudget budget, CancellationToken ct) =>
            inner.CreatePodDisruptionBudgetAsync(budget, ct);
        public Task<k8s.Models.V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct) => inner.ReadPodAsync(ns, name, ct);
        public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) =>
            inner.DeletePodAsync(ns, name, gracePeriodSeconds, ct);
        public Task<IReadOnlyList<k8s.Models.Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct) =>
            inner.ListWarningEventsAsync(ns, podName, limit, ct);
        public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct) => inner.ServiceAccountExistsAsync(ns, name, ct);
        public Task CreateNamespaceAsync(string name, CancellationToken ct) => inner.CreateNamespaceAsync(name, ct);
        public Task DeleteNamespaceAsync(string name, CancellationToken ct) => inner.DeleteNamespaceAsync(name, ct);
        public Task<IReadOnlyList<k8s.Models.V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct) =>
            inner.ListPodsAsync(ns, labelSelector, ct);
        public Task<k8s.Models.V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct) =>
            inner.ClaimPodAsync(ns, name, expectedResourceVersion, owner, ct);
        public Task<k8s.Models.V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct) => inner.ReadSecretAsync(ns, name, ct);
        public Task<k8s.Models.V1Secret?> SetSecretOwnerAsync(string ns, string name, k8s.Models.V1OwnerReference owner, CancellationToken ct) =>
            inner.SetSecretOwnerAsync(ns, name, owner, ct);
        public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) =>
            inner.DeleteSecretAsync(ns, name, gracePeriodSeconds, ct);

        public IAsyncEnumerable<(k8s.WatchEventType Type, k8s.Models.V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector, CancellationToken ct) =>
            inner.WatchPodsAsync(ns, labelSelector, ct);

        public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
            Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
        {
            var shown = string.Join(' ', command.Select(a => a.Length > 60 ? a[..60] + "…" : a)).ReplaceLineEndings(" ");
            Serilog.Log.Information("exec {Container}: {Command}", container, shown);
            try
            {
                var code = await inner.ExecAsync(ns, pod, container, command, onStdout, ct);
                Serilog.Log.Information("exec {Container} -> {Code}: {Command}", container, code, shown);
                return code;
            }
            catch (Exception e)
            {
                Serilog.Log.Information("exec {Container} threw {Error}: {Command}", container, e.GetType().Name + " " + e.Message, shown);
                throw;
            }
        }
    }
}
