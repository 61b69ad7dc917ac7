using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>Jobs in a fleet: owner annotation, fencing before stages and the delete, hand-over, adoption by another
/// node (two RunnerSupervisors on one FakeCluster stand for two nodes).</summary>
public sealed class FleetExecutionTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private const string NodeA = "akka.tcp://scheduler@host-a:4053#1";
    private const string NodeB = "akka.tcp://scheduler@host-b:4053#2";
    private const string Runner = "k8s runner";

    private readonly FakeCluster _cluster = new();
    private readonly TestProbe _calls;
    private int _suffix;

    public FleetExecutionTests(ITestOutputHelper output) : base(VirtualTime, "fleet-execution", output)
    {
        _calls = CreateTestProbe("gateway-calls");
        _cluster.Probe = _calls;
        _cluster.InitialPhase = "Running";
        _cluster.StageBehaviour["get_sources"] = ("fetched\n", 0);
        _cluster.StageBehaviour["step_script"] = ("building\n", null);
        _cluster.StageBehaviour["after_script"] = ("after\n", 0);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static GlobalSettings Settings(int concurrent = 1) => new() { Concurrent = concurrent, Runners = [TestData.Runner()] };

    private ExecutionOptions Options(string? ownerId, string startedVia, IReadOnlyList<FakeStage>? stages = null) =>
        new(TestData.Identity, HelperInvocation.Default, null,
            () => "s" + Interlocked.Increment(ref _suffix).ToString("D7", CultureInfo.InvariantCulture))
        {
            Planner = new FakePlanner(stages ?? FakePlanner.StandardStages),
            OwnerId = ownerId,
            StartedVia = startedVia,
        };

    private IActorRef StartNode(string name, string? ownerId, string startedVia, GlobalSettings? settings = null,
        IReadOnlyList<FakeStage>? stages = null) =>
        Sys.ActorOf(RunnerSupervisor.Props(settings ?? Settings(), _cluster, Options(ownerId, startedVia, stages)), name);

    private static JobPayload Job(long id, int timeout = 3600) => TestData.Job(timeout: timeout) with { Id = id };

    private static async Task<List<object>> ReceiveUntilAsync(TestProbe listener, Func<List<object>, bool> done)
    {
        var messages = new List<object>();
        while (!done(messages))
        {
            messages.Add(await listener.ExpectMsgAsync<object>(TimeSpan.FromSeconds(15)));
        }

        return messages;
    }

    private static async Task<List<object>> UntilHandedOverAsync(TestProbe listener) =>
        await ReceiveUntilAsync(listener, m => m.Count > 0 && m[^1] is JobHandedOver);

    private static async Task<JobRecord> FinishedAsync(TestProbe listener) =>
        new(await ReceiveUntilAsync(listener, m => m.Count > 0 && m[^1] is JobFinished));

    private static string Trace(IReadOnlyList<object> messages) => new JobRecord(messages).Trace;

    private int Calls(string kind, string detailContains) =>
        _cluster.History.Count(c => c.Kind == kind && c.Detail.Contains(detailContains, StringComparison.Ordinal));

    private async Task ClaimAsync(string pod, string owner)
    {
        var current = _cluster.Pod(pod)!;
        Assert.NotNull(await _cluster.ClaimPodAsync("default", pod, current.Metadata.ResourceVersion, owner, CancellationToken.None));
    }

    /// <summary>A pod as a node that then left would have left it (created from the plan, Secrets with it), already claimed
    /// for node B.</summary>
    private async Task<AdoptedPod> ExistingPodAsync(JobPayload job, int concurrentId, DateTimeOffset startedAt)
    {
        var plan = new FakePlanner(FakePlanner.StandardStages).Plan(TestData.Runner(), job, concurrentId, () => "adopt001").Plan!;
        PodOwnership.Stamp(plan.Pod.Pod, NodeB, "host-a");
        var created = await _cluster.CreatePodAsync(plan.Pod.Pod, CancellationToken.None);
        foreach (var secret in plan.Pod.SecretsOwnedBy(created))
        {
            await _cluster.CreateSecretAsync(secret, CancellationToken.None);
        }

        return new AdoptedPod("default", plan.Pod.PodName, concurrentId, "host-a", startedAt);
    }

    [Fact]
    public async Task A_job_adopted_mid_build_runs_its_build_once_and_the_rest_after_it_with_the_trace_produced_again_from_its_start()
    {
        var nodeA = StartNode("node-a", NodeA, "host-a");
        var nodeB = StartNode("node-b", NodeB, "host-b");
        var listenerA = CreateTestProbe();
        var job = Job(21);
        nodeA.Tell(new RunJob(job, Runner, listenerA));
        var beforeClaim = await ReceiveUntilAsync(listenerA, m => Trace(m).Contains("building\n", StringComparison.Ordinal));
        var pod = _cluster.PodOf(21)!;
        var annotations = _cluster.Pod(pod)!.Metadata.Annotations;
        Assert.Equal(NodeA, annotations[PodMetadata.OwnerAnnotation]);
        Assert.Equal("host-a", annotations[PodMetadata.StartedViaAnnotation]);
        var payload = _cluster.CreatedSecrets.Single().Data[JobSecretLayout.PayloadKey];
        Assert.Equal(JobPayloadParser.ToJson(job), System.Text.Encoding.UTF8.GetString(payload));

        // Node B claims the pod (node A left the fleet as far as B knows): A hears it from the watch and stops at once.
        // (The node's watch runs once its PodWatcher has handled the JobActor's subscription, which comes first.)
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.Count("watch")));
        await ClaimAsync(pod, NodeB);
        var traceA = Trace([.. beforeClaim, .. await UntilHandedOverAsync(listenerA)]);
        await listenerA.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Empty(_cluster.DeletedPods);
        Assert.Equal(0, _cluster.Count("kill"));

        var listenerB = CreateTestProbe();
        nodeB.Tell(new AdoptJob(job, Runner, new AdoptedPod("default", pod, 0, "host-a", Clock.Now), listenerB));
        await AwaitAssertAsync(() => Assert.Equal(2, Calls("run", "step_script")));
        _cluster.FinishStage(pod, "step_script", 0);
        var adopted = await FinishedAsync(listenerB);

        Assert.Equal(JobState.Success, adopted.Result.State);
        Assert.Equal(1, _cluster.Runs(pod, "get_sources"));
        Assert.Equal(1, _cluster.Runs(pod, "step_script"));
        Assert.Equal(1, _cluster.Runs(pod, "after_script"));
        Assert.Equal(1, _cluster.Count("create-pod"));
        Assert.Equal([pod], _cluster.DeletedPods);
        var traceB = adopted.Trace;
        Assert.StartsWith(traceA, traceB);
        Assert.Contains($"Running on {pod} via host-a...\n", traceB);
        Assert.DoesNotContain("host-b", traceB);
        Assert.Equal(traceB.IndexOf("building", StringComparison.Ordinal), traceB.LastIndexOf("building", StringComparison.Ordinal));
        Assert.True(traceB.IndexOf("building", StringComparison.Ordinal) < traceB.IndexOf("after\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task On_a_single_node_the_pod_records_where_it_started_but_names_no_owner()
    {
        var node = StartNode("single", null, "host-s");
        var listener = CreateTestProbe();
        node.Tell(new RunJob(Job(22), Runner, listener));
        var before = await ReceiveUntilAsync(listener, m => Trace(m).Contains("building\n", StringComparison.Ordinal));
        var pod = _cluster.PodOf(22)!;

        var annotations = _cluster.Pod(pod)!.Metadata.Annotations;
        Assert.Equal("host-s", annotations[PodMetadata.StartedViaAnnotation]);
        Assert.False(annotations.ContainsKey(PodMetadata.OwnerAnnotation));

        // No fencing: another owner on the pod changes nothing on a single node.
        await ClaimAsync(pod, NodeB);
        _cluster.FinishStage(pod, "step_script", 0);
        var job = new JobRecord([.. before, .. (await FinishedAsync(listener)).Messages]);
        Assert.Equal(JobState.Success, job.Result.State);
        Assert.Contains($"Running on {pod} via host-s...\n", job.Trace);
        Assert.Equal([pod], _cluster.DeletedPods);
    }

    [Fact]
    public async Task A_claim_seen_only_by_the_check_before_the_next_stage_stops_the_job_there()
    {
        _cluster.NotifyClaims = false;
        _cluster.StageBehaviour["get_sources"] = ("fetching\n", null);
        var node = StartNode("node-a", NodeA, "host-a");
        var listener = CreateTestProbe();
        node.Tell(new RunJob(Job(23), Runner, listener));
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", "get_sources")));
        var pod = _cluster.PodOf(23)!;

        await ClaimAsync(pod, NodeB);
        _cluster.FinishStage(pod, "get_sources", 0);
        var messages = await UntilHandedOverAsync(listener);

        var handedOver = (JobHandedOver)messages[^1];
        Assert.Equal(23, handedOver.JobId);
        Assert.Contains(NodeB, handedOver.Reason);
        Assert.Contains(new JobStageChanged(23, "get_sources", true, 0), messages);
        Assert.DoesNotContain(new JobStageChanged(23, "step_script", false, null), messages);
        await listener.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Equal(0, _cluster.Runs(pod, "step_script"));
        Assert.Empty(_cluster.DeletedPods);
    }

    [Fact]
    public async Task A_claim_seen_only_by_the_check_before_the_delete_leaves_the_pod_to_its_new_owner()
    {
        _cluster.NotifyClaims = false;
        var node = StartNode("node-a", NodeA, "host-a", stages: [new FakeStage("step_script", PodBuilder.BuildContainer, StageCondition.OnSuccess)]);
        var listener = CreateTestProbe();
        node.Tell(new RunJob(Job(24), Runner, listener));
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", "step_script")));
        var pod = _cluster.PodOf(24)!;
        var readsBefore = _cluster.Count("read-pod");

        await ClaimAsync(pod, NodeB);
        _cluster.FinishStage(pod, "step_script", 0);
        var messages = await UntilHandedOverAsync(listener);

        Assert.Contains(new JobStageChanged(24, "step_script", true, 0), messages);
        Assert.Contains("building\n", Trace(messages));
        Assert.DoesNotContain("Job succeeded", Trace(messages));
        await listener.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Assert.Empty(_cluster.DeletedPods);
        Assert.Equal(readsBefore + 1, _cluster.Count("read-pod"));
    }

    [Fact]
    public async Task An_owner_check_that_fails_transiently_is_retried_and_the_job_goes_on_on_this_node()
    {
        _cluster.StageBehaviour["get_sources"] = ("fetching\n", null);
        _cluster.StageBehaviour["step_script"] = ("building\n", 0);
        var node = StartNode("node-a", NodeA, "host-a");
        var listener = CreateTestProbe();
        node.Tell(new RunJob(Job(25), Runner, listener));
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", "get_sources")));
        var pod = _cluster.PodOf(25)!;

        // The API server is unavailable for a while: the check before step_script fails, is retried with backoff, and the
        // pod still names this node, so nobody else would ever adopt the job: it must not be given up.
        _cluster.FailPodReads = true;
        var readsBefore = _cluster.Count("read-pod");
        _cluster.FinishStage(pod, "get_sources", 0);
        await AwaitAssertAsync(() => Assert.Equal(readsBefore + 1, _cluster.Count("read-pod")));
        // The retry timer is set when the failed read's answer arrives, which may be after the read was counted: advance
        // the clock until the retry comes rather than once.
        var retryDeadline = DateTime.UtcNow.AddSeconds(10);
        while (_cluster.Count("read-pod") < readsBefore + 2)
        {
            Assert.True(DateTime.UtcNow < retryDeadline, "the failed owner check was never retried");
            Clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }
        Assert.Equal(0, _cluster.Runs(pod, "step_script"));

        _cluster.FailPodReads = false;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_cluster.Runs(pod, "step_script") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "step_script never ran after the API server came back");
            Clock.Advance(TimeSpan.FromSeconds(2));
            await Task.Delay(50);
        }

        var finished = (JobFinished)await listener.FishForMessageAsync(m => m is JobFinished or JobHandedOver, TimeSpan.FromSeconds(15));
        Assert.Equal(JobState.Success, finished.Result.State);
        Assert.Equal([pod], _cluster.DeletedPods);
    }

    [Fact]
    public async Task HandOverJobs_stops_every_running_job_after_its_trace_and_fails_the_jobs_still_waiting()
    {
        var node = StartNode("node-a", NodeA, "host-a", Settings(concurrent: 2));
        var (first, second, waiting) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        node.Tell(new RunJob(Job(26), Runner, first));
        node.Tell(new RunJob(Job(27), Runner, second));
        node.Tell(new RunJob(Job(28), Runner, waiting));
        var firstBefore = await ReceiveUntilAsync(first, m => Trace(m).Contains("building\n", StringComparison.Ordinal));
        var secondBefore = await ReceiveUntilAsync(second, m => Trace(m).Contains("building\n", StringComparison.Ordinal));

        node.Tell(HandOverJobs.Instance);

        foreach (var (listener, before, id) in new[] { (first, firstBefore, 26L), (second, secondBefore, 27L) })
        {
            var messages = await UntilHandedOverAsync(listener);
            Assert.Equal(new JobHandedOver(id, JobCoordinator.LeavingReason), messages[^1]);
            Assert.Contains("building\n", Trace([.. before, .. messages]));
            await listener.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));
        }

        var failed = await waiting.ExpectMsgAsync<JobFinished>();
        Assert.Equal(28, failed.JobId);
        Assert.Equal(FailureReasons.RunnerSystemFailure, failed.Result.FailureReason);
        Assert.Empty(_cluster.DeletedPods);
        Assert.Equal(0, _cluster.Count("kill"));
        Assert.Equal(2, _cluster.PodNames().Count);
        Assert.Equal(2, _cluster.LiveRunsOfAnyPod("step_script"));

        // The slots are free again: a new job starts.
        var next = CreateTestProbe();
        node.Tell(new RunJob(Job(29), Runner, next));
        await next.ExpectMsgAsync<JobAdmitted>();
    }

    [Theory]
    [InlineData(NodeA, 0)]   // a fleet node going down leaves its pods to the others
    [InlineData(null, 1)]    // a single node cleans up as before
    public async Task Stopping_the_actor_system_deletes_the_pod_only_on_a_single_node(string? ownerId, int deletes)
    {
        var system = ActorSystem.Create("node-" + (ownerId is null ? "single" : "fleet"));
        try
        {
            var node = system.ActorOf(RunnerSupervisor.Props(Settings(), _cluster, Options(ownerId, "host-a")), "runner");
            node.Tell(new RunJob(Job(30), Runner, ActorRefs.Nobody));
            await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", "step_script")));

            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
            await system.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(15));

            Assert.Equal(deletes, _cluster.Count("delete-pod"));
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task An_adopted_job_is_admitted_at_once_beyond_concurrent_and_new_limits_admit_waiting_jobs()
    {
        var node = StartNode("node-b", NodeB, "host-b", Settings(concurrent: 1));
        var running = CreateTestProbe();
        node.Tell(new RunJob(Job(31), Runner, running));
        await running.ExpectMsgAsync<JobAdmitted>();
        var adoptedPod = await ExistingPodAsync(Job(32), concurrentId: 1, Clock.Now);
        var adoptedListener = CreateTestProbe();

        node.Tell(new AdoptJob(Job(32), Runner, adoptedPod, adoptedListener));

        Assert.Equal(new JobAdmitted(32, Runner), await adoptedListener.ExpectMsgAsync<JobAdmitted>());
        var waiting = CreateTestProbe();
        node.Tell(new RunJob(Job(33), Runner, waiting));
        await AwaitAssertAsync(async () =>
        {
            var capacity = await node.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(3));
            Assert.Equal(1, capacity.Concurrent);
            Assert.Equal(2, capacity.RunningPerRunner[Runner]);
            Assert.Equal(1, capacity.Waiting);
            Assert.Equal(0, capacity.Free);
        });
        await waiting.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(200));

        node.Tell(new UpdateAdmissionLimits(3, new Dictionary<string, int>()));

        await waiting.ExpectMsgAsync<JobAdmitted>();
        var capacityAfter = await node.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal(3, capacityAfter.Running);
        Assert.Equal(0, capacityAfter.Free);
        // The adopted pod was read, not created again; its job runs there.
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", adoptedPod.Name + " step_script")));
        Assert.Equal(1, Calls("create-pod", adoptedPod.Name));
        Assert.Equal(1, _cluster.Runs(adoptedPod.Name, "get_sources"));
    }

    [Fact]
    public async Task An_adopted_jobs_timeout_counts_from_the_pods_creation()
    {
        var node = StartNode("node-b", NodeB, "host-b");
        var adoptedPod = await ExistingPodAsync(Job(34, timeout: 60), concurrentId: 0, Clock.Now - TimeSpan.FromSeconds(50));
        var listener = CreateTestProbe();
        node.Tell(new AdoptJob(Job(34, timeout: 60), Runner, adoptedPod, listener));
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("run", "step_script")));

        Clock.Advance(TimeSpan.FromSeconds(9));
        await Task.Delay(200);
        Assert.Equal(0, _cluster.Count("kill"));
        Clock.Advance(TimeSpan.FromSeconds(2));
        var job = await FinishedAsync(listener);

        Assert.Equal(FailureReasons.JobExecutionTimeout, job.Result.FailureReason);
        Assert.Equal([adoptedPod.Name], _cluster.DeletedPods);
    }

    [Fact]
    public async Task An_adopted_pod_that_is_gone_fails_the_job_without_creating_a_pod()
    {
        var node = StartNode("node-b", NodeB, "host-b");
        var plan = new FakePlanner(FakePlanner.StandardStages).Plan(TestData.Runner(), Job(35), 0, () => "gone0001").Plan!;
        var listener = CreateTestProbe();

        node.Tell(new AdoptJob(Job(35), Runner, new AdoptedPod("default", plan.Pod.PodName, 0, "host-a", Clock.Now), listener));
        var job = await FinishedAsync(listener);

        Assert.Equal(FailureReasons.RunnerSystemFailure, job.Result.FailureReason);
        Assert.Contains("is gone", job.Result.Message);
        Assert.Equal(0, _cluster.Count("create-pod"));
    }
}
