using k8s;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Config;
using Scheduler.Exec;
using Scheduler.Fleet;
using Scheduler.GitLab;
using Scheduler.Hosting;
using Scheduler.Kubernetes;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Metrics;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Scheduler.Run;

/// <summary>The arguments of <c>scheduler run</c>.</summary>
/// <param name="HostHelper">Pods run this build's <c>scheduler helper</c> from the host's filesystem, as on the embedded cluster
/// (for a standalone <c>scheduler local-cluster</c> on the same machine).</param>
/// <param name="Cluster">The <c>--cluster-port</c>, <c>--seed</c> and <c>--cluster-hostname</c> flags (over <c>[cluster]</c>).</param>
public sealed record RunRequest(string ConfigPath, string? ServiceAccount, string? KubeconfigPath, bool HostHelper = false,
    ClusterFlags? Cluster = null);

/// <summary>How the process asks <c>run</c> to stop or reload (signals in the CLI, calls in tests).</summary>
public sealed class RunControl : IDisposable
{
    private readonly CancellationTokenSource _quit = new();
    private readonly CancellationTokenSource _terminate = new();
    private readonly CancellationTokenSource _abort = new();
    private int _stops;

    public CancellationToken Quit => _quit.Token;
    public CancellationToken Terminate => _terminate.Token;
    public CancellationToken Abort => _abort.Token;

    public event Action? ReloadRequested;

    /// <summary>SIGQUIT: stop asking, let running jobs finish. A second stop signal of any kind aborts.</summary>
    public void RequestQuit() => Stop(_quit);

    /// <summary>SIGTERM/SIGINT: stop asking, fail jobs still running after shutdown_timeout. A second stop signal aborts.</summary>
    public void RequestTerminate() => Stop(_terminate);

    public void RequestReload() => ReloadRequested?.Invoke();

    private void Stop(CancellationTokenSource which)
    {
        if (Interlocked.Increment(ref _stops) == 1)
        {
            which.Cancel();
        }
        else
        {
            _abort.Cancel();
        }
    }

    public void Dispose()
    {
        _quit.Dispose();
        _terminate.Dispose();
        _abort.Dispose();
    }
}

/// <summary><c>scheduler run</c>: serves GitLab until stopped. Exit codes: 0 stopped in order, 1 aborted by a second signal
/// or failed to start, 2 the config does not load or a Kubernetes connection is unusable.</summary>
public static class RunProgram
{
    public const int StoppedExitCode = 0;
    public const int AbortedExitCode = 1;
    public const int InvalidExitCode = 2;

    private static readonly TimeSpan ReloadDebounce = TimeSpan.FromSeconds(1);

