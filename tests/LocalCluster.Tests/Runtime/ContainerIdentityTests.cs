using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>Who a container runs as on the embedded cluster, and when it may not run at all.</summary>
public sealed class ContainerIdentityTests
{
    private static readonly PodUser Pod = new(2_000_007, 2_000_007); // not the default, to tell the pod's pair from any other

    public static TheoryData<string, long?, long?, long?, long?, bool, long, long, long[]> Allowed => new()
    {
        // case, runAsUser, runAsGroup, image uid, fsGroup, allowRoot → uid, gid, supplementary groups
        { "nothing named: the pod's own uid and gid", null, null, null, null, false, 2_000_007, 2_000_007, [] },
        { "an image whose user is root: still the pod's uid", null, null, 0, null, false, 2_000_007, 2_000_007, [] },
        { "the image's non-root user, with the pod's group", null, null, 1000, null, false, 1000, 1000, [2_000_007] },
        { "runAsGroup alone keeps the pod's uid", null, 4321, null, null, false, 2_000_007, 4321, [2_000_007] },
        { "runAsUser without runAsGroup: gid 0 as a CRI runtime", 1234, null, 1000, null, false, 1234, 0, [2_000_007] },
        { "fsGroup is the volume group", 1234, 1234, null, 3000, false, 1234, 1234, [3000] },
        { "root when asked for on a cluster that allows it", 0, 0, null, null, true, 0, 0, [2_000_007] },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void A_container_runs_as(string @case, long? runAsUser, long? runAsGroup, long? imageUid, long? fsGroup, bool allowRoot,
        long uid, long gid, long[] groups)
    {
        var request = new IdentityRequest
        {
            RunAsUser = runAsUser,
            RunAsGroup = runAsGroup,
            FsGroup = fsGroup,
            ImageUser = imageUid is { } image ? (image, image) : null,
        };

        var decision = ContainerIdentity.Decide(request, Pod, allowRoot, "p_default(u)", "main");

        Assert.True(decision.Refusal is null, @case);
        Assert.Equal((uid, gid), (decision.Uid, decision.Gid));
        Assert.Equal(groups, decision.SupplementalGroups);
    }

    [Theory]
    [InlineData(false, null, "container's runAsUser 0 (root) is not allowed")]
    [InlineData(false, false, "container's runAsUser 0 (root) is not allowed")]
    [InlineData(true, true, "container's runAsUser breaks non-root policy (pod: \"p_default(u)\", container: main)")]
    [InlineData(false, true, "container's runAsUser breaks non-root policy (pod: \"p_default(u)\", container: main)")]
    public void Root_is_refused_unless_the_cluster_allows_it_and_never_with_runAsNonRoot(bool allowRoot, bool? runAsNonRoot, string refusal)
    {
        var decision = ContainerIdentity.Decide(new IdentityRequest { RunAsUser = 0, RunAsNonRoot = runAsNonRoot }, Pod, allowRoot, "p_default(u)", "main");

        Assert.NotNull(decision.Refusal);
        Assert.StartsWith(refusal, decision.Refusal);
    }
}
