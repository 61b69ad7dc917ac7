// `scheduler run`'s host: the actor registration (intakes, fleet), reload and shutdown share the running settings,
// so they stay together; the fleet's own parts live in Fleet/.
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Intake;
using Scheduler.GitLab;
using Scheduler.Fleet;
using Scheduler.Hosting;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Scheduler.Metrics;

namespace Scheduler.Run;

/// <summary>What the run host needs besides the config: the Kubernetes port, how jobs execute, and GitLab's HTTP client.</summary>
public sealed record RunHostOptions(IKubernetesGatewayFactory Gateways, ExecutionOptions Execution, HttpClient Http, RunnerIdentity Identity,
    string SystemId)
{
    public RunnerMetrics? Metrics { get; init; }

    /// <summary>HOCON over the base file (tests use it for quieter logs).</summary>
    public string HoconOverrides { get; init; } = "";

    /// <summary>The trace update interval until GitLab sets one.</summary>
    public TimeSpan TraceUpdateInterval { get; init; } = GitLabJobTrace.DefaultUpdateInterval;

    /// <summary>How long aborted jobs may take to report after <c>shutdown_timeout</c>.</summary>
    public TimeSpan AbortGrace { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a fleet node reports its held leases to the lease singleton.</summary>
    public TimeSpan LeaseReportInterval { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// <c>scheduler run</c> without the process around it: an ActorSystem with the RunnerSupervisor (<c>/user/runner</c>) and one
/// JobIntake per <c>[[runners]]</c> entry (<c>/user/runner/intake-&lt;name&gt;-&lt;n&gt;</c>, children of the supervisor). Stopping is explicit:
/// <see cref="StopGracefullyAsync"/> (SIGQUIT) or <see cref="StopAsync"/> (SIGTERM/SIGINT); <see cref="Reload"/> applies new limits.
/// The ActorSystem is built by Akka.Hosting (<see cref="SchedulerHost"/>); its top-level actors are in <see cref="Registry"/>.
/// With <c>[cluster]</c> the node is a fleet member: a clustered ActorSystem, <c>/user/fleet</c> (adoption, status),
/// <c>/user/fleet-limits</c> (fleet-wide <c>limit</c>), pods owned by <see cref="OwnerId"/>, and SIGTERM is a graceful leave.
/// </summary>
public sealed class RunHost : IAsyncDisposable
{
    private readonly RunHostOptions _options;
    private readonly Dictionary<string, IActorRef> _intakes;
    private readonly SchedulerHost _host;
    private readonly List<HttpClient> _ownClients;
    private GlobalSettings _settings;

    private RunHost(SchedulerHost host, StartedActors actors, GlobalSettings settings, RunHostOptions options,
        List<HttpClient> ownClients)
    {
        _host = host;
        _intakes = actors.Intakes;
        _ownClients = ownClients;
        _settings = settings;
        _options = options;
        Supervisor = actors.Supervisor;
        Problems = actors.Problems;
        Fleet = actors.Fleet;
        FleetLimits = actors.FleetLimits;
        OwnerId = actors.OwnerId;
    }

    /// <summary>What the <c>WithActors</c> step started: the supervisor, an intake per entry and, in a fleet, the fleet actors.</summary>
    internal sealed record StartedActors(IActorRef Supervisor, Dictionary<string, IActorRef> Intakes, IReadOnlyList<string> Problems,
        IActorRef? Fleet, IActorRef? FleetLimits, string? OwnerId);

    public ActorSystem System => _host.System;

    /// <summary>The top-level actors by type: <c>RunnerSupervisor</c>, and in a fleet <c>FleetActor</c>, <c>FleetLimitsActor</c>
    /// and <c>FleetLeaseSingleton</c> (its proxy).</summary>
    public ActorRegistry Registry => _host.Registry;

    public IActorRef Supervisor { get; }

    /// <summary>In a fleet: <c>/user/fleet</c>; null on a single node.</summary>
    public IActorRef? Fleet { get; }

    /// <summary>In a fleet: <c>/user/fleet-limits</c>, where intakes ask for slots of entries with a <c>limit</c>.</summary>
    public IActorRef? FleetLimits { get; }

    /// <summary>In a fleet: this node's owner id (cluster UniqueAddress) on the pods it drives.</summary>
    public string? OwnerId { get; }

    public bool IsFleetNode => Fleet is not null;

    /// <summary>Runner entries that could not start (e.g. an unusable URL), one line each.</summary>
    public IReadOnlyList<string> Problems { get; }

    public IReadOnlyCollection<string> RunnerNames => _intakes.Keys;

    /// <summary>Starts the node through Akka.Hosting (<see cref="Registration"/>). Throws InvalidOperationException when
    /// <c>[cluster]</c> does not allow a start (no TLS beyond loopback, TLS files that do not load).</summary>
    public static RunHost Start(GlobalSettings settings, RunHostOptions options)
    {
        var registration = new Registration(settings, options);
        var host = SchedulerHost.Start(SchedulerActorSystem.SystemName, registration.Configure, registration.Started);
        var runHost = new RunHost(host, registration.Started.Result, settings, options, registration.OwnClients);
        runHost.PublishLimits();
        return runHost;
    }

    /// <summary>
    /// The node's Akka.Hosting registration: the shared settings and Serilog logger, a fleet node with <c>[cluster]</c>
    /// (<see cref="SchedulerAkka.WithFleetNode"/>), and one <c>WithActors</c> step that starts the top-level actors and
    /// registers them (<c>RunnerSupervisor</c>; in a fleet <c>FleetActor</c>, <c>FleetLimitsActor</c>, <c>FleetLeaseSingleton</c>)
    /// and the intakes under the supervisor. <see cref="RunHost.Start"/> uses it; tests hand it to Akka.Hosting.TestKit.
    /// </summary>
    public sealed class Registration
    {
        private readonly GlobalSettings _settings;
        private readonly RunHostOptions _options;
        private readonly FleetTls.Material? _tls;
        private readonly TaskCompletionSource<StartedActors> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Checks <c>[cluster]</c> (and loads its TLS files) at once, before any host starts.</summary>
        public Registration(GlobalSettings settings, RunHostOptions options)
        {
            _settings = settings;
            _options = options;
            _tls = settings.Cluster is { } cluster ? SchedulerActorSystem.PrepareFleetNode(cluster) : null;
        }

        /// <summary>Completes when the actors are started; faults with what stopped them.</summary>
        internal Task<StartedActors> Started => _started.Task;

        /// <summary>GitLab clients made for entries with their own CA; the host disposes them.</summary>
        internal List<HttpClient> OwnClients { get; } = [];

        public void Configure(AkkaConfigurationBuilder builder)
        {
            builder.WithSchedulerDefaults(SchedulerActorSystem.LevelOf(_options.HoconOverrides, Akka.Event.LogLevel.InfoLevel));
            if (_settings.Cluster is { } cluster)
            {
                builder.WithFleetNode(cluster, _tls);
            }

            // Akka.Hosting only logs a failed step: the failure goes to Started, where RunHost.Start rethrows it.
            builder.WithActors(new ActorStarter(async (system, registry) =>
            {
                try
                {
                    _started.TrySetResult(await StartActorsAsync(system, registry, _settings, _options, OwnClients));
                }
                catch (Exception e)
                {
                    _started.TrySetException(e);
                }
            }));
            builder.WithOverrides(_options.HoconOverrides);
        }
    }

    private static async Task<StartedActors> StartActorsAsync(ActorSystem system, IActorRegistry registry, GlobalSettings settings,
        RunHostOptions options, List<HttpClient> ownClients)
    {
        var execution = options.Execution;
        if (options.Metrics is { } runnerMetrics && execution.Observer is NoExecutionObserver)
        {
            execution = execution with { Observer = new MetricsExecutionObserver(runnerMetrics) };
        }

        IActorRef? fleetLimits = null;
        string? ownerId = null;
        if (settings.Cluster is { } fleetSettings)
        {
            SchedulerActorSystem.JoinSelfWhenFirst(system, fleetSettings);
            ownerId = FleetIds.OwnerId(Cluster.Get(system).SelfUniqueAddress);
            execution = execution with { OwnerId = ownerId };
            fleetLimits = FleetStartup.StartLimits(system, registry, options.LeaseReportInterval);
        }

        var supervisor = system.ActorOf(RunnerSupervisor.Props(settings, options.Gateways, execution), "runner");
        registry.Register<RunnerSupervisor>(supervisor);
        var intakes = new Dictionary<string, IActorRef>(StringComparer.Ordinal);
        var problems = new List<string>();
        var index = 0;
        foreach (var runner in settings.Runners)
        {
            index++;
            if (intakes.ContainsKey(runner.Name))
            {
                problems.Add($"runner \"{runner.Name}\": the name is used twice; only the first entry runs");
                continue;
            }

            if (!GitLabUrl.TryApiBase(runner.Url, out var apiBase, out var error))
            {
                problems.Add($"runner \"{runner.Name}\": {error}");
                continue;
            }

            // An entry with tls-ca-file or tls-cert-file has a client of its own that also trusts that CA or presents that certificate.
            var http = options.Http;
            if (runner.TlsCaCertificates is { Length: > 0 } || runner.TlsClientCertificate is { Length: > 0 })
            {
                http = GitLabHttp.CreateClient(runner.TlsCaCertificates, settings.ConnectionMaxAge, ClientCertificate(runner));
                ownClients.Add(http);
            }

            var client = new GitLabClient(http, apiBase, new GitLabClientOptions(options.Identity, options.SystemId)
            {
                Metrics = options.Metrics,
                MetricsRunner = RunnerMetrics.ShortToken(runner.Token),
            });
            // Intakes are the supervisor's children (it resumes them): it starts each and answers with its reference.
            intakes[runner.Name] = await supervisor.Ask<IActorRef>(new StartIntake(JobIntake.Props(runner.Name, LimitsOf(settings, runner),
                new GitLabJobSource(client, runner), new GitLabJobListeners(client, options.Metrics, options.TraceUpdateInterval,
                    finalRetryLimit: runner.JobStatusFinalUpdateRetryLimit),
                supervisor, fleetLimits), IntakeName(runner.Name, index)), TimeSpan.FromSeconds(30));
        }

        IActorRef? fleet = null;
        if (settings.Cluster is { } clusterSettings)
        {
            fleet = system.ActorOf(FleetActor.Props(settings.Runners, options.Gateways, intakes, supervisor,
                FleetOptions.From(clusterSettings)), FleetActor.Name);
            registry.Register<FleetActor>(fleet);
        }

        return new StartedActors(supervisor, intakes, problems, fleet, fleetLimits, ownerId);
    }

    /// <summary>The actor name of an entry's intake: <c>intake-</c> and the name with characters Akka refuses replaced.</summary>
    public static string IntakeName(string runnerName, int index)
    {
        var safe = Regex.Replace(runnerName, @"[^A-Za-z0-9\-_.]", "-");
        return safe.Length == 0 ? $"intake-{index}" : $"intake-{safe}-{index}";
    }

    // Read and checked when the config loaded; null when the entry has none.
    private static System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate(RunnerEntry runner) =>
        runner is { TlsClientCertificate: { Length: > 0 } certificate, TlsClientKey: { Length: > 0 } key }
            ? GitLabClientCertificate.FromPem(certificate, key, out _)
            : null;

    public static IntakeLimits LimitsOf(GlobalSettings settings, RunnerEntry runner) =>
        new(settings.Concurrent, runner.Limit, TimeSpan.FromSeconds(Math.Max(1, settings.CheckInterval)))
        {
            UnhealthyRequestsLimit = runner.UnhealthyRequestsLimit,
            UnhealthyInterval = runner.UnhealthyInterval,
            RequestConcurrency = runner.RequestConcurrency,
        };

    /// <summary>Applies a reloaded config: new <c>concurrent</c>, <c>limit</c> and <c>check_interval</c> bound new admissions,
    /// and new jobs are built with the reloaded entries' <c>[runners.kubernetes]</c> settings (running jobs keep theirs).
    /// Entries added or removed take effect on restart only; they are returned as notes.</summary>
    public IReadOnlyList<string> Reload(GlobalSettings settings)
    {
        var notes = new List<string>();
        foreach (var runner in settings.Runners)
        {
            if (_intakes.TryGetValue(runner.Name, out var intake))
            {
                intake.Tell(new UpdateIntakeLimits(LimitsOf(settings, runner)));
            }
            else
            {
                notes.Add($"runner \"{runner.Name}\" is new: it starts with the next restart");
            }
        }

        foreach (var name in _intakes.Keys.Where(n => settings.Runners.All(r => r.Name != n)))
        {
            notes.Add($"runner \"{name}\" was removed: it stops with the next restart");
        }

        _settings = settings;
        Supervisor.Tell(AdmissionLimitsOf(settings));
        Supervisor.Tell(new UpdateRunnerEntries(settings.Runners));
        PublishLimits();
        return notes;
    }

    public static UpdateAdmissionLimits AdmissionLimitsOf(GlobalSettings settings) =>
        new(settings.Concurrent, settings.Runners.GroupBy(r => r.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Limit, StringComparer.Ordinal));

    /// <summary>The <c>/fleet</c> document: every member's jobs and capacity, or this node alone when it is not in a fleet.</summary>
    public async Task<FleetStatus> FleetStatusAsync(CancellationToken ct = default)
    {
        if (Fleet is { } fleet)
        {
            return await fleet.Ask<FleetStatus>(GetFleetStatus.Instance, TimeSpan.FromSeconds(15), ct);
        }

        var address = ((ExtendedActorSystem)System).Provider.DefaultAddress.ToString();
        NodeStatus node;
        try
        {
            var capacity = await Supervisor.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(5), ct);
            node = new NodeStatus(address, [], "Up", true, capacity.Concurrent, new Dictionary<string, int>(capacity.RunningPerRunner),
                capacity.Free);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            // The intakes still know what runs here.
            var statuses = await StatusAsync(ct);
            var running = statuses.ToDictionary(s => s.RunnerName, s => s.RunningJobs.Count, StringComparer.Ordinal);
            node = new NodeStatus(address, [], "Up", true, _settings.Concurrent, running,
                Math.Max(0, _settings.Concurrent - running.Values.Sum()));
        }

        return new FleetStatus(address, false, [node]);
    }

    public async Task<IReadOnlyList<IntakeStatus>> StatusAsync(CancellationToken ct = default)
    {
        var asks = _intakes.Values.Select(i => i.Ask<IntakeStatus>(GetIntakeStatus.Instance, TimeSpan.FromSeconds(5), ct));
        return await Task.WhenAll(asks);
    }

    /// <summary>Ready while at least one entry's token is accepted. Asynchronous: a probe never blocks a thread.</summary>
    public async Task<bool> IsReadyAsync(CancellationToken ct = default)
    {
        try
        {
            return (await StatusAsync(ct)).Any(s => s.Healthy);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return false;
        }
    }

    public async Task<int> RunningJobCountAsync(CancellationToken ct = default) => (await StatusAsync(ct)).Sum(s => s.RunningJobs.Count);

    /// <summary>SIGQUIT: stop asking for work and wait for every running job to finish and report.</summary>
    public async Task StopGracefullyAsync(CancellationToken ct)
    {
        StopAllIntakes();
        await WaitForNoJobsAsync(ct);
    }

    /// <summary>SIGTERM/SIGINT: stop asking, give running jobs <paramref name="shutdownTimeout"/>, then fail the rest as
    /// runner_system_failure (their pods are deleted). <paramref name="ct"/> (a second signal) ends the wait at once.</summary>
    public async Task StopAsync(TimeSpan shutdownTimeout, CancellationToken ct)
    {
        if (IsFleetNode)
        {
            await LeaveFleetAsync(shutdownTimeout, ct);
            return;
        }

        StopAllIntakes();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(shutdownTimeout);
        try
        {
            await WaitForNoJobsAsync(timeout.Token);
            return;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // shutdown_timeout passed with jobs still running.
        }

        foreach (var intake in _intakes.Values)
        {
            intake.Tell(new AbortRunningJobs(FailureReasons.RunnerSystemFailure));
        }

        using var grace = CancellationTokenSource.CreateLinkedTokenSource(ct);
        grace.CancelAfter(_options.AbortGrace);
        try
        {
            await WaitForNoJobsAsync(grace.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The aborted jobs did not report in time; the process ends anyway.
        }
    }

    /// <summary>
    /// SIGTERM on a fleet node: stop asking, hand every running job over (the coordinator stops driving them and leaves the
    /// pods; each listener sends the trace it has and stops), leave the cluster and wait until this node is removed, so the
    /// others adopt its jobs at once. All within <paramref name="shutdownTimeout"/>; <paramref name="ct"/> ends it at once.
    /// </summary>
    public async Task LeaveFleetAsync(TimeSpan shutdownTimeout, CancellationToken ct)
    {
        StopAllIntakes();
        Supervisor.Tell(HandOverJobs.Instance);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(shutdownTimeout);
        try
        {
            await WaitForNoJobsAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The listeners did not all stop in time; the pods stay and are adopted all the same.
        }

        var cluster = Cluster.Get(System);
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberRemoved(() => removed.TrySetResult());
        await cluster.LeaveAsync(deadline.Token).ContinueWith(_ => { }, CancellationToken.None);
        await Task.WhenAny(removed.Task, Task.Delay(Timeout.Infinite, deadline.Token)).ContinueWith(_ => { }, CancellationToken.None);
        ct.ThrowIfCancellationRequested();
    }

    public async ValueTask DisposeAsync()
    {
        // Stops the host: Akka.Hosting runs the system's coordinated shutdown.
        await _host.DisposeAsync();
        foreach (var client in _ownClients)
        {
            client.Dispose();
        }
    }

    private void StopAllIntakes()
    {
        foreach (var intake in _intakes.Values)
        {
            intake.Tell(StopAsking.Instance);
        }
    }

    // A request still out may bring a job GitLab already counts as running: wait for its answer too.
    private async Task WaitForNoJobsAsync(CancellationToken ct)
    {
        while ((await StatusAsync(ct)) is var statuses && statuses.Any(s => s.RunningJobs.Count > 0 || s.RequestInFlight))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        }
    }

    private void PublishLimits()
    {
        if (_options.Metrics is not { } metrics)
        {
            return;
        }

        metrics.SetConcurrent(_settings.Concurrent);
        foreach (var runner in _settings.Runners)
        {
            metrics.SetLimit(runner.Name, runner.Limit);
        }
    }
}
