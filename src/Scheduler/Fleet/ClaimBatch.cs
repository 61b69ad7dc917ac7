namespace Scheduler.Fleet;

/// <summary>Which queued orphans one round of claims takes. Pure: no Akka, no I/O.</summary>
public static class ClaimBatch
{
    /// <summary>
    /// At most <paramref name="free"/> candidates from <paramref name="queued"/>, in order, each pod once (a pod queued by a
    /// scan and again by its recheck timer is claimed once). <c>Waiting</c> counts the queued candidates past the batch:
    /// they have no free slot and wait for the next scan.
    /// </summary>
    public static (IReadOnlyList<OrphanCandidate> Batch, int Waiting) Take(IReadOnlyCollection<OrphanCandidate> queued, int free)
    {
        var batch = new List<OrphanCandidate>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var taken = 0;
        foreach (var candidate in queued)
        {
            if (batch.Count >= Math.Max(free, 0))
            {
                break;
            }

            taken++;
            if (seen.Add($"{candidate.Namespace}/{candidate.PodName}"))
            {
                batch.Add(candidate);
            }
        }

        return (batch, queued.Count - taken);
    }
}
