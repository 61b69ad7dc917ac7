using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Hosting;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Exec;
using Scheduler.Fleet;
using Scheduler.GitLab;
using Scheduler.Hosting;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Run;
using Scheduler.Scheduler.Tests.Fleet;

namespace Scheduler.Scheduler.Tests.Hosting;

/// <summary>The production registration (<see cref="RunHost.Registration"/>, <see cref="ExecSession"/>) started on the
/// generic host as <c>run</c> and <c>exec</c> start it: what it registers, what a fleet node lets in from the wire, and
/// what happens when a start fails.</summary>
public sealed class CompositionRootTests
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    private static RunHostOptions Options(HttpClient http) =>
        new(new InMemoryPods(), new ExecutionOptions(Identity, HelperInvocation.Default), http, Identity, "s_0123456789ab")
        {
            HoconOverrides = FleetTestCluster.FastTimings,
        };

    // The intake asks a GitLab that is not there: it only has to exist.
    private static readonly RunnerEntry Entry = new() { Name = "main", Url = "http://127.0.0.1:9", Token = "glrt-registration" };

    [Fact]
    public async Task A_fleet_node_registers_each_top_level_actor()
    {
        using var http = GitLabHttp.CreateClient();
        var settings = new GlobalSettings { Concurrent = 2, Runners = [Entry], Cluster = new ClusterSettings { Port = 0 } };

        await using var host = RunHost.Start(settings, Options(http));

        Assert.Equal(host.Supervisor, host.Registry.Get<RunnerSupervisor>());
        Assert.Equal("/user/runner", host.Registry.Get<RunnerSupervisor>().Path.ToStringWithoutAddress());
        Assert.Equal(host.Fleet, host.Registry.Get<FleetActor>());
        Assert.Equal($"/user/{FleetActor.Name}", host.Registry.Get<FleetActor>().Path.ToStringWithoutAddress());
        Assert.Equal(host.FleetLimits, host.Registry.Get<FleetLimitsActor>());
        Assert.Equal($"/user/{FleetLeaseSingleton.ProxyName}", host.Registry.Get<FleetLeaseSingleton>().Path.ToStringWithoutAddress());
        // The intakes are the supervisor's children, not top-level actors.
        var intake = await host.System.ActorSelection($"/user/runner/{RunHost.IntakeName("main", 1)}")
            .ResolveOne(TimeSpan.FromSeconds(5));
        Assert.NotNull(intake);
    }

    [Fact]
    public async Task A_single_node_registers_the_supervisor_only_and_logs_through_Serilog()
    {
        using var http = GitLabHttp.CreateClient();

        await using var host = RunHost.Start(new GlobalSettings { Concurrent = 1, Runners = [Entry] }, Options(http));

        Assert.Equal(host.Supervisor, host.Registry.Get<RunnerSupervisor>());
        Assert.False(host.Registry.TryGet<FleetActor>(out _));
        Assert.False(host.Registry.TryGet<FleetLimitsActor>(out _));
        var settings = host.System.Settings;
        Assert.Equal([typeof(SerilogAkkaLogger).AssemblyQualifiedName], settings.Loggers.Select(l => Type.GetType(l)?.AssemblyQualifiedName));
        Assert.Equal("OFF", settings.StdoutLogLevel);
        // The CLI handles SIGTERM; Akka's own hook must not leave the fleet first.
        Assert.False(settings.Config.GetBoolean("akka.coordinated-shutdown.run-by-clr-shutdown-hook"));
        Assert.False(settings.Config.GetBoolean("akka.coordinated-shutdown.exit-clr"));
    }

    [Fact]
    public async Task The_exec_session_registers_its_supervisor_and_stops_its_system_on_dispose()
    {
        var session = ExecSession.Start(new GlobalSettings { Concurrent = 1 }, new InMemoryPods(),
            new ExecutionOptions(Identity, HelperInvocation.Default));
        var system = session.System;

        Assert.Equal(session.Supervisor, session.Registry.Get<RunnerSupervisor>());
        Assert.Equal("/user/runner", session.Supervisor.Path.ToStringWithoutAddress());

        await session.DisposeAsync();

        Assert.True(system.WhenTerminated.IsCompleted);
    }

    [Fact]
    public async Task The_fleet_nodes_registration_lets_only_fleet_messages_cross()
    {
        using var http = GitLabHttp.CreateClient();
        var settings = new GlobalSettings { Concurrent = 1, Cluster = new ClusterSettings { Port = 0 } };
        await using var host = RunHost.Start(settings, Options(http));
        var serialization = host.System.Serialization;
        Tripwire.Built = 0;

        Assert.IsType<RefusingSerializer>(serialization.FindSerializerForType(typeof(object)));
        Assert.IsType<FleetMessageSerializer>(serialization.FindSerializerFor(new SlotGranted("lease")));
        Assert.False(host.System.Settings.Config.GetBoolean("akka.actor.serialization-settings.allow-unregistered-types"));
        // What the transport does with an inbound payload: the sender names the serializer and the type.
        Assert.Throws<SerializationException>(() =>
            serialization.Deserialize("""{"Armed":true}"""u8.ToArray(), 1, typeof(Tripwire).AssemblyQualifiedName!));
        Assert.Throws<SerializationException>(() =>
            serialization.Deserialize("{}"u8.ToArray(), FleetMessageSerializer.SerializerId, typeof(Tripwire).AssemblyQualifiedName!));
        Assert.Equal(0, Tripwire.Built);
    }

    [Fact]
    public void A_run_node_that_would_listen_beyond_loopback_without_TLS_does_not_start()
    {
        using var http = GitLabHttp.CreateClient();
        var settings = new GlobalSettings { Concurrent = 1, Cluster = new ClusterSettings { Hostname = "0.0.0.0", Port = 0 } };

        var error = Assert.Throws<InvalidOperationException>(() => RunHost.Start(settings, Options(http)));

        Assert.Contains("without TLS", error.Message);
    }

    [Fact]
    public async Task A_failed_actor_start_reaches_the_caller_and_stops_the_system()
    {
        ActorSystem? system = null;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SchedulerHost.StartAsync("failing-start", builder => builder
            .WithSchedulerDefaults(Akka.Event.LogLevel.ErrorLevel)
            .WithActors((actorSystem, _) =>
            {
                system = actorSystem;
                started.TrySetException(new InvalidOperationException("the supervisor could not start"));
            }), started.Task));

        Assert.Equal("the supervisor could not start", error.Message);
        Assert.NotNull(system);
        await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_start_whose_actors_never_ran_is_an_error_not_a_wait()
    {
        // Nothing completes the start: the host must say so at once instead of waiting for it.
        var never = new TaskCompletionSource();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SchedulerHost.StartAsync("no-actors", builder => builder
            .WithSchedulerDefaults(Akka.Event.LogLevel.ErrorLevel), never.Task).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("did not start its actors", error.Message);
    }
}
