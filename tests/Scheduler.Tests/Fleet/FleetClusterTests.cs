using Akka.Actor;
using Akka.Cluster;
using Scheduler.Actors.Intake;
using Scheduler.Fleet;
using Scheduler.Messages.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Several fleet nodes on loopback in one process: membership, adoption, the fleet-wide limit, status.</summary>
public sealed class FleetClusterTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Formation = TimeSpan.FromSeconds(30);
    private static readonly RunnerEntry Runner = new() { Name = "eu", Kubernetes = new KubernetesSettings { Namespace = "ci" } };
    private readonly List<ActorSystem> _nodes = [];

    protected override void AfterAll()
    {
        FleetTestCluster.Shutdown(_nodes.ToArray());
        base.AfterAll();
    }

    private ActorSystem Node(ActorSystem? seed = null, string extra = "")
    {
        var node = FleetTestCluster.StartNode(seed, extra);
        _nodes.Add(node);
        return node;
    }

    private async Task<(ActorSystem A, ActorSystem B)> TwoNodesAsync(string extraForB = "")
    {
        var a = Node();
        var b = Node(a, extraForB);
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(a) == 2 && FleetTestCluster.UpCount(b) == 2), Formation);
        return (a, b);
    }

    private static string PayloadJson(long jobId) => $$"""{"id":{{jobId}},"token":"job-token-{{jobId}}"}""";

    [Fact]
    public async Task Adopts_a_dead_members_pods_only_after_it_is_removed_never_while_it_is_unreachable()
    {
        var (a, b) = await TwoNodesAsync(FleetTestCluster.DiesWithoutLeaving);
        var ownerA = FleetIds.OwnerId(Cluster.Get(a).SelfUniqueAddress);
        var ownerB = FleetIds.OwnerId(Cluster.Get(b).SelfUniqueAddress);
        var pods = new InMemoryPods();
        pods.AddJobPod(OrphanSelectionTests.Pod("job-1", jobId: 1, secret: "secret-1", owner: ownerA), PayloadJson(1));
        pods.AddJobPod(OrphanSelectionTests.Pod("job-2", jobId: 2, secret: "secret-2", owner: ownerB), PayloadJson(2));
        pods.AddJobPod(OrphanSelectionTests.Pod("job-3", jobId: 3, secret: "secret-3", owner: "akka.tcp://scheduler@127.0.0.1:9#5"), PayloadJson(3));
        var intake = CreateTestProbe();
        var capacity = a.ActorOf(CapacityStub.Props(4, new Dictionary<string, int>()));
        var fleet = a.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef> { ["eu"] = intake.Ref }, capacity,
            new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200))), FleetActor.Name);

        // At its MemberUp the node adopts the pod of an owner that is no member at all; B's and its own pods stay.
        var first = await intake.ExpectMsgAsync<AdoptIntoIntake>(TimeSpan.FromSeconds(15));
        Assert.Equal(3, first.Job.Id);
        Assert.Equal(ownerA, pods.OwnerOf("job-3"));

        // B is killed: unreachable, but still a member. A scan leaves its pod alone.
        await b.Terminate();
        await AwaitConditionAsync(() => Task.FromResult(Cluster.Get(a).State.Unreachable.Count == 1), Formation);
        var listed = pods.ListCalls;
        fleet.Tell(ScanForOrphans.Instance);
        await AwaitConditionAsync(() => Task.FromResult(pods.ListCalls > listed), TimeSpan.FromSeconds(10));
        await intake.ExpectNoMsgAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(ownerB, pods.OwnerOf("job-2"));

        // Once B is downed and removed, A claims B's pod and hands the job to the intake.
        Cluster.Get(a).Down(Cluster.Get(b).SelfAddress);
        await AwaitConditionAsync(() => Task.FromResult(Cluster.Get(a).State.Members.Count == 1), Formation);
        var adopted = await intake.ExpectMsgAsync<AdoptIntoIntake>(TimeSpan.FromSeconds(15));
        Assert.Equal(2, adopted.Job.Id);
        Assert.Equal(("ci", "job-2", 3, "host-b"), (adopted.Pod.Namespace, adopted.Pod.Name, adopted.Pod.ConcurrentId, adopted.Pod.StartedVia));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), adopted.Pod.StartedAt);
        Assert.Equal(ownerA, pods.OwnerOf("job-2"));
        Assert.Equal(ownerA, pods.OwnerOf("job-1"));
        await intake.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public async Task A_fleet_actor_started_while_its_node_is_still_joining_adopts_once_the_node_is_up()
    {
        // B's fleet actor starts as B joins A, so its first events show B Joining: on the way in, not out of the fleet.
        var a = Node();
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(a) == 1), Formation);
        var b = Node(a);
        var pods = new InMemoryPods();
        pods.AddJobPod(OrphanSelectionTests.Pod("job-4", jobId: 4, secret: "secret-4", owner: "akka.tcp://scheduler@127.0.0.1:9#5"), PayloadJson(4));
        var intake = CreateTestProbe();
        var capacity = b.ActorOf(CapacityStub.Props(4, new Dictionary<string, int>()));
        b.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef> { ["eu"] = intake.Ref }, capacity,
            new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200))), FleetActor.Name);

        var adopted = await intake.ExpectMsgAsync<AdoptIntoIntake>(Formation);
        Assert.Equal(4, adopted.Job.Id);
        Assert.Equal(FleetIds.OwnerId(Cluster.Get(b).SelfUniqueAddress), pods.OwnerOf("job-4"));
    }

    [Fact]
    public async Task A_node_that_downed_itself_adopts_nothing_from_the_members_its_cluster_reports_removed_as_it_shuts_down()
    {
        // B's ActorSystem keeps running after B is downed (as a stalled or cut-off node's does until its shutdown has run),
        // so its fleet actor hears A "removed" while A is alive and driving its job.
        var (a, b) = await TwoNodesAsync(FleetTestCluster.DiesWithoutLeaving);
        var ownerA = FleetIds.OwnerId(Cluster.Get(a).SelfUniqueAddress);
        var pods = new InMemoryPods();
        pods.AddJobPod(OrphanSelectionTests.Pod("job-6", jobId: 6, secret: "secret-6", owner: ownerA), PayloadJson(6));
        var intake = CreateTestProbe();
        var capacity = b.ActorOf(CapacityStub.Props(4, new Dictionary<string, int>()));
        b.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef> { ["eu"] = intake.Ref }, capacity,
            new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200))), FleetActor.Name);
        await AwaitConditionAsync(() => Task.FromResult(pods.ListCalls >= 1), TimeSpan.FromSeconds(10));
        var listed = pods.ListCalls;

        Cluster.Get(b).Down(Cluster.Get(b).SelfAddress);
        await AwaitConditionAsync(() => Task.FromResult(Cluster.Get(b).IsTerminated), Formation);

        await intake.ExpectNoMsgAsync(TimeSpan.FromSeconds(2));
        Assert.Equal(ownerA, pods.OwnerOf("job-6"));
        Assert.Equal(0, pods.ClaimCalls);
        Assert.Equal(listed, pods.ListCalls);
    }

    [Fact]
    public async Task Claims_nothing_without_free_capacity()
    {
        var a = Node();
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(a) == 1), Formation);
        var pods = new InMemoryPods();
        pods.AddJobPod(OrphanSelectionTests.Pod("job-5", jobId: 5, secret: "secret-5", owner: "akka.tcp://scheduler@127.0.0.1:9#5"), PayloadJson(5));
        var intake = CreateTestProbe();
        var full = a.ActorOf(CapacityStub.Props(2, new Dictionary<string, int> { ["eu"] = 2 }));
        var fleet = a.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef> { ["eu"] = intake.Ref }, full,
            new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200))), FleetActor.Name);

        fleet.Tell(ScanForOrphans.Instance);
        await AwaitConditionAsync(() => Task.FromResult(pods.ListCalls >= 1), TimeSpan.FromSeconds(10));
        await intake.ExpectNoMsgAsync(TimeSpan.FromSeconds(1));
        Assert.Equal("akka.tcp://scheduler@127.0.0.1:9#5", pods.OwnerOf("job-5"));
    }

    [Fact]
    public async Task The_runner_limit_holds_across_nodes()
    {
        var (a, b) = await TwoNodesAsync();
        var limitsA = FleetStartup.StartLimits(a, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        var limitsB = FleetStartup.StartLimits(b, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        var intakeA = CreateTestProbe();
        var intakeB = CreateTestProbe();

        limitsA.Tell(new RequestSlot("eu", 1, "lease-a"), intakeA.Ref);
        Assert.Equal("lease-a", (await intakeA.ExpectMsgAsync<SlotGranted>(TimeSpan.FromSeconds(15))).LeaseId);

        limitsB.Tell(new RequestSlot("eu", 1, "lease-b"), intakeB.Ref);
        Assert.Equal("lease-b", (await intakeB.ExpectMsgAsync<SlotRefused>(TimeSpan.FromSeconds(15))).LeaseId);

        // Another runner entry has its own limit.
        limitsB.Tell(new RequestSlot("us", 1, "lease-us"), intakeB.Ref);
        await intakeB.ExpectMsgAsync<SlotGranted>(TimeSpan.FromSeconds(15));

        limitsA.Tell(new ReleaseSlot("eu", "lease-a"), intakeA.Ref);
        var attempt = 0;
        await AwaitAssertAsync(async () =>
        {
            var id = $"lease-b-{++attempt}";
            limitsB.Tell(new RequestSlot("eu", 1, id), intakeB.Ref);
            var answer = await intakeB.ExpectMsgAsync<object>(TimeSpan.FromSeconds(5));
            Assert.Equal(new SlotGranted(id), answer);
        }, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Status_lists_every_member_with_its_jobs()
    {
        var (a, b) = await TwoNodesAsync();
        var pods = new InMemoryPods();
        var options = new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromSeconds(1));
        var fleetA = a.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef>(),
            a.ActorOf(CapacityStub.Props(4, new Dictionary<string, int> { ["eu"] = 1 })), options), FleetActor.Name);
        b.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef>(),
            b.ActorOf(CapacityStub.Props(2, new Dictionary<string, int> { ["eu"] = 2 })), options), FleetActor.Name);

        FleetStatus? status = null;
        await AwaitAssertAsync(async () =>
        {
            status = await fleetA.Ask<FleetStatus>(GetFleetStatus.Instance, TimeSpan.FromSeconds(10));
            Assert.All(status.Nodes, n => Assert.Null(n.Error));
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(200));

        Assert.True(status!.Clustered);
        Assert.Equal(Cluster.Get(a).SelfAddress.ToString(), status.Self);
        var byAddress = status.Nodes.ToDictionary(n => n.Address);
        var nodeA = byAddress[Cluster.Get(a).SelfAddress.ToString()];
        var nodeB = byAddress[Cluster.Get(b).SelfAddress.ToString()];
        Assert.Equal((4, 1, 3, "Up", true), (nodeA.Concurrent, nodeA.Running, nodeA.Free, nodeA.MemberStatus, nodeA.Reachable));
        Assert.Equal((2, 2, 0), (nodeB.Concurrent, nodeB.Running, nodeB.Free));

        var parsed = FleetStatusJson.Parse(FleetStatusJson.Serialize(status), out var error);
        Assert.Null(error);
        Assert.Equal(2, parsed!.Nodes.Count);
        Assert.Equal(2, parsed.Nodes.Single(n => n.Address == nodeB.Address).RunningPerRunner["eu"]);
    }
}
