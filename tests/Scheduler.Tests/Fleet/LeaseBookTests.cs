using Scheduler.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>The fleet-wide leases of a runner entry's <c>limit</c>.</summary>
public sealed class LeaseBookTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(0, 5)] // 0: no limit
    public void Grants_up_to_the_limit(int limit, int granted)
    {
        var book = new LeaseBook();

        var results = Enumerable.Range(0, 5).Select(i => book.TryGrant($"node-{i % 2}", "eu", limit, $"lease-{i}")).ToList();

        Assert.Equal(granted, results.Count(r => r));
        Assert.Equal(granted, book.Count("eu"));
    }

    [Fact]
    public void Limits_are_per_runner_and_a_release_frees_a_slot()
    {
        var book = new LeaseBook();

        Assert.True(book.TryGrant("a", "eu", 1, "l1"));
        Assert.True(book.TryGrant("a", "us", 1, "l2"));
        Assert.False(book.TryGrant("b", "eu", 1, "l3"));
        book.Release("l1");
        Assert.True(book.TryGrant("b", "eu", 1, "l3"));
    }

    [Fact]
    public void Asking_again_for_a_held_lease_is_granted_without_a_second_slot()
    {
        var book = new LeaseBook();

        Assert.True(book.TryGrant("a", "eu", 1, "l1"));
        Assert.True(book.TryGrant("a", "eu", 1, "l1"));
        Assert.Equal(1, book.Count("eu"));
    }

    [Fact]
    public void Adopted_jobs_hold_a_lease_beyond_the_limit()
    {
        var book = new LeaseBook();
        book.TryGrant("a", "eu", 1, "l1");

        book.Adopt("b", "eu", "l2");

        Assert.Equal(2, book.Count("eu"));
        book.Release("l1");
        Assert.False(book.TryGrant("a", "eu", 1, "l3"));
    }

    [Fact]
    public void A_removed_node_loses_its_leases()
    {
        var book = new LeaseBook();
        book.TryGrant("a", "eu", 2, "l1");
        book.TryGrant("b", "eu", 2, "l2");

        book.DropNode("a");

        Assert.Equal(1, book.Count("eu"));
        Assert.Equal(0, book.CountOnNode("a"));
        Assert.True(book.TryGrant("c", "eu", 2, "l3"));
    }

    [Fact]
    public void A_report_rebuilds_a_new_singleton_and_drops_leaked_leases_but_keeps_grants_in_flight()
    {
        var book = new LeaseBook();
        book.TryGrant("a", "eu", 5, "leaked");
        book.TryGrant("a", "eu", 5, "in-flight");
        book.TryGrant("b", "eu", 5, "other-node");

        book.Reconcile("a", [new HeldLease("eu", "held-1"), new HeldLease("us", "held-2")], ["in-flight"]);

        Assert.Equal(3, book.Count("eu")); // held-1, in-flight, other-node
        Assert.Equal(1, book.Count("us"));
        Assert.Equal(3, book.CountOnNode("a"));
    }
}
