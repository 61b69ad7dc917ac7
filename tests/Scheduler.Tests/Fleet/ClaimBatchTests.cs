using Scheduler.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>How many queued orphans one round claims: no more than the free slots, each pod once.</summary>
public sealed class ClaimBatchTests
{
    private static OrphanCandidate Orphan(string pod, long jobId = 1) =>
        new(jobId, "eu", "ci", pod, "11", "gone#1", "secret", 0, "host", DateTimeOffset.UnixEpoch);

    public static TheoryData<string, string[], int, string[], int> Rows() => new()
    {
        { "nothing queued", [], 3, [], 0 },
        { "fewer than the free slots: all", ["a", "b"], 3, ["a", "b"], 0 },
        { "as many as the free slots: all", ["a", "b"], 2, ["a", "b"], 0 },
        { "more than the free slots: the first ones, the rest wait", ["a", "b", "c"], 2, ["a", "b"], 1 },
        { "no free slot: all wait", ["a", "b"], 0, [], 2 },
        { "a negative count (a reload lowered concurrent) is no free slot", ["a"], -1, [], 1 },
        { "a pod queued twice (scan and recheck) is claimed once", ["a", "a", "b"], 3, ["a", "b"], 0 },
        { "a duplicate does not use a slot", ["a", "a", "b", "c"], 2, ["a", "b"], 1 },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Takes_a_batch(string because, string[] queued, int free, string[] batch, int waiting)
    {
        var (taken, left) = ClaimBatch.Take(queued.Select(p => Orphan(p)).ToList(), free);

        Assert.Equal(batch, taken.Select(c => c.PodName));
        Assert.True(waiting == left, because);
    }
}
