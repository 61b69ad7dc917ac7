namespace Scheduler.LocalCluster.Runtime;

/// <summary>The uid and gid a pod's containers run as when they name none, and the owner of its volumes.</summary>
public sealed record PodUser(long Uid, long Gid)
{
    /// <summary>
    /// 65532:65532, the "nonroot" user of distroless images: no account on a usual host, and the same for every pod, so
    /// that a directory shared between jobs (a hostPath cache) stays writable from one job to the next. Pods are kept
    /// apart by their hidden state directory and node directories only root may enter, not by their uids.
    /// </summary>
    public static readonly PodUser Default = new(65532, 65532);
}

/// <summary>What a container's process runs as, or why it may not run (CreateContainerConfigError).</summary>
public sealed record IdentityDecision(long Uid, long Gid, IReadOnlyList<long> SupplementalGroups, string? Refusal)
{
    public static IdentityDecision Refused(string reason) => new(0, 0, [], reason);
}

/// <summary>The securityContext fields that decide a container's identity (the container's, else the pod's).</summary>
public sealed record IdentityRequest
{
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    public bool? RunAsNonRoot { get; init; }
    /// <summary>The pod's fsGroup: owns its volumes and is a supplementary group of every container.</summary>
    public long? FsGroup { get; init; }
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];
    /// <summary>The image's User, resolved in its passwd/group; null for the host's filesystem or an image without one.</summary>
    public (long Uid, long Gid)? ImageUser { get; init; }
}

/// <summary>
/// The embedded cluster's rule for who a container runs as. Pure.
/// <list type="number">
/// <item>runAsNonRoot with uid 0 is refused with Kubernetes' own message.</item>
/// <item>An explicit runAsUser: 0 runs as root only on a cluster started to allow it; otherwise it is refused.</item>
/// <item>An explicit runAsUser is used as asked (its gid: runAsGroup, else 0, as a CRI runtime does for a uid the image
/// does not know).</item>
/// <item>Without one, the image's User when it is not root (Kubernetes' rule); else the pod's non-root default (<see cref="PodUser.Default"/>).</item>
/// <item>The group that owns the pod's volumes (fsGroup, else the pod's gid) and the pod's supplementalGroups are
/// supplementary groups, so a container with another uid still reaches the pod's volumes.</item>
/// </list>
/// </summary>
public static class ContainerIdentity
{
    public static IdentityDecision Decide(IdentityRequest request, PodUser pod, bool allowRoot, string podLabel, string containerName)
    {
        long uid;
        long gid;
        if (request.RunAsUser is { } explicitUid)
        {
            if (explicitUid == 0 && request.RunAsNonRoot == true)
            {
                return IdentityDecision.Refused($"container's runAsUser breaks non-root policy (pod: \"{podLabel}\", container: {containerName})");
            }
            if (explicitUid == 0 && !allowRoot)
            {
                return IdentityDecision.Refused(RootRefusal(podLabel, containerName));
            }
            uid = explicitUid;
            gid = request.RunAsGroup ?? 0;
        }
        else if (request.ImageUser is { Uid: not 0 } imageUser)
        {
            uid = imageUser.Uid;
            gid = request.RunAsGroup ?? imageUser.Gid;
        }
        else
        {
            uid = pod.Uid;
            gid = request.RunAsGroup ?? pod.Gid;
        }
        var groups = new List<long> { VolumeGroup(request.FsGroup, pod) };
        groups.AddRange(request.SupplementalGroups);
        // Kubernetes' range for ids. The system calls take 32 bits: 4294967296 would be 0 (root), -1 "unchanged" (root).
        foreach (var id in groups.Prepend(gid).Prepend(uid))
        {
            if (id is < 0 or > MaxId)
            {
                return IdentityDecision.Refused($"container's user or group {id} is not between 0 and {MaxId} " +
                                                $"(pod: \"{podLabel}\", container: {containerName})");
            }
        }

        return new IdentityDecision(uid, gid, groups.Where(g => g != gid).Distinct().ToList(), null);
    }

    /// <summary>The largest uid or gid Kubernetes accepts (its API validation's bound).</summary>
    public const long MaxId = int.MaxValue;

    /// <summary>The group that owns the pod's volumes: fsGroup as Kubernetes applies it, else the pod's own gid.</summary>
    public static long VolumeGroup(long? fsGroup, PodUser pod) => fsGroup ?? pod.Gid;

    public static string RootRefusal(string podLabel, string containerName) =>
        $"container's runAsUser 0 (root) is not allowed: this cluster runs containers as non-root users; start it with --allow-root "
        + $"to let a pod that asks for root run as root (pod: \"{podLabel}\", container: {containerName})";
}
