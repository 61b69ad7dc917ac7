using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Scheduler.Hosting;

/// <summary>
/// The composition root: a .NET generic host whose only service is the ActorSystem that <c>AddAkka</c> builds from
/// <paramref name="configure"/> (see <see cref="SchedulerAkka"/>). Disposing it runs Akka's coordinated shutdown.
/// The host does not handle signals: <c>run</c> and <c>exec</c> decide themselves when to stop (their jobs come first).
/// </summary>
public sealed class SchedulerHost : IAsyncDisposable
{
    private readonly IHost _host;

    private SchedulerHost(IHost host)
    {
        _host = host;
        System = host.Services.GetRequiredService<ActorSystem>();
        Registry = host.Services.GetRequiredService<ActorRegistry>();
    }

    public ActorSystem System { get; }

    /// <summary>The top-level actors that <c>WithActors</c> registered, by actor type.</summary>
    public ActorRegistry Registry { get; }

    /// <summary>Builds and starts the host. <paramref name="started"/> completes when the <c>WithActors</c> steps are done;
    /// a step that failed is rethrown here (Akka.Hosting itself would only log it and stop the host).</summary>
    public static async Task<SchedulerHost> StartAsync(string systemName, Action<AkkaConfigurationBuilder> configure,
        Task? started = null, CancellationToken ct = default)
    {
        var host = new HostBuilder()
            .ConfigureServices(services =>
            {
                // No console lifetime: its SIGTERM handler would stop the host before the runner has handed its jobs over.
                services.AddSingleton<IHostLifetime, NoSignalLifetime>();
                services.AddAkka(systemName, builder => configure(builder));
            })
            .Build();
        try
        {
            // Akka.Hosting runs the WithActors steps inside StartAsync: by its end they are done, failed, or never ran.
            await host.StartAsync(ct);
            if (started is { IsCompleted: false })
            {
                throw new InvalidOperationException($"the actor system \"{systemName}\" did not start its actors");
            }

            if (started is not null)
            {
                await started;
            }

            var running = new SchedulerHost(host);
            if (running.System.WhenTerminated.IsCompleted)
            {
                throw new InvalidOperationException($"the actor system \"{systemName}\" stopped while it started");
            }

            return running;
        }
        catch
        {
            await StopAsync(host);
            throw;
        }
    }

    /// <summary>Starts a host synchronously: for start-up paths that are synchronous themselves (tests, RunHost.Start).</summary>
    public static SchedulerHost Start(string systemName, Action<AkkaConfigurationBuilder> configure, Task? started = null) =>
        StartAsync(systemName, configure, started).GetAwaiter().GetResult();

    public async ValueTask DisposeAsync() => await StopAsync(_host);

    private static async Task StopAsync(IHost host)
    {
        try
        {
            await host.StopAsync();
        }
        finally
        {
            host.Dispose();
        }
    }

    /// <summary>An <see cref="IHostLifetime"/> that neither waits for nor reacts to anything.</summary>
    private sealed class NoSignalLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
