using System.Text.Json;
using Akka.Actor;
using Scheduler.Fleet;
using Scheduler.Hosting;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Every message that crosses nodes round-trips through the fleet serializer, which cluster.hocon binds to it.</summary>
public sealed class FleetMessageSerializerTests(FleetSystemFixture fixture) : IClassFixture<FleetSystemFixture>
{
    // One sample per fleet message type. A new IFleetMessage without a sample here fails Every_fleet_message_has_a_sample.
    private static readonly IReadOnlyList<IFleetMessage> Samples =
    [
        new RequestSlot("docker-eu", 3, "lease-1"),
        new SlotGranted("lease-1"),
        new SlotRefused("lease-2"),
        new ReleaseSlot("docker-eu", "lease-1"),
        new AdoptSlot("docker-eu", "lease-3"),
        GetNodeStatus.Instance,
        new NodeStatus("akka.tcp://scheduler@10.0.0.1:4053", ["runner"], "Up", true, 4,
            new Dictionary<string, int> { ["docker-eu"] = 2, ["other"] = 1 }, 1, null),
        new NodeStatus("akka.tcp://scheduler@10.0.0.2:4053", [], "Leaving", false, 0, new Dictionary<string, int>(), 0, "unreachable"),
        new LeaseRequest("akka.tcp://scheduler@10.0.0.1:4053", "docker-eu", 2, "lease-4"),
        new LeaseRelease("akka.tcp://scheduler@10.0.0.1:4053", "lease-4"),
        new LeaseAdopt("akka.tcp://scheduler@10.0.0.1:4053", "docker-eu", "lease-5"),
        new LeaseReport("akka.tcp://scheduler@10.0.0.1:4053", [new HeldLease("docker-eu", "lease-5")], ["lease-6"]),
    ];

    private readonly ActorSystem _system = fixture.System;

    [Fact]
    public void Every_fleet_message_has_a_sample()
    {
        var sampled = Samples.Select(s => s.GetType()).ToHashSet();

        Assert.All(FleetMessageSerializer.KnownTypes.Values, type => Assert.Contains(type, sampled));
        Assert.Contains(typeof(RequestSlot), FleetMessageSerializer.KnownTypes.Values);
        Assert.Contains(typeof(LeaseReport), FleetMessageSerializer.KnownTypes.Values);
    }

    public static TheoryData<int> SampleIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Samples.Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Round_trip_through_the_bound_serializer(int index)
    {
        var message = Samples[index];
        var serializer = _system.Serialization.FindSerializerFor(message);

        Assert.IsType<FleetMessageSerializer>(serializer);
        var bytes = serializer.ToBinary(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);

        Assert.Equal(message.GetType(), back.GetType());
        Assert.Equal(message.GetType().Name, manifest);
        // Records holding lists compare by reference; their JSON compares by content.
        Assert.Equal(JsonSerializer.Serialize(message, message.GetType()), JsonSerializer.Serialize(back, back.GetType()));
    }

    [Fact]
    public void Unknown_manifest_is_a_clear_error()
    {
        var serializer = new FleetMessageSerializer((ExtendedActorSystem)_system);

        var error = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary("{}"u8.ToArray(), "FutureMessage"));
        Assert.Contains("FutureMessage", error.Message);
    }

    [Fact]
    public void A_local_message_is_refused()
    {
        var serializer = new FleetMessageSerializer((ExtendedActorSystem)_system);

        Assert.Throws<ArgumentException>(() => serializer.ToBinary(ScanForOrphans.Instance));
    }

    [Fact]
    public void Cluster_config_runs_keep_majority_with_fast_failover()
    {
        var config = _system.Settings.Config;

        Assert.Equal("keep-majority", config.GetString("akka.cluster.split-brain-resolver.active-strategy"));
        Assert.StartsWith("Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster", config.GetString("akka.cluster.downing-provider-class"));
        Assert.True(config.GetBoolean("akka.cluster.run-coordinated-shutdown-when-down"));
        Assert.Equal(TimeSpan.FromSeconds(2), config.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        // The failover budget of docs/fleet.md: a killed node is removed within 7 s. Detection: the last heartbeat's
        // interval, the acceptable pause and one reaper round; decision: stable-after and one resolver tick (1 s, fixed in
        // Akka.NET); removal: the Down gossiped once, then the leader's next round.
        TimeSpan Get(string key) => config.GetTimeSpan($"akka.cluster.{key}");
        var removal = Get("failure-detector.heartbeat-interval") + Get("failure-detector.acceptable-heartbeat-pause")
                      + Get("unreachable-nodes-reaper-interval") + Get("split-brain-resolver.stable-after") + TimeSpan.FromSeconds(1)
                      + Get("gossip-interval") + Get("leader-actions-interval");
        Assert.True(removal <= TimeSpan.FromSeconds(7), $"a killed node is removed after up to {removal.TotalSeconds} s");
        // Not so eager that a short stall downs a node: a 1.5 s pause (a long GC, a starved CPU) is tolerated.
        Assert.True(Get("failure-detector.acceptable-heartbeat-pause") >= TimeSpan.FromSeconds(1.5));
        Assert.Equal(8.0, config.GetDouble("akka.cluster.failure-detector.threshold"));
        Assert.IsType<Akka.Cluster.SBR.SplitBrainResolverProvider>(Akka.Cluster.Cluster.Get(_system).DowningProvider);
    }
}

/// <summary>One clustered ActorSystem (not joined to anything) for the serializer tests: the real cluster.hocon bindings.</summary>
public sealed class FleetSystemFixture : IDisposable
{
    public ActorSystem System { get; } = SchedulerActorSystem.CreateClustered(new ClusterSettings { Port = 0, SeedNodes = ["akka.tcp://scheduler@127.0.0.1:1"] });

    public void Dispose() => System.Terminate().Wait(TimeSpan.FromSeconds(10));
}
