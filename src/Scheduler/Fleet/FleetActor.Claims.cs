using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Intake;
using Scheduler.Messages.Protocol;

namespace Scheduler.Fleet;

// Claiming: ask the supervisor for free slots, claim that many orphans (OrphanClaimer), hand each claimed job to its
// runner's intake. One round at a time.
public sealed partial class FleetActor
{
    private sealed record CapacityKnown(CapacityStatus? Status, string? Error);
    private sealed record ClaimsDone(IReadOnlyList<ClaimOutcome> Outcomes);

    private readonly Queue<OrphanCandidate> _toClaim = new();
    private bool _claimInFlight;

    private void StartClaims()
    {
        if (OutOfFleet)
        {
            _toClaim.Clear();
        }

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
            _log.Warning("fleet: the supervisor did not tell its capacity ({Error}); orphans wait for the next scan", known.Error);
            _toClaim.Clear();
            _claimInFlight = false;
            return;
        }

        if (OutOfFleet)
        {
            _toClaim.Clear();
            _claimInFlight = false;
            return;
        }

        var (batch, waiting) = ClaimBatch.Take(_toClaim, status.Free);
        _toClaim.Clear();
        if (waiting > 0)
        {
            _log.Info("fleet: no free slot for {Waiting} orphaned job(s); they wait for the next scan", waiting);
        }

        if (batch.Count == 0)
        {
            _claimInFlight = false;
            return;
        }

        _claimer.ClaimAllAsync(batch, _membership.LiveOwnerIds(OwnerId), _stopping.Token).PipeTo(Self,
            success: outcomes => new ClaimsDone(outcomes),
            failure: e => new ClaimsDone(batch.Select(c => (ClaimOutcome)new NotClaimed(c, KubernetesFaults.Describe(e), IsError: true)).ToList()));
    }

    private void OnClaimsDone(ClaimsDone done)
    {
        _claimInFlight = false;
        foreach (var outcome in done.Outcomes)
        {
            switch (outcome)
            {
                case Claimed claimed when OutOfFleet:
                    // Claimed just before this node went out of the fleet: its pod names this node, so the other nodes
                    // adopt it once this node is removed (or at their next scan).
                    _log.Warning("fleet: claimed job {JobId} ({Namespace}/{Pod}) as this node went out of the fleet; not starting it",
                        claimed.Job.Id, claimed.Pod.Namespace, claimed.Pod.Name);
                    break;
                case Claimed claimed when _intakes.TryGetValue(claimed.Candidate.RunnerName, out var intake):
                    _log.Info("fleet: adopted job {JobId} ({Namespace}/{Pod}) from {PreviousOwner}", claimed.Job.Id, claimed.Pod.Namespace,
                        claimed.Pod.Name, claimed.Candidate.PreviousOwner);
                    intake.Tell(new AdoptIntoIntake(claimed.Job, claimed.Pod));
                    Context.System.EventStream.Publish(new JobAdoptedByFleet(claimed.Job.Id, claimed.Candidate.RunnerName,
                        claimed.Pod.Namespace, claimed.Pod.Name));
                    break;
                case Claimed claimed:
                    _log.Error("fleet: claimed job {JobId} but runner \"{Runner}\" has no intake on this node", claimed.Job.Id,
                        claimed.Candidate.RunnerName);
                    break;
                case NotClaimed { IsError: true } failed:
                    _log.Warning("fleet: cannot adopt job {JobId} ({Namespace}/{Pod}): {Reason}", failed.Candidate.JobId,
                        failed.Candidate.Namespace, failed.Candidate.PodName, failed.Why);
                    break;
                case NotClaimed skipped:
                    _log.Debug("fleet: job {JobId} not adopted: {Reason}", skipped.Candidate.JobId, skipped.Why);
                    break;
            }
        }

        StartClaims();
    }
}
