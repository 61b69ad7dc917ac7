using Akka.Cluster;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Fleet;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary><c>scheduler run</c>'s host with <c>[cluster]</c>: a fleet node with its owner id, status and graceful leave.</summary>
public sealed class FleetRunHostTests
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    private static RunHostOptions Options(HttpClient http) =>
        new(new InMemoryPods(), new ExecutionOptions(Identity, HelperInvocation.Default), http, Identity, "s_0123456789ab")
        {
            HoconOverrides = FleetTestCluster.FastTimings,
        };

    [Fact]
    public async Task A_cluster_table_makes_a_fleet_node_that_leaves_on_stop()
    {
        using var http = GitLabHttp.CreateClient();
        var settings = new GlobalSettings { Concurrent = 3, Cluster = new global::Scheduler.Messages.Settings.ClusterSettings { Port = 0 } };
        await using var host = RunHost.Start(settings, Options(http));

        Assert.True(host.IsFleetNode);
        Assert.NotNull(host.FleetLimits);
        var cluster = Cluster.Get(host.System);
        Assert.Equal(FleetIds.OwnerId(cluster.SelfUniqueAddress), host.OwnerId);
        await WaitUntilAsync(() => cluster.SelfMember.Status == MemberStatus.Up);

        var status = await host.FleetStatusAsync();
        Assert.True(status.Clustered);
        var node = Assert.Single(status.Nodes);
        Assert.Equal(cluster.SelfAddress.ToString(), node.Address);

        await host.StopAsync(TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.True(cluster.IsTerminated || cluster.SelfMember.Status is MemberStatus.Removed or MemberStatus.Exiting);
        await host.System.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Without_a_cluster_table_the_node_runs_alone_and_status_shows_it()
    {
        using var http = GitLabHttp.CreateClient();
        await using var host = RunHost.Start(new GlobalSettings { Concurrent = 2 }, Options(http));

        Assert.False(host.IsFleetNode);
        Assert.Null(host.OwnerId);
        var status = await host.FleetStatusAsync();
        Assert.False(status.Clustered);
        var node = Assert.Single(status.Nodes);
        Assert.Equal((2, 0, 2), (node.Concurrent, node.Running, node.Free));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in 30 s");
            await Task.Delay(50);
        }
    }
}
