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

    // The system calls take 32 bits: 4294967296 would run as 0 (root) and -1 means "unchanged" (root), so an id outside
    // Kubernetes' range is refused wherever it comes from.
    public static TheoryData<string, IdentityRequest, long> OutOfRange => new()
    {
        { "runAsUser 2^32", new IdentityRequest { RunAsUser = 4294967296 }, 4294967296 },
        { "runAsUser -1", new IdentityRequest { RunAsUser = -1 }, -1 },
        { "the image's User 2^32 (USER 4294967296)", new IdentityRequest { ImageUser = (4294967296, 5) }, 4294967296 },
        { "the image's passwd uid -1", new IdentityRequest { ImageUser = (-1, 5) }, -1 },
        { "runAsGroup 2^32", new IdentityRequest { RunAsUser = 1000, RunAsGroup = 4294967296 }, 4294967296 },
        { "fsGroup -1", new IdentityRequest { RunAsUser = 1000, FsGroup = -1 }, -1 },
        { "a supplemental group 2^31", new IdentityRequest { RunAsUser = 1000, SupplementalGroups = [2147483648] }, 2147483648 },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void An_id_outside_kubernetes_range_is_refused(string @case, IdentityRequest request, long id)
    {
        var decision = ContainerIdentity.Decide(request, Pod, allowRoot: false, "p_default(u)", "main");

        Assert.True(decision.Refusal is not null, @case);
        Assert.StartsWith($"container's user or group {id} is not between 0 and 2147483647", decision.Refusal);
    }

    [Fact]
    public void The_largest_id_kubernetes_accepts_runs()
    {
        var decision = ContainerIdentity.Decide(new IdentityRequest { RunAsUser = 2147483647, RunAsGroup = 2147483647 }, Pod,
            allowRoot: false, "p_default(u)", "main");

        Assert.Null(decision.Refusal);
        Assert.Equal((2147483647L, 2147483647L), (decision.Uid, decision.Gid));
    }
}