    public static async Task<int> RunAsync(RunRequest request, TextWriter stderr, RunControl control)
    {
        var environment = KubernetesEnvironment.FromProcess();
        var configEnvironment = new Dictionary<string, string>(environment.Variables, StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(request.ServiceAccount))
        {
            configEnvironment[ConfigLoader.ServiceAccountVariable] = request.ServiceAccount;
        }

        var configPath = Path.GetFullPath(request.ConfigPath);
        var loaded = ConfigLoader.LoadFile(configPath, configEnvironment);
        foreach (var warning in loaded.Warnings)
        {
            await stderr.WriteLineAsync(warning.ToString());
        }

        if (!loaded.IsValid)
        {
            foreach (var error in loaded.Errors)
            {
                await stderr.WriteLineAsync(error.ToString());
            }

            await stderr.WriteLineAsync($"run: {configPath} does not load ({loaded.Errors.Count} error(s))");
            return InvalidExitCode;
        }

        var (settings, flagErrors) = (request.Cluster ?? ClusterFlags.None).ApplyTo(loaded.Settings!);
        if (flagErrors.Count > 0)
        {
            foreach (var error in flagErrors)
            {
                await stderr.WriteLineAsync($"run: {error}");
            }

            return InvalidExitCode;
        }

        ConfigureLogging(settings);

        var connections = new Dictionary<string, KubernetesConnection>(StringComparer.Ordinal);
        foreach (var runner in settings.Runners)
        {
            var connection = KubernetesConnectionResolver.Resolve(runner.Kubernetes, environment, request.KubeconfigPath);
            if (connection.Error is not null)
            {
                await stderr.WriteLineAsync($"run: runner \"{runner.Name}\": cannot connect to Kubernetes ({connection.Description}): {connection.Error}");
                return InvalidExitCode;
            }

            connections[runner.Name] = connection;
        }

        LocalClusterServer? embedded = null;
        string? embeddedDir = null;
        try
        {
            KubernetesClientConfiguration? embeddedConfiguration = null;
            if (connections.Values.Any(c => c.Configuration is null))
            {
                embeddedDir = Directory.CreateTempSubdirectory("scheduler-run-").FullName;
                embedded = await EmbeddedCluster.StartAsync(embeddedDir, control.Abort, new NodeSettings { UseImages = true });
                embeddedConfiguration = embedded.ClientConfiguration();
                await stderr.WriteLineAsync($"run: warning: no Kubernetes configured; running jobs on the embedded cluster at {embedded.Url}, " +
                                            "whose pods are local processes (each container in its image): for trials only");
            }

            var configurations = connections.ToDictionary(c => c.Key, c => c.Value.Configuration ?? embeddedConfiguration!);
            var fallback = configurations.Values.FirstOrDefault() ?? embeddedConfiguration;
            using var limiter = ApiRateLimiter.For(settings);
            using var gateways = new KubernetesGatewayFactory((runner, token) =>
            {
                var configuration = configurations.GetValueOrDefault(runner.Name) ?? fallback
                                    ?? throw new InvalidOperationException($"no Kubernetes connection for runner \"{runner.Name}\"");
                return string.IsNullOrEmpty(token) ? configuration : WithToken(configuration, token);
            }, limiter);

            // On the embedded cluster the helper is this very build; elsewhere the helper image brings `scheduler`.
            var helper = embedded is not null || request.HostHelper ? ExecHelper.ForThisProcess() : HelperInvocation.Default;
            var identity = RunnerIdentity.Current();
            var metrics = new RunnerMetrics();
            using var http = GitLabHttp.CreateClient(connectionMaxAge: settings.ConnectionMaxAge);
            using var cacheUrls = new Cache.S3CacheUrlSource();
            var execution = new ExecutionOptions(identity, helper) { Planner = new ScriptedJobPlanner(identity, helper, cacheUrls) };
            var options = new RunHostOptions(gateways, execution, http, identity,
                RunnerSystemId.LoadOrCreate(configPath)) { Metrics = metrics };
            await using var host = RunHost.Start(settings, options);
            foreach (var problem in host.Problems)
            {
                Log.Warning("{Problem}", problem);
            }

            Log.Information("scheduler run: serving {Count} runner(s) from {Config}", host.RunnerNames.Count, configPath);
            if (host.OwnerId is not null)
            {
                Log.Information("fleet node {Owner}; seed nodes: {Seeds}", host.OwnerId,
                    settings.Cluster!.SeedNodes.Count == 0 ? "none (this node starts the fleet)" : string.Join(", ", settings.Cluster.SeedNodes));
            }

            await using var endpoint = string.IsNullOrEmpty(settings.ListenAddress)
                ? null
                : await MetricsEndpoint.StartAsync(settings.ListenAddress, metrics.Registry, host.IsReadyAsync, control.Abort,
                    fleetStatus: host.FleetStatusAsync);
            using var reloader = new ConfigReloader(configPath, configEnvironment, host, control, settings);

            using var stopSignal = CancellationTokenSource.CreateLinkedTokenSource(control.Quit, control.Terminate);
            await Task.WhenAny(Task.Delay(Timeout.Infinite, stopSignal.Token), host.System.WhenTerminated)
                .ContinueWith(_ => { }, CancellationToken.None);
            if (host.System.WhenTerminated.IsCompleted && !stopSignal.IsCancellationRequested)
            {
                // Downed by the split brain resolver (the node was on the minority side): its jobs go to the others.
                Log.Error("this node was removed from the fleet; exiting so that it can be restarted and rejoin");
                return AbortedExitCode;
            }

            try
            {
                if (control.Quit.IsCancellationRequested)
                {
                    Log.Information("stopping gracefully: no new jobs, waiting for running jobs to finish");
                    await host.StopGracefullyAsync(control.Abort);
                }
                else
                {
                    Log.Information("stopping: no new jobs, running jobs have {Timeout} s", reloader.Current.ShutdownTimeout);
                    await host.StopAsync(TimeSpan.FromSeconds(Math.Max(0, reloader.Current.ShutdownTimeout)), control.Abort);
                }
            }
            catch (OperationCanceledException) when (control.Abort.IsCancellationRequested)
            {
                Log.Warning("second signal: exiting now");
                return AbortedExitCode;
            }

            Log.Information("stopped");
            return StoppedExitCode;
        }
        catch (OperationCanceledException) when (control.Abort.IsCancellationRequested)
        {
            return AbortedExitCode;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            await stderr.WriteLineAsync($"run: {e.Message}");
            return AbortedExitCode;
        }
        finally
        {
            if (embedded is not null)
            {
                await embedded.DisposeAsync();
            }

            if (embeddedDir is not null)
            {
                try
                {
                    Directory.Delete(embeddedDir, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Left in the temp directory: harmless.
                }
            }

            await Log.CloseAndFlushAsync();
        }
    }

    /// <summary>Serilog on stderr, text or JSON per <c>log_format</c>, at <c>log_level</c> (default info).</summary>
    public static void ConfigureLogging(GlobalSettings settings)
    {
        var level = settings.LogLevel?.ToLowerInvariant() switch
        {
            "debug" => LogEventLevel.Debug,
            "warn" or "warning" => LogEventLevel.Warning,
            "error" => LogEventLevel.Error,
            "fatal" or "panic" => LogEventLevel.Fatal,
            _ => LogEventLevel.Information,
        };
        var configuration = new LoggerConfiguration().MinimumLevel.Is(level).Enrich.FromLogContext();
        Log.Logger = configuration.WriteToStderr(settings.LogFormat).CreateLogger();
    }

    private static KubernetesClientConfiguration WithToken(KubernetesClientConfiguration configuration, string token) => new()
    {
        Host = configuration.Host,
        SslCaCerts = configuration.SslCaCerts,
        SkipTlsVerify = configuration.SkipTlsVerify,
        TlsServerName = configuration.TlsServerName,
        AccessToken = token,
    };
}
