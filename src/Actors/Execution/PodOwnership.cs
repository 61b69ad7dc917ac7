using System.Globalization;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Actors.Execution;

/// <summary>What a pod says about who drives its job.</summary>
public abstract record OwnerVerdict
{
    /// <summary>The pod names this node.</summary>
    public sealed record Owned : OwnerVerdict;

    /// <summary>The pod names another node (or none): this node must stop driving the job.</summary>
    public sealed record OtherOwner(string? Owner) : OwnerVerdict;

    /// <summary>The pod no longer exists.</summary>
    public sealed record Gone : OwnerVerdict;
}

/// <summary>The owner and started-via annotations of a job's pod (fleet fencing). Pure.</summary>
public static class PodOwnership
{
    /// <summary>Sets <c>scheduler/started-via</c> and, in a fleet, <c>scheduler/owner</c> on a pod about to be created.</summary>
    public static void Stamp(V1Pod pod, string? ownerId, string startedVia)
    {
        pod.Metadata.Annotations ??= new Dictionary<string, string>();
        pod.Metadata.Annotations[PodMetadata.StartedViaAnnotation] = startedVia;
        if (ownerId is not null)
        {
            pod.Metadata.Annotations[PodMetadata.OwnerAnnotation] = ownerId;
        }
    }

    public static string? OwnerOf(V1Pod pod) =>
        pod.Metadata?.Annotations is { } annotations && annotations.TryGetValue(PodMetadata.OwnerAnnotation, out var owner) ? owner : null;

    public static OwnerVerdict Judge(V1Pod? pod, string ownerId)
    {
        if (pod is null)
        {
            return new OwnerVerdict.Gone();
        }

        var owner = OwnerOf(pod);
        return owner == ownerId ? new OwnerVerdict.Owned() : new OwnerVerdict.OtherOwner(owner);
    }

    /// <summary>True when <paramref name="resourceVersion"/> is known to be older than or equal to <paramref name="known"/>:
    /// a watch event that lags behind what this node already read must not take the job away. Resource versions are
    /// opaque; when either is not a number, nothing is known to be older.</summary>
    public static bool IsNotNewer(string? resourceVersion, string? known) =>
        long.TryParse(resourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var version)
        && long.TryParse(known, NumberStyles.None, CultureInfo.InvariantCulture, out var knownVersion)
        && version <= knownVersion;
}
