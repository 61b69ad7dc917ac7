using Akka.Actor;
using Akka.Event;
using k8s.Models;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

// Orphan scanning: one LIST per namespace, then each orphan queued for a claim now or after the delay its rank gives.
public sealed partial class FleetActor
{
    private const string ScanTimer = "orphan-scan";
    private const string JobIdSelector = PodMetadata.JobIdLabel;

    private sealed record ScanDone(IReadOnlyList<V1Pod> Pods, IReadOnlyList<string> Errors);
    private sealed record RecheckOrphan(OrphanCandidate Candidate);

    private bool _scanInFlight;
    private bool _scanAgain;

    private void StartScan()
    {
        if (!_selfUp || OutOfFleet || _runners.Count == 0)
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
            _log.Warning("fleet: cannot list job pods ({Error})", error);
        }

        var candidates = OrphanSelection.Find(done.Pods, _membership.LiveOwnerIds(OwnerId), RunnerNames());
        var claiming = _membership.ClaimingOwnerIds(OwnerId);
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
            _log.Info("fleet: {Orphans} orphaned job pod(s); {ToClaim} to claim now", candidates.Count, _toClaim.Count);
        }

        StartClaims();
        if (_scanAgain)
        {
            StartScan();
        }
    }

    private HashSet<string> RunnerNames() => _runners.Keys.ToHashSet(StringComparer.Ordinal);

    public static string NamespaceOf(RunnerEntry runner) =>
        string.IsNullOrEmpty(runner.Kubernetes.Namespace) ? PodBuilder.DefaultNamespace : runner.Kubernetes.Namespace;
}
