using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Intake;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

/// <summary>How the fleet actor looks for orphans. <paramref name="ClaimDelay"/> is multiplied by a node's rank in the
/// job's preference order: the first node claims at once, the second after one delay, and so on.</summary>
public sealed record FleetOptions(TimeSpan OrphanScanInterval, TimeSpan ClaimDelay)
{
    /// <summary>How long a capacity or status question may take.</summary>
    public TimeSpan AskTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public static FleetOptions From(Scheduler.Messages.Settings.ClusterSettings cluster) =>
        new(TimeSpan.FromSeconds(cluster.OrphanScanInterval), TimeSpan.FromSeconds(cluster.ClaimDelay));
}

/// <summary>
/// <c>/user/fleet</c>: follows cluster membership and adopts the jobs of nodes that left. On MemberRemoved of another node,
/// on this node's MemberUp and every orphan scan interval it LISTs each configured namespace once, picks the job pods whose
/// owner is no member any more (an unreachable node is still a member: its pods are left alone until the split brain
/// resolver removes it) and claims them in rendezvous order, within the free capacity the supervisor reports. A claimed
/// job goes to its runner's intake as <see cref="AdoptIntoIntake"/>. Also answers <see cref="GetNodeStatus"/> (for the
/// other nodes) and <see cref="GetFleetStatus"/> (for <c>/fleet</c>).
/// </summary>
public sealed class FleetActor : ReceiveActor, IWithTimers
{
    public const string Name = "fleet";
    private const string ScanTimer = "orphan-scan";
    private const string JobIdSelector = PodMetadata.JobIdLabel;

    private sealed record ScanDone(IReadOnlyList<V1Pod> Pods, IReadOnlyList<string> Errors);
    private sealed record RecheckOrphan(OrphanCandidate Candidate);
    private sealed record CapacityKnown(CapacityStatus? Status, string? Error);
    private sealed record ClaimsDone(IReadOnlyList<ClaimOutcome> Outcomes);

    private abstract record ClaimOutcome(OrphanCandidate Candidate);
    private sealed record Claimed(OrphanCandidate Candidate, JobPayload Job, AdoptedPod Pod) : ClaimOutcome(Candidate);
    private sealed record NotClaimed(OrphanCandidate Candidate, string Why, bool IsError) : ClaimOutcome(Candidate);

    private readonly IReadOnlyDictionary<string, RunnerEntry> _runners;
    private readonly IKubernetesGatewayFactory _gateways;
    private readonly IReadOnlyDictionary<string, IActorRef> _intakes;
    private readonly IActorRef _capacity;
    private readonly FleetOptions _options;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<UniqueAddress, Member> _members = new();
    private readonly HashSet<UniqueAddress> _unreachable = new();
    private readonly Queue<OrphanCandidate> _toClaim = new();
    private readonly CancellationTokenSource _stopping = new();
    private bool _selfUp;
    private bool _scanInFlight;
    private bool _scanAgain;
    private bool _claimInFlight;

