using k8s;
using Scheduler.Actors.Execution;
using Scheduler.Hosting;
using Scheduler.Kubernetes;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

namespace Scheduler.Exec;

/// <summary>Where exec writes: the trace (stdout), status lines (stderr), and whether stderr is a terminal.</summary>
public sealed record ExecConsole(Stream Trace, TextWriter Status, bool StatusIsTerminal);

/// <summary><c>scheduler exec</c> from parsed arguments to exit code: 0 the job succeeded, 1 it failed or was canceled,
/// 2 invalid input. Each outcome ends with one line on stderr.</summary>
public static class ExecProgram
{
    public const int SucceededExitCode = 0;
    public const int FailedExitCode = 1;
    public const int InvalidExitCode = 2;

    /// <param name="gateways">Builds the Kubernetes port for a connection (the real adapter in the CLI).</param>
    /// <param name="graceful">Cancels the job, after_script still runs.</param>
    /// <param name="abort">Stops the job at once; its pod is still deleted.</param>
    public static async Task<int> RunAsync(ExecRequest request, ExecConsole console,
        Func<KubernetesClientConfiguration, IKubernetesGatewayFactory> gateways, CancellationToken graceful, CancellationToken abort)
    {
        var preparation = await ExecPreparation.PrepareAsync(request, abort);
        foreach (var warning in preparation.Warnings)
        {
            await console.Status.WriteLineAsync($"exec: warning: {warning}");
        }

        if (preparation.Prepared is not { } prepared)
        {
            foreach (var error in preparation.Errors)
            {
                await console.Status.WriteLineAsync($"exec: {error}");
            }
            await console.Status.WriteLineAsync($"Job not run: invalid input ({preparation.Errors.Count} error(s))");
            return InvalidExitCode;
        }

        var connection = KubernetesConnectionResolver.Resolve(prepared.Runner.Kubernetes, KubernetesEnvironment.FromProcess(),
            request.KubeconfigPath is null ? null : Path.GetFullPath(request.KubeconfigPath, request.WorkingDirectory));
        if (connection.Error is not null)
        {
            await console.Status.WriteLineAsync($"exec: cannot connect to Kubernetes ({connection.Description}): {connection.Error}");
            await console.Status.WriteLineAsync("Job not run: invalid Kubernetes connection");
            return InvalidExitCode;
        }

        LocalClusterServer? embedded = null;
        string? embeddedDir = null;
        try
        {
            var configuration = connection.Configuration;
            var helper = HelperInvocation(connection.Source);
            if (configuration is null)
            {
                embeddedDir = Directory.CreateTempSubdirectory("scheduler-exec-").FullName;
                embedded = await EmbeddedCluster.StartAsync(embeddedDir, abort, new NodeSettings { UseImages = true });
                configuration = embedded.ClientConfiguration();
                await console.Status.WriteLineAsync(
                    $"exec: no Kubernetes configured; running on the embedded trial cluster at {embedded.Url} (pods are local processes, each container in its image)");
            }

            var options = new ExecutionOptions(RunnerIdentity.Current(), helper, prepared.ArtifactsDir);
            await using var session = ExecSession.Start(prepared.Settings, gateways(configuration), options);
            var sink = new ConsoleTraceSink(console.Trace, console.Status, console.StatusIsTerminal);
            var result = await session.RunAsync(prepared.Job, prepared.Runner.Name, sink, graceful, abort);
            sink.Finished(result.State == JobState.Success, Reason(result));
            return result.State == JobState.Success ? SucceededExitCode : FailedExitCode;
        }
        finally
        {
            if (embedded is not null)
            {
                await embedded.DisposeAsync();
            }
            if (embeddedDir is not null)
            {
                TryDelete(embeddedDir);
            }
        }
    }

    /// <summary>The reason on the final line: the job's own message without its "ERROR: Job failed: " prefix, with GitLab's
    /// failure reason, e.g. "exit code 3 (script_failure)".</summary>
    public static string Reason(JobResult result)
    {
        if (result.State == JobState.Success)
        {
            return "";
        }

        const string prefix = "ERROR: Job failed: ";
        var message = result.Message.StartsWith(prefix, StringComparison.Ordinal) ? result.Message[prefix.Length..] : result.Message;
        return (message.Length, result.FailureReason) switch
        {
            (0, null) => "unknown reason",
            (0, { } reason) => reason,
            (_, null) => message,
            (_, { } reason) => $"{message} ({reason})",
        };
    }

    // On the embedded cluster the helper is this very build; elsewhere the helper image brings `scheduler`.
    private static Actors.Scripts.HelperInvocation HelperInvocation(KubernetesConnectionSource source) =>
        source == KubernetesConnectionSource.None ? ExecHelper.ForThisProcess() : Actors.Scripts.HelperInvocation.Default;

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind in the temp directory: harmless.
        }
    }
}
