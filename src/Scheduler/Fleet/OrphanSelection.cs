using System.Globalization;
using System.Text;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Fleet;

/// <summary>A job pod that no live member drives, with what adopting it needs.</summary>
public sealed record OrphanCandidate(long JobId, string RunnerName, string Namespace, string PodName, string ResourceVersion,
    string? PreviousOwner, string JobSecretName, int ConcurrentId, string StartedVia, DateTimeOffset StartedAt);

/// <summary>Which job pods are orphaned and which node should claim each first. Pure: no Akka, no I/O.</summary>
public static class OrphanSelection
{
    /// <summary>
    /// The pods whose owner annotation names no live member and whose runner entry this node has. Pods without an owner
    /// annotation were started by a runner outside any fleet (it may still drive them) and pods being deleted are done:
    /// neither is a candidate. Pods without the job id, the runner name or the job secret cannot be rebuilt and are skipped.
    /// </summary>
    public static IReadOnlyList<OrphanCandidate> Find(IEnumerable<V1Pod> pods, IReadOnlySet<string> liveOwnerIds,
        IReadOnlySet<string> runnerNames)
    {
        var result = new List<OrphanCandidate>();
        foreach (var pod in pods)
        {
            var metadata = pod.Metadata;
            if (metadata is null || metadata.DeletionTimestamp is not null)
            {
                continue;
            }

            var owner = Annotation(metadata, PodMetadata.OwnerAnnotation);
            if (string.IsNullOrEmpty(owner) || liveOwnerIds.Contains(owner))
            {
                continue;
            }

            var runner = Annotation(metadata, PodMetadata.RunnerNameAnnotation);
            var secret = Annotation(metadata, PodMetadata.JobSecretAnnotation);
            if (runner is null || !runnerNames.Contains(runner) || string.IsNullOrEmpty(secret)
                || !long.TryParse(Label(metadata, PodMetadata.JobIdLabel), NumberStyles.None, CultureInfo.InvariantCulture, out var jobId)
                || string.IsNullOrEmpty(metadata.ResourceVersion) || string.IsNullOrEmpty(metadata.Name))
            {
                continue;
            }

            var concurrentId = int.TryParse(Label(metadata, PodMetadata.ConcurrentIdLabel), NumberStyles.None, CultureInfo.InvariantCulture,
                out var id) ? id : 0;
            var startedAt = metadata.CreationTimestamp is { } created
                ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc))
                : DateTimeOffset.UnixEpoch;
            result.Add(new OrphanCandidate(jobId, runner, metadata.NamespaceProperty ?? "", metadata.Name, metadata.ResourceVersion, owner,
                secret, concurrentId, Annotation(metadata, PodMetadata.StartedViaAnnotation) ?? "", startedAt));
        }

        return result;
    }

    /// <summary>
    /// This node's place in the job's preference order among <paramref name="memberIds"/> (rendezvous hashing: every node
    /// computes the same order from the same members, and a member leaving moves only its own jobs). 0 = claims first;
    /// -1 when <paramref name="self"/> is not among the members.
    /// </summary>
    public static int Rank(long jobId, IEnumerable<string> memberIds, string self)
    {
        var ordered = memberIds.Distinct(StringComparer.Ordinal)
            .OrderByDescending(m => Score(jobId, m))
            .ThenBy(m => m, StringComparer.Ordinal)
            .ToList();
        return ordered.IndexOf(self);
    }

    /// <summary>A stable 64-bit score of (job, member): FNV-1a over both, finished with a SplitMix64 mix.</summary>
    public static ulong Score(long jobId, string memberId)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(jobId.ToString(CultureInfo.InvariantCulture) + "\n" + memberId))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        hash += 0x9E3779B97F4A7C15UL;
        hash = (hash ^ (hash >> 30)) * 0xBF58476D1CE4E5B9UL;
        hash = (hash ^ (hash >> 27)) * 0x94D049BB133111EBUL;
        return hash ^ (hash >> 31);
    }

    private static string? Annotation(V1ObjectMeta metadata, string key) =>
        metadata.Annotations is { } annotations && annotations.TryGetValue(key, out var value) ? value : null;

    private static string? Label(V1ObjectMeta metadata, string key) =>
        metadata.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;
}
