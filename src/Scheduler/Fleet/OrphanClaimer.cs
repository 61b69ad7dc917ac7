using System.Text;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

/// <summary>What came of trying to claim one orphan.</summary>
public abstract record ClaimOutcome(OrphanCandidate Candidate);

/// <summary>The pod now names this node; <paramref name="Job"/> is its payload from the job Secret.</summary>
public sealed record Claimed(OrphanCandidate Candidate, JobPayload Job, AdoptedPod Pod) : ClaimOutcome(Candidate);

/// <summary>The pod was not claimed; <paramref name="IsError"/> when it cannot be adopted (rather than: someone else has it).</summary>
public sealed record NotClaimed(OrphanCandidate Candidate, string Why, bool IsError) : ClaimOutcome(Candidate);

/// <summary>
/// Claims orphaned job pods for this node through Kubernetes: re-reads each pod (the scan may be old), checks it is still
/// orphaned, reads its payload from the job Secret, then claims it by a resourceVersion-conditional update of its owner,
/// so of several nodes claiming the same pod exactly one succeeds. A pod whose job Secret does not exist is deleted instead
/// once it is older than <see cref="MissingSecretGrace"/>: its node made the pod and stopped before the Secret (made just
/// after the pod), so the pod waits for that mount for ever, and the job cannot be resumed without the payload the Secret
/// would hold. A younger one is left for a later scan: its node may be alive, not yet a member in this node's view, with
/// the Secret's create still being retried. Runs outside the actor; the fleet actor pipes the result back to itself.
/// </summary>
/// <param name="clock">The time a pod's age is measured against (its creationTimestamp); null: the system clock.</param>
public sealed class OrphanClaimer(IReadOnlyDictionary<string, RunnerEntry> runners, IKubernetesGatewayFactory gateways, string ownerId,
    TimeProvider? clock = null)
{
    /// <summary>
    /// How old a pod without its job Secret must be before it is deleted. A fixed minute, not the orphan scan interval
    /// (configurable down to 1 s, and unrelated to the gap): it covers the seconds a new node takes to be seen as a member, a
    /// Secret create retried a few times after 429/5xx (backoff from 0.5 s), and some skew between this node's clock and
    /// the API server's creationTimestamp. A dead node's pod waits at most this plus one scan interval longer.
    /// </summary>
    public static readonly TimeSpan MissingSecretGrace = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>
    /// Claims every candidate of <paramref name="batch"/> at once: each claim is its own few API calls and independent of the
    /// others (a failover adopts all jobs of the dead node within one round trip rather than one after another). The
    /// outcomes are in the batch's order.
    /// </summary>
    public async Task<IReadOnlyList<ClaimOutcome>> ClaimAllAsync(IReadOnlyList<OrphanCandidate> batch, IReadOnlySet<string> live,
        CancellationToken ct)
    {
        var names = runners.Keys.ToHashSet(StringComparer.Ordinal);
        return await Task.WhenAll(batch.Select(candidate => ClaimOrFailAsync(candidate, live, names, ct)));
    }

    private async Task<ClaimOutcome> ClaimOrFailAsync(OrphanCandidate candidate, IReadOnlySet<string> live, IReadOnlySet<string> names,
        CancellationToken ct)
    {
        try
        {
            return await ClaimAsync(candidate, live, names, ct);
        }
        catch (Exception e) when (KubernetesFaults.Classify(e, ct) != FaultKind.Stopped)
        {
            // A timed-out call leaves this pod for the next scan; the claim is conditional, so trying again is safe.
            return new NotClaimed(candidate, KubernetesFaults.Describe(e), IsError: true);
        }
    }

    private async Task<ClaimOutcome> ClaimAsync(OrphanCandidate candidate, IReadOnlySet<string> live, IReadOnlySet<string> names,
        CancellationToken ct)
    {
        var gateway = gateways.For(runners[candidate.RunnerName], null);
        var pod = await gateway.ReadPodAsync(candidate.Namespace, candidate.PodName, ct);
        if (pod is null || OrphanSelection.Find([pod], live, names) is not [var fresh])
        {
            return new NotClaimed(candidate, "no longer orphaned", IsError: false);
        }

        var secret = await gateway.ReadSecretAsync(fresh.Namespace, fresh.JobSecretName, ct);
        if (secret is null && _clock.GetUtcNow() - fresh.StartedAt < MissingSecretGrace)
        {
            return new NotClaimed(candidate, $"its job secret {fresh.JobSecretName} does not exist yet and the pod is younger than " +
                                             $"{MissingSecretGrace.TotalSeconds:0} s (its node may still make it): left for a later scan", IsError: false);
        }

        if (secret is null)
        {
            // Nobody can make the Secret now (its owner is gone, and only it had the payload): no claim, a delete, which
            // every node may do (a pod that is gone already is success); a failed delete leaves it for the next scan.
            await gateway.DeletePodAsync(fresh.Namespace, fresh.PodName, null, ct);
            // Its registry Secret (registry credentials) got its owner after the job Secret, so it has none: delete it too.
            var registrySecret = PodBuilder.RegistrySecretNameOf(fresh.PodName);
            if (pod.Spec?.ImagePullSecrets?.Any(reference => reference.Name == registrySecret) == true)
            {
                await gateway.DeleteSecretAsync(fresh.Namespace, registrySecret, null, ct);
            }

            return new NotClaimed(candidate, $"its job secret {fresh.JobSecretName} does not exist (its node stopped after " +
                                             "making the pod, before the Secret): the job cannot be resumed; its pod was deleted", IsError: true);
        }

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
            claimed = await gateway.ClaimPodAsync(fresh.Namespace, fresh.PodName, fresh.ResourceVersion, ownerId, ct);
        }
        catch (Exception e) when (KubernetesFaults.Classify(e, ct) == FaultKind.Transient)
        {
            // The answer may be lost after the claim landed: then the pod names this node and no other node will adopt it,
            // so read it back; it is ours only when it names this node.
            var after = await gateway.ReadPodAsync(fresh.Namespace, fresh.PodName, ct);
            claimed = after?.Metadata?.Annotations?.TryGetValue(PodMetadata.OwnerAnnotation, out var owner) == true && owner == ownerId
                ? after
                : throw new TimeoutException($"the claim failed ({KubernetesFaults.Describe(e)}) and the pod does not name this node", e);
        }

        return claimed is null
            ? new NotClaimed(candidate, "another node claimed it first", IsError: false)
            : new Claimed(fresh, job, new AdoptedPod(fresh.Namespace, fresh.PodName, fresh.ConcurrentId, fresh.StartedVia, fresh.StartedAt));
    }

    private static string? PayloadJson(V1Secret? secret)
    {
        if (secret?.Data is { } data && data.TryGetValue(JobSecretLayout.PayloadKey, out var bytes) && bytes is { Length: > 0 })
        {
            return Encoding.UTF8.GetString(bytes);
        }

        return secret?.StringData is { } text && text.TryGetValue(JobSecretLayout.PayloadKey, out var json) && json.Length > 0 ? json : null;
    }
}