    public FleetActor(IReadOnlyList<RunnerEntry> runners, IKubernetesGatewayFactory gateways, IReadOnlyDictionary<string, IActorRef> intakes,
        IActorRef capacity, FleetOptions options)
    {
        _runners = runners.GroupBy(r => r.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        _gateways = gateways;
        _intakes = intakes;
        _capacity = capacity;
        _options = options;
        OwnerId = FleetIds.OwnerId(_cluster.SelfUniqueAddress);

        Receive<ClusterEvent.MemberUp>(up => OnMemberUp(up.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(up => _members[up.Member.UniqueAddress] = up.Member);
        Receive<ClusterEvent.MemberJoined>(joined => _members[joined.Member.UniqueAddress] = joined.Member);
        Receive<ClusterEvent.MemberLeft>(left => _members[left.Member.UniqueAddress] = left.Member);
        Receive<ClusterEvent.MemberExited>(exited => _members[exited.Member.UniqueAddress] = exited.Member);
        Receive<ClusterEvent.MemberDowned>(downed => _members[downed.Member.UniqueAddress] = downed.Member);
        Receive<ClusterEvent.MemberRemoved>(OnMemberRemoved);
        Receive<ClusterEvent.UnreachableMember>(u => _unreachable.Add(u.Member.UniqueAddress));
        Receive<ClusterEvent.ReachableMember>(r => _unreachable.Remove(r.Member.UniqueAddress));
        Receive<ClusterEvent.IMemberEvent>(e => _members[e.Member.UniqueAddress] = e.Member);

        Receive<ScanForOrphans>(_ => StartScan());
        Receive<ScanDone>(OnScanDone);
        Receive<RecheckOrphan>(recheck =>
        {
            _toClaim.Enqueue(recheck.Candidate);
            StartClaims();
        });
        Receive<CapacityKnown>(OnCapacityKnown);
        Receive<ClaimsDone>(OnClaimsDone);

        Receive<GetNodeStatus>(_ => NodeStatusAsync().PipeTo(Sender));
        Receive<GetFleetStatus>(_ => FleetStatusAsync().PipeTo(Sender));
    }

    /// <summary>This node's owner id: what its pods carry as <c>scheduler/owner</c>.</summary>
    public string OwnerId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IReadOnlyList<RunnerEntry> runners, IKubernetesGatewayFactory gateways,
        IReadOnlyDictionary<string, IActorRef> intakes, IActorRef capacity, FleetOptions options) =>
        Akka.Actor.Props.Create(() => new FleetActor(runners, gateways, intakes, capacity, options));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer(ScanTimer, ScanForOrphans.Instance, _options.OrphanScanInterval);
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        _stopping.Cancel();
    }

    private void OnMemberUp(Member member)
    {
        _members[member.UniqueAddress] = member;
        if (member.UniqueAddress.Equals(_cluster.SelfUniqueAddress) && !_selfUp)
        {
            _selfUp = true;
            _log.Info("fleet: this node is up as {0}; looking for orphaned jobs", OwnerId);
            StartScan();
        }
    }

    private void OnMemberRemoved(ClusterEvent.MemberRemoved removed)
    {
        _members.Remove(removed.Member.UniqueAddress);
        _unreachable.Remove(removed.Member.UniqueAddress);
        if (!removed.Member.UniqueAddress.Equals(_cluster.SelfUniqueAddress))
        {
            _log.Info("fleet: {0} left the fleet; looking for its jobs", FleetIds.OwnerId(removed.Member.UniqueAddress));
            StartScan();
        }
    }

    /// <summary>Owner ids of every member, reachable or not: their pods are not orphans.</summary>
    private HashSet<string> LiveOwnerIds()
    {
        var ids = _members.Keys.Select(FleetIds.OwnerId).ToHashSet(StringComparer.Ordinal);
        ids.Add(OwnerId);
        return ids;
    }

    /// <summary>The nodes that can claim: Up and reachable.</summary>
    private IEnumerable<string> ClaimingMembers() =>
        _members.Values.Where(m => m.Status == MemberStatus.Up && !_unreachable.Contains(m.UniqueAddress))
            .Select(m => FleetIds.OwnerId(m.UniqueAddress));

    private void StartScan()
    {
        if (!_selfUp || _runners.Count == 0)
        {
            return;
        }

        if (_scanInFlight)
        {
            _scanAgain = true;
            return;
        }

        _scanInFlight = true;
        _scanAgain = false;
        // One LIST per namespace of each Kubernetes connection, however many runner entries share it.
        var targets = _runners.Values
            .GroupBy(r => (r.Kubernetes.Host ?? "", Namespace: NamespaceOf(r)))
            .Select(g => (g.Key.Namespace, Runner: g.First()))
            .ToList();
        // Whatever happens to the LIST comes back as ScanDone, so the scan is never left in flight.
        ListAllAsync(targets, _stopping.Token).PipeTo(Self,
            failure: e => new ScanDone([], [KubernetesFaults.Describe(e)]));
    }

    private async Task<ScanDone> ListAllAsync(IReadOnlyList<(string Namespace, RunnerEntry Runner)> targets, CancellationToken ct)
    {
        var pods = new List<V1Pod>();
        var errors = new List<string>();
        foreach (var (ns, runner) in targets)
        {
            try
            {
                pods.AddRange(await _gateways.For(runner, null).ListPodsAsync(ns, JobIdSelector, ct));
            }
            catch (Exception e) when (KubernetesFaults.Classify(e, ct) != FaultKind.Stopped)
            {
                // A timed-out LIST is an error of this scan, not "stopped": the next scan tries again.
                errors.Add($"namespace {ns}: {KubernetesFaults.Describe(e)}");
            }
        }

        return new ScanDone(pods, errors);
    }

    private void OnScanDone(ScanDone done)
    {
        _scanInFlight = false;
        foreach (var error in done.Errors)
        {
            _log.Warning("fleet: cannot list job pods ({0})", error);
        }

        var candidates = OrphanSelection.Find(done.Pods, LiveOwnerIds(), _runners.Keys.ToHashSet(StringComparer.Ordinal));
        var claiming = ClaimingMembers().Append(OwnerId).ToList();
        foreach (var candidate in candidates)
        {
            var rank = OrphanSelection.Rank(candidate.JobId, claiming, OwnerId);
            if (rank == 0)
            {
                _toClaim.Enqueue(candidate);
            }
            else if (rank > 0)
            {
                var key = $"claim-{candidate.Namespace}/{candidate.PodName}";
                if (!Timers.IsTimerActive(key))
                {
                    Timers.StartSingleTimer(key, new RecheckOrphan(candidate), _options.ClaimDelay * rank);
                }
            }
        }

        if (candidates.Count > 0)
        {
            _log.Info("fleet: {0} orphaned job pod(s); {1} to claim now", candidates.Count, _toClaim.Count);
        }

        StartClaims();
        if (_scanAgain)
        {
            StartScan();
        }
    }

    private void StartClaims()
    {
        if (_claimInFlight || _toClaim.Count == 0)
        {
            return;
        }

        _claimInFlight = true;
        _capacity.Ask<CapacityStatus>(GetCapacity.Instance, _options.AskTimeout)
            .PipeTo(Self, success: c => new CapacityKnown(c, null), failure: e => new CapacityKnown(null, e.Message));
    }

    private void OnCapacityKnown(CapacityKnown known)
    {
        if (known.Status is not { } status)
        {
            _log.Warning("fleet: the supervisor did not tell its capacity ({0}); orphans wait for the next scan", known.Error);
            _toClaim.Clear();
            _claimInFlight = false;
            return;
        }

        var batch = new List<OrphanCandidate>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (batch.Count < status.Free && _toClaim.TryDequeue(out var candidate))
        {
            if (seen.Add($"{candidate.Namespace}/{candidate.PodName}"))
            {
                batch.Add(candidate);
            }
        }

        if (_toClaim.Count > 0)
        {
            _log.Info("fleet: no free slot for {0} orphaned job(s); they wait for the next scan", _toClaim.Count);
            _toClaim.Clear();
        }

        if (batch.Count == 0)
        {
            _claimInFlight = false;
            return;
        }

        ClaimAllAsync(batch, LiveOwnerIds(), _runners.Keys.ToHashSet(StringComparer.Ordinal), _stopping.Token).PipeTo(Self,
            failure: e => new ClaimsDone(batch.Select(c => (ClaimOutcome)new NotClaimed(c, KubernetesFaults.Describe(e), IsError: true)).ToList()));
    }

    // Re-reads each pod (the scan may be old), checks it is still orphaned, reads its payload, then claims it
    // conditionally: of several nodes claiming the same pod, exactly one succeeds.
    private async Task<ClaimsDone> ClaimAllAsync(IReadOnlyList<OrphanCandidate> batch, IReadOnlySet<string> live, IReadOnlySet<string> names,
        CancellationToken ct)
    {
        var outcomes = new List<ClaimOutcome>();
        foreach (var candidate in batch)
        {
            try
            {
                outcomes.Add(await ClaimAsync(candidate, live, names, ct));
            }
            catch (Exception e) when (KubernetesFaults.Classify(e, ct) != FaultKind.Stopped)
            {
                // A timed-out call leaves this pod for the next scan; the claim is conditional, so trying again is safe.
                outcomes.Add(new NotClaimed(candidate, KubernetesFaults.Describe(e), IsError: true));
            }
        }

        return new ClaimsDone(outcomes);
    }

    private async Task<ClaimOutcome> ClaimAsync(OrphanCandidate candidate, IReadOnlySet<string> live, IReadOnlySet<string> names,
        CancellationToken ct)
    {
        var gateway = _gateways.For(_runners[candidate.RunnerName], null);
        var pod = await gateway.ReadPodAsync(candidate.Namespace, candidate.PodName, ct);
        if (pod is null || OrphanSelection.Find([pod], live, names) is not [var fresh])
        {
            return new NotClaimed(candidate, "no longer orphaned", IsError: false);
        }

        var secret = await gateway.ReadSecretAsync(fresh.Namespace, fresh.JobSecretName, ct);
        if (PayloadJson(secret) is not { } json)
        {
            return new NotClaimed(candidate, $"its job secret {fresh.JobSecretName} has no {JobSecretLayout.PayloadKey}", IsError: true);
        }

        var parsed = JobPayloadParser.Parse(json);
        if (parsed.Payload is not { } job)
        {
            return new NotClaimed(candidate, $"its job payload does not parse: {parsed.Error}", IsError: true);
        }

        if (job.Id != fresh.JobId)
        {
            return new NotClaimed(candidate, $"its payload is for job {job.Id}, not {fresh.JobId}", IsError: true);
        }

        V1Pod? claimed;
        try
        {
            claimed = await gateway.ClaimPodAsync(fresh.Namespace, fresh.PodName, fresh.ResourceVersion, OwnerId, ct);
        }
        catch (Exception e) when (KubernetesFaults.Classify(e, ct) == FaultKind.Transient)
        {
            // The answer may be lost after the claim landed: then the pod names this node and no other node will adopt it,
            // so read it back; it is ours only when it names this node.
            var after = await gateway.ReadPodAsync(fresh.Namespace, fresh.PodName, ct);
            claimed = after?.Metadata?.Annotations?.TryGetValue(PodMetadata.OwnerAnnotation, out var owner) == true && owner == OwnerId
                ? after
                : throw new TimeoutException($"the claim failed ({KubernetesFaults.Describe(e)}) and the pod does not name this node", e);
        }

        return claimed is null
            ? new NotClaimed(candidate, "another node claimed it first", IsError: false)
            : new Claimed(fresh, job, new AdoptedPod(fresh.Namespace, fresh.PodName, fresh.ConcurrentId, fresh.StartedVia, fresh.StartedAt));
    }

    private void OnClaimsDone(ClaimsDone done)
    {
        _claimInFlight = false;
        foreach (var outcome in done.Outcomes)
        {
            switch (outcome)
            {
                case Claimed claimed when _intakes.TryGetValue(claimed.Candidate.RunnerName, out var intake):
                    _log.Info("fleet: adopted job {0} ({1}/{2}) from {3}", claimed.Job.Id, claimed.Pod.Namespace, claimed.Pod.Name,
                        claimed.Candidate.PreviousOwner);
                    intake.Tell(new AdoptIntoIntake(claimed.Job, claimed.Pod));
                    Context.System.EventStream.Publish(new JobAdoptedByFleet(claimed.Job.Id, claimed.Candidate.RunnerName,
                        claimed.Pod.Namespace, claimed.Pod.Name));
                    break;
                case Claimed claimed:
                    _log.Error("fleet: claimed job {0} but runner \"{1}\" has no intake on this node", claimed.Job.Id,
                        claimed.Candidate.RunnerName);
                    break;
                case NotClaimed { IsError: true } failed:
                    _log.Warning("fleet: cannot adopt job {0} ({1}/{2}): {3}", failed.Candidate.JobId, failed.Candidate.Namespace,
                        failed.Candidate.PodName, failed.Why);
                    break;
                case NotClaimed skipped:
                    _log.Debug("fleet: job {0} not adopted: {1}", skipped.Candidate.JobId, skipped.Why);
                    break;
            }
        }

        StartClaims();
    }

    private async Task<NodeStatus> NodeStatusAsync()
    {
        var self = _cluster.SelfMember;
        try
        {
            var capacity = await _capacity.Ask<CapacityStatus>(GetCapacity.Instance, _options.AskTimeout);
            return new NodeStatus(self.Address.ToString(), self.Roles.Order().ToList(), self.Status.ToString(), true, capacity.Concurrent,
                new Dictionary<string, int>(capacity.RunningPerRunner), capacity.Free);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or InvalidCastException)
        {
            return new NodeStatus(self.Address.ToString(), self.Roles.Order().ToList(), self.Status.ToString(), true, 0,
                new Dictionary<string, int>(), 0, $"no capacity answer: {e.Message}");
        }
    }

    private async Task<FleetStatus> FleetStatusAsync()
    {
        var members = _cluster.State.Members.OrderBy(m => m.Address.ToString(), StringComparer.Ordinal).ToList();
        var unreachable = _cluster.State.Unreachable.Select(m => m.UniqueAddress).ToHashSet();
        var asks = members.Select(async member =>
        {
            var roles = member.Roles.Order().ToList();
            if (unreachable.Contains(member.UniqueAddress))
            {
                return new NodeStatus(member.Address.ToString(), roles, member.Status.ToString(), false, 0, new Dictionary<string, int>(), 0,
                    "unreachable");
            }

            try
            {
                var fleet = Context.System.ActorSelection(new RootActorPath(member.Address) / "user" / Name);
                var status = await fleet.Ask<NodeStatus>(GetNodeStatus.Instance, _options.AskTimeout);
                return status with { Roles = roles, MemberStatus = member.Status.ToString(), Reachable = true };
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or InvalidCastException)
            {
                return new NodeStatus(member.Address.ToString(), roles, member.Status.ToString(), true, 0, new Dictionary<string, int>(), 0,
                    $"no answer: {e.Message}");
            }
        }).ToList();
        return new FleetStatus(_cluster.SelfAddress.ToString(), true, await Task.WhenAll(asks));
    }

    private static string? PayloadJson(V1Secret? secret)
    {
        if (secret?.Data is { } data && data.TryGetValue(JobSecretLayout.PayloadKey, out var bytes) && bytes is { Length: > 0 })
        {
            return Encoding.UTF8.GetString(bytes);
        }

        return secret?.StringData is { } text && text.TryGetValue(JobSecretLayout.PayloadKey, out var json) && json.Length > 0 ? json : null;
    }

    public static string NamespaceOf(RunnerEntry runner) =>
        string.IsNullOrEmpty(runner.Kubernetes.Namespace) ? PodBuilder.DefaultNamespace : runner.Kubernetes.Namespace;
}
