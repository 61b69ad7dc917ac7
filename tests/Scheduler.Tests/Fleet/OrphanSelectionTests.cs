using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Which pods are orphans, and the rendezvous order in which nodes claim them.</summary>
public sealed class OrphanSelectionTests
{
    private const string Alive = "akka.tcp://scheduler@10.0.0.1:4053#1";
    private const string Gone = "akka.tcp://scheduler@10.0.0.2:4053#2";

    public static V1Pod Pod(string name, long jobId = 7, string? owner = Gone, string? runner = "eu", string? secret = "secret-7",
        bool deleting = false, string resourceVersion = "11")
    {
        var annotations = new Dictionary<string, string> { [PodMetadata.StartedViaAnnotation] = "host-b" };
        if (owner is not null)
        {
            annotations[PodMetadata.OwnerAnnotation] = owner;
        }

        if (runner is not null)
        {
            annotations[PodMetadata.RunnerNameAnnotation] = runner;
        }

        if (secret is not null)
        {
            annotations[PodMetadata.JobSecretAnnotation] = secret;
        }

        return new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = "ci",
                ResourceVersion = resourceVersion,
                CreationTimestamp = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
                DeletionTimestamp = deleting ? DateTime.UtcNow : null,
                Labels = new Dictionary<string, string>
                {
                    [PodMetadata.JobIdLabel] = jobId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    [PodMetadata.ConcurrentIdLabel] = "3",
                },
                Annotations = annotations,
            },
        };
    }

    public static TheoryData<string, V1Pod, bool> Rows() => new()
    {
        { "owner left the fleet", Pod("p"), true },
        { "owner is a member", Pod("p", owner: Alive), false },
        { "no owner annotation (a runner outside the fleet)", Pod("p", owner: null), false },
        { "runner entry not on this node", Pod("p", runner: "us"), false },
        { "no runner annotation", Pod("p", runner: null), false },
        { "no job secret annotation", Pod("p", secret: null), false },
        { "being deleted", Pod("p", deleting: true), false },
        { "no resource version", Pod("p", resourceVersion: ""), false },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Orphan_rule(string why, V1Pod pod, bool orphan)
    {
        var found = OrphanSelection.Find([pod], new HashSet<string> { Alive }, new HashSet<string> { "eu" });

        Assert.True(orphan == (found.Count == 1), why);
    }

    [Fact]
    public void A_candidate_carries_what_adoption_needs()
    {
        var candidate = Assert.Single(OrphanSelection.Find([Pod("p", jobId: 42)], new HashSet<string> { Alive }, new HashSet<string> { "eu" }));

        Assert.Equal(new OrphanCandidate(42, "eu", "ci", "p", "11", Gone, "secret-7", 3, "host-b",
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)), candidate);
    }

    [Fact]
    public void A_job_label_that_is_not_a_number_is_skipped()
    {
        var pod = Pod("p");
        pod.Metadata.Labels[PodMetadata.JobIdLabel] = "x";

        Assert.Empty(OrphanSelection.Find([pod], new HashSet<string>(), new HashSet<string> { "eu" }));
    }

    private static readonly string[] Members = ["node-a#1", "node-b#2", "node-c#3", "node-d#4"];

    [Fact]
    public void Every_node_gets_a_distinct_rank_and_all_agree()
    {
        for (long job = 1; job <= 50; job++)
        {
            var ranks = Members.Select(m => OrphanSelection.Rank(job, Members, m)).Order().ToList();
            Assert.Equal([0, 1, 2, 3], ranks);
            // The order does not depend on how a node lists the members.
            Assert.Equal(OrphanSelection.Rank(job, Members, "node-c#3"), OrphanSelection.Rank(job, Members.Reverse(), "node-c#3"));
        }
    }

    [Fact]
    public void Jobs_spread_over_the_nodes()
    {
        var firsts = Enumerable.Range(1, 400).Select(job => Members.Single(m => OrphanSelection.Rank(job, Members, m) == 0))
            .GroupBy(m => m).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(4, firsts.Count);
        Assert.All(firsts.Values, count => Assert.InRange(count, 60, 140));
    }

    [Fact]
    public void A_member_leaving_moves_only_its_own_jobs()
    {
        var remaining = Members.Where(m => m != "node-b#2").ToArray();
        for (long job = 1; job <= 200; job++)
        {
            var before = Members.Single(m => OrphanSelection.Rank(job, Members, m) == 0);
            var after = remaining.Single(m => OrphanSelection.Rank(job, remaining, m) == 0);
            if (before != "node-b#2")
            {
                Assert.Equal(before, after);
            }
        }
    }

    [Fact]
    public void A_node_outside_the_members_has_no_rank()
    {
        Assert.Equal(-1, OrphanSelection.Rank(1, Members, "node-z#9"));
    }
}
