using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

internal sealed record SeenWatchRestart;
internal sealed record SeenPhases(IReadOnlyDictionary<string, int> Counts);
internal sealed record SeenRequests(long JobId, int Requests);

/// <summary>Passes each report on to a probe.</summary>
internal sealed class ProbeObserver(IActorRef probe) : IExecutionObserver
{
    public void WatchRestarted() => probe.Tell(new SeenWatchRestart());

    public void PodPhasesChanged(IReadOnlyDictionary<string, int> podsByPhase) =>
        probe.Tell(new SeenPhases(new Dictionary<string, int>(podsByPhase)));

    public void JobKubernetesRequests(long jobId, int requests) => probe.Tell(new SeenRequests(jobId, requests));
}

/// <summary>What the execution tree tells its observer: the Kubernetes requests of each job (which do not grow with the
/// job's length), the phases of the pods the node follows, and watch restarts.</summary>
public sealed class ExecutionObserverTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private const string Runner = "k8s runner";

    private readonly FakeCluster _cluster = new();
    private readonly TestProbe _calls;
    private readonly TestProbe _observed;
    private int _suffix;

    public ExecutionObserverTests(ITestOutputHelper output) : base(VirtualTime, "execution-observer", output)
    {
        _calls = CreateTestProbe("gateway-calls");
        _observed = CreateTestProbe("observed");
        _cluster.Probe = _calls;
        _cluster.InitialPhase = "Running";
        _cluster.StageBehaviour["get_sources"] = ("fetched\n", 0);
        _cluster.StageBehaviour["step_script"] = ("building\n", null);
        _cluster.StageBehaviour["after_script"] = ("after\n", 0);
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private IActorRef StartRunner()
    {
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, null,
            () => "s" + Interlocked.Increment(ref _suffix).ToString("D7", CultureInfo.InvariantCulture))
        {
            Planner = new FakePlanner(FakePlanner.StandardStages),
            Observer = new ProbeObserver(_observed),
        };
        return Sys.ActorOf(RunnerSupervisor.Props(new GlobalSettings { Concurrent = 1, Runners = [TestData.Runner()] }, _cluster,
            options), "runner");
    }

    private static JobPayload Job(long id) => TestData.Job() with { Id = id };

    private static async Task<JobRecord> FinishedAsync(TestProbe listener)
    {
        var messages = new List<object>();
        while (messages.Count == 0 || messages[^1] is not JobFinished)
        {
            messages.Add(await listener.ExpectMsgAsync<object>(TimeSpan.FromSeconds(15)));
        }

        return new JobRecord(messages);
    }

    private async Task CallAsync(string kind, string detailContains) =>
        await _calls.FishForMessageAsync(m => m is GatewayCall call && call.Kind == kind && call.Detail.Contains(detailContains),
            TimeSpan.FromSeconds(15));

    private async Task<string> AwaitPodAsync(long jobId)
    {
        string? pod = null;
        await AwaitAssertAsync(() => Assert.NotNull(pod = _cluster.PodOf(jobId)), TimeSpan.FromSeconds(15));
        return pod!;
    }

    private int CallsExceptWatch() => _cluster.History.Count(c => c.Kind != "watch");

    private async Task<SeenPhases> PhasesAsync(int pending, int running)
    {
        var seen = await _observed.FishForMessageAsync<SeenPhases>(_ => true, TimeSpan.FromSeconds(15));
        Assert.Equal(PodPhases.Standard.Order(), seen.Counts.Keys.Order());
        Assert.Equal(pending, seen.Counts["Pending"]);
        Assert.Equal(running, seen.Counts["Running"]);
        return seen;
    }

    /// <summary>Runs one job whose build prints <paramref name="rounds"/> lines, 30 s (virtual) apart; returns the requests
    /// reported for it, checked against the calls the cluster received meanwhile.</summary>
    private async Task<int> RunJobAsync(IActorRef runner, long id, int rounds)
    {
        var before = CallsExceptWatch();
        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(id), Runner, listener));
        await CallAsync("run", "step_script");
        var pod = _cluster.PodOf(id)!;
        for (var i = 0; i < rounds; i++)
        {
            _cluster.Append(pod, $"line {i} of job {id}\n");
            Clock.Advance(TimeSpan.FromSeconds(30));
        }

        _cluster.FinishStage(pod, "step_script", 0);
        var record = await FinishedAsync(listener);
        Assert.Equal(JobState.Success, record.Result.State);
        Assert.Contains($"line {rounds - 1} of job {id}\n", record.Trace);

        var seen = await _observed.FishForMessageAsync<SeenRequests>(m => m.JobId == id, TimeSpan.FromSeconds(15));
        Assert.Equal(CallsExceptWatch() - before, seen.Requests);
        return seen.Requests;
    }

    [Fact]
    public async Task A_job_reports_every_request_it_made_and_a_build_that_prints_for_longer_makes_no_more()
    {
        var runner = StartRunner();

        var brief = await RunJobAsync(runner, 1, rounds: 1);
        var lengthy = await RunJobAsync(runner, 2, rounds: 100);

        // create pod, create the job Secret (its owner in the create: no patch), one run exec per stage (3), the log reader
        // (it reads on to the size the last stage reported: no drain exec), the delete
        Assert.True(brief >= 7, $"only {brief} requests counted");
        Assert.Equal(brief, lengthy);
    }

    [Fact]
    public async Task A_job_handed_to_another_node_reports_its_requests_and_logs_the_hand_over_naming_job_runner_and_pod()
    {
        var logs = CreateTestProbe();
        Sys.EventStream.Subscribe(logs, typeof(Info));
        var options = new ExecutionOptions(TestData.Identity, HelperInvocation.Default, null, () => "handover")
        {
            Planner = new FakePlanner(FakePlanner.StandardStages),
            Observer = new ProbeObserver(_observed),
            OwnerId = "akka.tcp://scheduler@host-a:4053#1",
        };
        var node = Sys.ActorOf(RunnerSupervisor.Props(new GlobalSettings { Concurrent = 1, Runners = [TestData.Runner()] }, _cluster,
            options), "node-a");
        var listener = CreateTestProbe();
        node.Tell(new RunJob(Job(31), Runner, listener));
        await CallAsync("run", "step_script");
        await AwaitAssertAsync(() => Assert.Equal(1, _cluster.Count("watch")));
        var pod = _cluster.PodOf(31)!;

        var current = _cluster.Pod(pod)!;
        await _cluster.ClaimPodAsync("default", pod, current.Metadata.ResourceVersion, "akka.tcp://scheduler@host-b:4053#2",
            CancellationToken.None);
        await listener.FishForMessageAsync(m => m is JobHandedOver, TimeSpan.FromSeconds(15));

        var seen = await _observed.FishForMessageAsync<SeenRequests>(m => m.JobId == 31, TimeSpan.FromSeconds(15));
        Assert.Equal(CallsExceptWatch() - 1, seen.Requests); // every call but the test's own claim
        var handedOver = await logs.FishForMessageAsync<Info>(i => i.Message is LogMessage m && m.Format.Contains("handed over"),
            TimeSpan.FromSeconds(15));
        var message = (LogMessage)handedOver.Message;
        Assert.Equal("job {JobId} of runner {Runner}: pod {Pod} handed over: {Reason}", message.Format);
        Assert.Equal($"job 31 of runner {Runner}: pod {pod} handed over: the pod {pod} is driven by akka.tcp://scheduler@host-b:4053#2 now",
            handedOver.Message.ToString());
        Assert.Empty(_cluster.DeletedPods);
    }

    [Fact]
    public async Task The_pods_a_node_drives_count_by_phase_until_their_jobs_end()
    {
        _cluster.InitialPhase = "Pending";
        var runner = StartRunner();
        await PhasesAsync(pending: 0, running: 0); // the series exist from the start

        var listener = CreateTestProbe();
        runner.Tell(new RunJob(Job(7), Runner, listener));
        await CallAsync("watch", "default"); // the PodActor follows the pod from its create on, so the watch may open first
        var pod = await AwaitPodAsync(7);
        _cluster.SetPodStatus(pod, "Pending");
        await PhasesAsync(pending: 1, running: 0);
        _cluster.SetPodStatus(pod, "Running");
        await PhasesAsync(pending: 0, running: 1);

        // Running, its PodActor done: the JobActor still follows the pod, so it keeps counting; the next report is the pod's
        // next phase, not a drop when the PodActor stopped.
        await CallAsync("run", "step_script");
        _cluster.SetPodStatus(pod, "Pending");
        await PhasesAsync(pending: 1, running: 0);
        _cluster.SetPodStatus(pod, "Running");
        await PhasesAsync(pending: 0, running: 1);

        _cluster.FinishStage(pod, "step_script", 0);
        await FinishedAsync(listener);
        await PhasesAsync(pending: 0, running: 0);
    }

    [Fact]
    public async Task The_watcher_counts_each_followed_pod_once_by_its_latest_phase()
    {
        var gateway = new ScriptedWatchGateway();
        var watcher = Sys.ActorOf(PodWatcher.Props(TimeSpan.FromSeconds(5), new ProbeObserver(_observed)));
        await PhasesAsync(pending: 0, running: 0);
        var (jobA, podActorA, jobB) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        watcher.Tell(new WatchPod("c", "ns", "pod-a", gateway, StartsWatch: false), jobA); // joining is not starting: one
        // watch below for all three subscriptions, counted once their events have been handled
        watcher.Tell(new WatchPod("c", "ns", "pod-a", gateway), podActorA);
        watcher.Tell(new WatchPod("c", "ns", "pod-b", gateway), jobB);
        var stream = await gateway.NextWatchAsync();

        stream.Send(WatchEventType.Added, Pod("pod-a", "Pending"));
        await PhasesAsync(pending: 1, running: 0); // two subscribers, one pod
        stream.Send(WatchEventType.Added, Pod("pod-b", null)); // no phase yet: Pending
        await PhasesAsync(pending: 2, running: 0);
        stream.Send(WatchEventType.Modified, Pod("pod-a", "Running"));
        await PhasesAsync(pending: 1, running: 1);

        stream.Send(WatchEventType.Modified, Pod("pod-c", "Running")); // not followed by this node
        stream.Send(WatchEventType.Modified, Pod("pod-a", "Running")); // no change
        stream.Send(WatchEventType.Deleted, Pod("pod-b", "Pending"));
        await PhasesAsync(pending: 0, running: 1); // the next report is the delete's

        watcher.Tell(new UnwatchPod("c", "ns", "pod-a"), podActorA);
        // The JobActor still follows it: the next report is the pod's next phase (the event comes after the unwatch).
        stream.Send(WatchEventType.Modified, Pod("pod-a", "Pending"));
        await PhasesAsync(pending: 1, running: 0);
        Assert.Equal(1, gateway.WatchesStarted);
        Sys.Stop(jobA.Ref); // a subscriber that stops unwatches too
        await PhasesAsync(pending: 0, running: 0);
    }

    [Fact]
    public async Task A_watch_that_ends_is_counted_as_restarted_when_it_starts_again_after_the_pause()
    {
        var gateway = new ScriptedWatchGateway();
        var watcher = Sys.ActorOf(PodWatcher.Props(TimeSpan.FromSeconds(5), new ProbeObserver(_observed)));
        await PhasesAsync(pending: 0, running: 0);
        watcher.Tell(new WatchPod("c", "ns", "pod-a", gateway), CreateTestProbe());
        var first = await gateway.NextWatchAsync();
        first.Send(WatchEventType.Added, Pod("pod-a", "Running"));
        await PhasesAsync(pending: 0, running: 1);

        first.End();
        // The end reaches the watcher from the stream's thread; move virtual time until the restart timer fires.
        object? restart = null;
        var seconds = 0;
        while (seconds < 100 && restart is null)
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            seconds++;
            restart = await _observed.ReceiveOneAsync(TimeSpan.FromMilliseconds(50));
        }

        Assert.IsType<SeenWatchRestart>(restart);
        Assert.True(seconds >= 5, $"the watch restarted after {seconds} s, before the 5 s pause"); // virtual seconds

        // The pod's phase stays counted across the restart, and the new watch's events move it.
        var second = await gateway.NextWatchAsync();
        second.Send(WatchEventType.Modified, Pod("pod-a", "Succeeded"));
        var seen = await PhasesAsync(pending: 0, running: 0);
        Assert.Equal(1, seen.Counts["Succeeded"]);
    }

    [Fact]
    public async Task A_watch_stays_open_for_its_idle_linger_after_its_last_pod_and_the_next_pod_is_heard_through_it()
    {
        var gateway = new ScriptedWatchGateway();
        var watcher = Sys.ActorOf(PodWatcher.Props(TimeSpan.FromSeconds(5), new ProbeObserver(_observed), TimeSpan.FromSeconds(30)));
        await PhasesAsync(pending: 0, running: 0);
        var (first, second) = (CreateTestProbe(), CreateTestProbe());
        watcher.Tell(new WatchPod("c", "ns", "pod-a", gateway), first);
        var stream = await gateway.NextWatchAsync();
        stream.Send(WatchEventType.Added, Pod("pod-a", "Running"));
        await PhasesAsync(pending: 0, running: 1);
        watcher.Tell(new UnwatchPod("c", "ns", "pod-a"), first);
        await PhasesAsync(pending: 0, running: 0); // handled: the linger runs from here

        Clock.Advance(TimeSpan.FromSeconds(29));
        watcher.Tell(new WatchPod("c", "ns", "pod-b", gateway), second);
        stream.Send(WatchEventType.Added, Pod("pod-b", "Pending"));
        Assert.Equal("pod-b", (await second.ExpectMsgAsync<PodUpdated>()).Pod.Metadata.Name);
        await PhasesAsync(pending: 1, running: 0);
        Assert.Equal((1, 0), (gateway.WatchesStarted, gateway.WatchesStopped)); // the same watch, still open

        watcher.Tell(new UnwatchPod("c", "ns", "pod-b"), second);
        await PhasesAsync(pending: 0, running: 0);
        Clock.Advance(TimeSpan.FromSeconds(29)); // the timer started again at the second pod's unwatch
        await Task.Delay(200);
        Assert.Equal(0, gateway.WatchesStopped);
        Clock.Advance(TimeSpan.FromSeconds(2));
        await AwaitAssertAsync(() => Assert.Equal(1, gateway.WatchesStopped), TimeSpan.FromSeconds(5));

        watcher.Tell(new WatchPod("c", "ns", "pod-c", gateway), second); // after the linger: a new watch
        await gateway.NextWatchAsync();
        Assert.Equal(2, gateway.WatchesStarted);
    }

    [Fact]
    public async Task An_idle_watch_that_ends_is_not_started_again()
    {
        var gateway = new ScriptedWatchGateway();
        var watcher = Sys.ActorOf(PodWatcher.Props(TimeSpan.FromSeconds(5), new ProbeObserver(_observed), TimeSpan.FromSeconds(30)));
        await PhasesAsync(pending: 0, running: 0);
        var pod = CreateTestProbe();
        watcher.Tell(new WatchPod("c", "ns", "pod-a", gateway), pod);
        var stream = await gateway.NextWatchAsync();
        stream.Send(WatchEventType.Added, Pod("pod-a", "Running"));
        await PhasesAsync(pending: 0, running: 1);
        watcher.Tell(new UnwatchPod("c", "ns", "pod-a"), pod);
        await PhasesAsync(pending: 0, running: 0);

        stream.End();
        await AwaitAssertAsync(() => Assert.Equal(1, gateway.WatchesStopped), TimeSpan.FromSeconds(5));
        for (var i = 0; i < 10; i++)
        {
            Clock.Advance(TimeSpan.FromSeconds(1)); // past the 5 s restart pause
            await Task.Delay(20);
        }

        Assert.Equal(1, gateway.WatchesStarted);
        Assert.False(_observed.HasMessages, "an idle watch that ended was counted as restarted");

        watcher.Tell(new WatchPod("c", "ns", "pod-b", gateway), pod); // the next pod starts a new one at once
        await gateway.NextWatchAsync();
        Assert.Equal(2, gateway.WatchesStarted);
    }

    private static V1Pod Pod(string name, string? phase) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ns" },
        Status = phase is null ? null : new V1PodStatus { Phase = phase },
    };

    /// <summary>A gateway whose only working call is the watch; the test writes each watch's events.</summary>
    private sealed class ScriptedWatchGateway : IKubernetesGateway
    {
        private readonly Channel<WatchStream> _started = Channel.CreateUnbounded<WatchStream>();
        private int _watchesStarted;

        private int _watchesStopped;

        public int WatchesStarted => Volatile.Read(ref _watchesStarted);

        /// <summary>Watches whose stream the watcher stopped reading (cancelled) or that the test ended.</summary>
        public int WatchesStopped => Volatile.Read(ref _watchesStopped);

        public async Task<WatchStream> NextWatchAsync() =>
            await _started.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
            [EnumeratorCancellation] CancellationToken ct)
        {
            Interlocked.Increment(ref _watchesStarted);
            var stream = new WatchStream();
            _started.Writer.TryWrite(stream);
            try
            {
                await foreach (var item in stream.Events.Reader.ReadAllAsync(ct))
                {
                    yield return item;
                }
            }
            finally
            {
                Interlocked.Increment(ref _watchesStopped);
            }
        }

        private static InvalidOperationException NotForTheWatcher() => new("the watcher only watches");

        public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct) => throw NotForTheWatcher();
        public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct) => throw NotForTheWatcher();
        public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct) => throw NotForTheWatcher();
        public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct) => throw NotForTheWatcher();
        public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct) => throw NotForTheWatcher();
        public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct) =>
            throw NotForTheWatcher();
        public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct) => throw NotForTheWatcher();
        public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct) =>
            throw NotForTheWatcher();
        public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw NotForTheWatcher();
        public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw NotForTheWatcher();
        public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct) => throw NotForTheWatcher();
        public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct) => throw NotForTheWatcher();
        public Task CreateNamespaceAsync(string name, CancellationToken ct) => throw NotForTheWatcher();
        public Task DeleteNamespaceAsync(string name, CancellationToken ct) => throw NotForTheWatcher();
        public Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
            Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct) => throw NotForTheWatcher();
    }

    private sealed class WatchStream
    {
        public Channel<(WatchEventType, V1Pod)> Events { get; } = Channel.CreateUnbounded<(WatchEventType, V1Pod)>();

        public void Send(WatchEventType type, V1Pod pod) => Events.Writer.TryWrite((type, pod));

        public void End() => Events.Writer.TryComplete();
    }
}
