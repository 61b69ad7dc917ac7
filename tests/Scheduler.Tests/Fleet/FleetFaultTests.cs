using Akka.Actor;
using Akka.Cluster;
using Scheduler.Actors.Intake;
using Scheduler.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>The fleet actor when the Kubernetes API times out: a LIST or a claim that exceeds the client's timeout ends that
/// scan or claim (it is not mistaken for "stopped"), so the next scan runs and adopts; a claim whose answer was lost is read
/// back and kept when the pod names this node.</summary>
public sealed class FleetFaultTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Formation = TimeSpan.FromSeconds(30);
    private static readonly RunnerEntry Runner = new() { Name = "eu", Kubernetes = new KubernetesSettings { Namespace = "ci" } };
    private const string GoneOwner = "akka.tcp://scheduler@127.0.0.1:9#5";
    private readonly List<ActorSystem> _nodes = [];

    protected override void AfterAll()
    {
        FleetTestCluster.Shutdown(_nodes.ToArray());
        base.AfterAll();
    }

    private async Task<(ActorSystem Node, IActorRef Fleet, Akka.TestKit.TestProbe Intake, InMemoryPods Pods)> StartAsync(
        Action<InMemoryPods> faults)
    {
        var node = FleetTestCluster.StartNode();
        _nodes.Add(node);
        await AwaitConditionAsync(() => Task.FromResult(FleetTestCluster.UpCount(node) == 1), Formation);
        var pods = new InMemoryPods();
        pods.AddJobPod(OrphanSelectionTests.Pod("job-8", jobId: 8, secret: "secret-8", owner: GoneOwner), """{"id":8,"token":"job-token-8"}""");
        faults(pods);
        var intake = CreateTestProbe();
        var capacity = node.ActorOf(CapacityStub.Props(4, new Dictionary<string, int>()));
        // Scans only when told (and once at MemberUp): the interval is an hour.
        var fleet = node.ActorOf(FleetActor.Props([Runner], pods, new Dictionary<string, IActorRef> { ["eu"] = intake.Ref }, capacity,
            new FleetOptions(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(200))), FleetActor.Name);
        return (node, fleet, intake, pods);
    }

    [Fact]
    public async Task A_list_that_times_out_ends_the_scan_and_the_next_scan_adopts_the_orphan()
    {
        var (node, fleet, intake, pods) = await StartAsync(p => p.ListTimeouts = 1);
        await AwaitConditionAsync(() => Task.FromResult(pods.ListCalls >= 1), TimeSpan.FromSeconds(10));

        // The scan at MemberUp timed out; the next one is not blocked by it.
        await AwaitAssertAsync(() =>
        {
            fleet.Tell(ScanForOrphans.Instance);
            Assert.True(pods.ListCalls >= 2);
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));

        var adopted = await intake.ExpectMsgAsync<AdoptIntoIntake>(TimeSpan.FromSeconds(10));
        Assert.Equal(8, adopted.Job.Id);
        Assert.Equal(FleetIds.OwnerId(Cluster.Get(node).SelfUniqueAddress), pods.OwnerOf("job-8"));
    }

    [Fact]
    public async Task A_claim_that_times_out_is_not_left_in_flight_and_the_next_scan_claims_the_pod()
    {
        var (node, fleet, intake, pods) = await StartAsync(p => p.ClaimTimeouts = 1);
        await AwaitConditionAsync(() => Task.FromResult(pods.ClaimCalls >= 1), TimeSpan.FromSeconds(10));
        Assert.Equal(GoneOwner, pods.OwnerOf("job-8"));

        await AwaitAssertAsync(() =>
        {
            fleet.Tell(ScanForOrphans.Instance);
            Assert.True(pods.ClaimCalls >= 2);
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));

        var adopted = await intake.ExpectMsgAsync<AdoptIntoIntake>(TimeSpan.FromSeconds(10));
        Assert.Equal(8, adopted.Job.Id);
        Assert.Equal(FleetIds.OwnerId(Cluster.Get(node).SelfUniqueAddress), pods.OwnerOf("job-8"));
    }

    [Fact]
    public async Task A_claim_whose_answer_was_lost_is_read_back_and_the_job_adopted()
    {
        var (node, _, intake, pods) = await StartAsync(p => p.LoseNextClaimAnswer = true);

        var adopted = await intake.ExpectMsgAsync<AdoptIntoIntake>(TimeSpan.FromSeconds(15));
        Assert.Equal(8, adopted.Job.Id);
        Assert.Equal(1, pods.ClaimCalls);
        Assert.Equal(FleetIds.OwnerId(Cluster.Get(node).SelfUniqueAddress), pods.OwnerOf("job-8"));
    }
}
