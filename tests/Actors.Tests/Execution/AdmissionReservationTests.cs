using Scheduler.Actors.Execution;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>Pull-based admission: intakes reserve slots before they ask GitLab, so a node holds at most <c>concurrent</c>
/// jobs however many runner entries it serves.</summary>
public sealed class AdmissionReservationTests
{
    private static Admission New(int concurrent, int limitA = 0, int limitB = 0) =>
        new(concurrent, new Dictionary<string, int> { ["a"] = limitA, ["b"] = limitB });

    [Theory]
    // concurrent, limit a, reservations asked in order (runner names) → granted (1) or not (0)
    [InlineData(1, 0, "a,b", "1,0")]           // one slot for the whole node, not one per entry
    [InlineData(2, 0, "a,b,a", "1,1,0")]
    [InlineData(3, 1, "a,a,b,b", "1,0,1,1")]   // a's limit holds; b is not held back by it
    [InlineData(2, 0, "a,a,a,b", "1,1,0,0")]
    public void Reservations_never_exceed_concurrent_nor_a_limit(int concurrent, int limitA, string runners, string granted)
    {
        var admission = New(concurrent, limitA);
        var answers = runners.Split(',').Select((runner, i) => admission.TryReserve($"r{i}", runner) is null ? "0" : "1");

        Assert.Equal(granted, string.Join(',', answers));
        Assert.True(admission.Taken <= concurrent);
    }

    [Fact]
    public void A_claimed_reservation_runs_with_its_concurrent_id_and_a_released_one_frees_the_slot()
    {
        var admission = New(2);
        Assert.Equal(0, admission.TryReserve("x", "a"));
        Assert.Equal(1, admission.TryReserve("y", "a"));
        Assert.Null(admission.TryReserve("z", "b"));

        Assert.Equal(1, admission.Claim("y", jobId: 7));
        Assert.True(admission.IsRunning(7));
        Assert.True(admission.Release("x"));
        Assert.False(admission.Release("x"));
        Assert.Equal(0, admission.TryReserve("z", "b")); // b's own numbering starts at 0
        Assert.Equal(2, admission.Taken);
    }

    [Fact]
    public void A_claim_of_an_unknown_reservation_or_a_known_job_is_refused()
    {
        var admission = New(2);
        admission.TryReserve("x", "a");

        Assert.Null(admission.Claim("nope", 1));
        Assert.Equal(0, admission.Claim("x", 1));
        admission.TryReserve("y", "a");
        Assert.Null(admission.Claim("y", 1)); // job 1 runs already
        Assert.True(admission.IsReserved("y"));
    }

    [Fact]
    public void Waiting_jobs_go_before_new_reservations()
    {
        var admission = New(1);
        Assert.Equal(0, admission.TryReserve("x", "a"));
        admission.Enqueue(5, "b");
        Assert.Empty(admission.AdmitAll()); // the reserved slot is taken

        admission.Release("x");
        Assert.Null(admission.TryReserve("y", "a")); // job 5 waits and fits: it goes first
        Assert.Equal([(5L, "b", 0)], admission.AdmitAll());
    }

    [Fact]
    public void An_adopted_job_counts_beyond_the_limits_and_shrinking_concurrent_refuses_new_reservations()
    {
        var admission = New(1);
        admission.TryReserve("x", "a");
        Assert.True(admission.Adopt(9, "b", 4));
        Assert.Equal(2, admission.Taken);

        admission.UpdateLimits(3, new Dictionary<string, int>());
        Assert.NotNull(admission.TryReserve("y", "a"));
        Assert.Null(admission.TryReserve("z", "a"));
    }

    [Theory]
    // steps: "r<id>" reserve for a, "c<id>" claim it as job <id>, "x<id>" release, "d<job>" remove the job, "a<job>:<cid>"
    // adopt with that concurrent id; the ids reservations got, in order
    [InlineData("r1,r2,r3", "0,1,2")]
    [InlineData("r1,r2,x1,r3", "0,1,0")]                   // a released id is the lowest free one again
    [InlineData("r1,c1,r2,c2,d1,r3", "0,1,0")]             // so is a finished job's
    [InlineData("a7:3,r1,r2,r3,r4", "0,1,2,4")]            // an adopted job keeps its id; the gaps below it are used first
    [InlineData("a7:0,a8:0,r1,d7,r2,d8,r3", "1,2,0")]      // two adopted pods with the same id: free only when both ended
    public void Each_job_gets_the_lowest_concurrent_id_its_entry_has_free(string steps, string ids)
    {
        var admission = New(10);
        var got = new List<int>();
        foreach (var step in steps.Split(','))
        {
            var arg = step[1..];
            switch (step[0])
            {
                case 'r': got.Add(admission.TryReserve(arg, "a")!.Value); break;
                case 'c': Assert.NotNull(admission.Claim(arg, long.Parse(arg))); break;
                case 'x': Assert.True(admission.Release(arg)); break;
                case 'd': admission.Remove(long.Parse(arg)); break;
                case 'a': Assert.True(admission.Adopt(long.Parse(arg.Split(':')[0]), "a", int.Parse(arg.Split(':')[1]))); break;
            }
        }

        Assert.Equal(ids, string.Join(',', got));
    }

    [Fact]
    public void Many_jobs_through_one_entry_keep_the_counts_and_ids_exact()
    {
        var admission = New(1000, limitA: 600);
        for (var i = 0; i < 600; i++)
        {
            Assert.Equal(i, admission.TryReserve($"r{i}", "a"));
        }

        Assert.Null(admission.TryReserve("over", "a")); // the limit holds
        for (var i = 0; i < 600; i += 2)
        {
            Assert.True(admission.Release($"r{i}"));
        }

        Assert.Equal(0, admission.TryReserve("again", "a")); // the lowest of the 300 freed
        Assert.Equal(301, admission.Taken);
    }
}
