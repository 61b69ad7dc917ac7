using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Fleet;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>Claiming a dead node's jobs: all at once (a failover does not adopt them one after another), one failed claim
/// spoils none of the others, and the outcomes keep the batch's order.</summary>
public sealed class OrphanClaimerTests
{
    private const string Self = "akka.tcp://scheduler@10.0.0.9:4053#9";
    private const string Gone = "akka.tcp://scheduler@10.0.0.2:4053#2";
    private static readonly RunnerEntry Runner = new() { Name = "eu", Kubernetes = new KubernetesSettings { Namespace = "ci" } };

    private static async Task<(InMemoryPods Pods, IReadOnlyList<OrphanCandidate> Batch)> OrphansAsync(int count)
    {
        var pods = new InMemoryPods();
        for (var id = 1; id <= count; id++)
        {
            pods.AddJobPod(OrphanSelectionTests.Pod($"job-{id}", jobId: id, secret: $"secret-{id}", owner: Gone),
                $$"""{"id":{{id}},"token":"job-token-{{id}}"}""");
        }

        var listed = await pods.ListPodsAsync("ci", PodMetadata.JobIdLabel, CancellationToken.None);
        var batch = OrphanSelection.Find(listed, new HashSet<string> { Self }, new HashSet<string> { "eu" })
            .OrderBy(c => c.JobId).ToList();
        Assert.Equal(count, batch.Count);
        return (pods, batch);
    }

    private static OrphanClaimer Claimer(InMemoryPods pods) => new(new Dictionary<string, RunnerEntry> { ["eu"] = Runner }, pods, Self);

    [Fact]
    public async Task The_orphans_of_a_dead_node_are_claimed_together_not_one_after_another()
    {
        var (pods, batch) = await OrphansAsync(3);
        // Every pod read waits until all three are in flight: claims made in turn would each time out.
        pods.ReadsAnsweredTogether = 3;

        var outcomes = await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        Assert.All(outcomes, o => Assert.IsType<Claimed>(o));
        Assert.Equal([1L, 2L, 3L], outcomes.Select(o => ((Claimed)o).Job.Id));
        Assert.All(["job-1", "job-2", "job-3"], pod => Assert.Equal(Self, pods.OwnerOf(pod)));
    }

    [Fact]
    public async Task A_claim_that_times_out_leaves_the_others_claimed_and_its_pod_for_the_next_scan()
    {
        var (pods, batch) = await OrphansAsync(3);
        pods.ClaimTimeouts = 1;

        var outcomes = await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        // Outcomes in the batch's order, whichever claim timed out.
        Assert.Equal(batch.Select(c => c.JobId), outcomes.Select(o => o.Candidate.JobId));
        var failed = Assert.Single(outcomes.OfType<NotClaimed>());
        Assert.True(failed.IsError);
        Assert.Equal(2, outcomes.OfType<Claimed>().Count());
        Assert.Equal(Gone, pods.OwnerOf(failed.Candidate.PodName));
        Assert.Equal(3, pods.ClaimCalls);
    }

    [Fact]
    public async Task A_pod_whose_job_secret_was_never_made_is_deleted_not_claimed_and_the_others_are_claimed()
    {
        // Its node made the pod and died before the job Secret (made just after the pod): the pod would wait for its mount.
        var (pods, batch) = await OrphansAsync(2);
        pods.RemoveSecret("secret-1");

        var outcomes = await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        var skipped = Assert.IsType<NotClaimed>(outcomes[0]);
        Assert.True(skipped.IsError);
        Assert.Contains("secret-1 does not exist", skipped.Why, StringComparison.Ordinal);
        Assert.Contains("its pod was deleted", skipped.Why, StringComparison.Ordinal);
        Assert.False(pods.HasPod("job-1"));
        Assert.Equal(2L, Assert.IsType<Claimed>(outcomes[1]).Job.Id);
        Assert.Equal(1, pods.ClaimCalls);
    }

    [Fact]
    public async Task A_pod_deleted_for_its_missing_job_secret_takes_its_registry_secret_with_it()
    {
        // The registry Secret (registry credentials) gets its owner only after the job Secret: here it has none.
        var pods = new InMemoryPods();
        var pod = OrphanSelectionTests.Pod("job-1", jobId: 1, secret: "secret-1", owner: Gone);
        var registrySecret = PodBuilder.RegistrySecretNameOf("job-1");
        pod.Spec = new V1PodSpec { ImagePullSecrets = [new V1LocalObjectReference { Name = registrySecret }] };
        pods.AddJobPod(pod, """{"id":1,"token":"job-token-1"}""");
        pods.AddSecret(registrySecret);
        pods.AddSecret("someone-elses-secret");
        pods.RemoveSecret("secret-1");
        var batch = OrphanSelection.Find(await pods.ListPodsAsync("ci", PodMetadata.JobIdLabel, CancellationToken.None),
            new HashSet<string> { Self }, new HashSet<string> { "eu" });

        var outcome = Assert.Single(await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None));

        Assert.IsType<NotClaimed>(outcome);
        Assert.False(pods.HasPod("job-1"));
        Assert.False(pods.HasSecret(registrySecret));
        Assert.True(pods.HasSecret("someone-elses-secret"));
    }

    [Fact]
    public async Task A_failed_delete_of_a_pod_without_its_job_secret_leaves_it_orphaned_for_the_next_scan()
    {
        var (pods, batch) = await OrphansAsync(1);
        pods.RemoveSecret("secret-1");
        pods.DeleteFailures = 1;

        var first = await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        Assert.True(Assert.IsType<NotClaimed>(Assert.Single(first)).IsError);
        Assert.True(pods.HasPod("job-1"));
        Assert.Equal(Gone, pods.OwnerOf("job-1")); // not claimed: still an orphan, so the next scan finds it again
        var second = await Claimer(pods).ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);
        Assert.Contains("its pod was deleted", Assert.IsType<NotClaimed>(Assert.Single(second)).Why, StringComparison.Ordinal);
        Assert.False(pods.HasPod("job-1"));
        Assert.Equal(2, pods.DeleteCalls);
        Assert.Equal(0, pods.ClaimCalls);
    }

    [Fact]
    public async Task A_young_pod_without_its_job_secret_is_left_for_a_later_scan_and_deleted_once_past_the_grace()
    {
        // Its node may be alive but not yet a member here, its Secret's create retried after a 429: not deleted at once.
        var created = new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
        var clock = new SetClock(created + TimeSpan.FromSeconds(20));
        var pods = new InMemoryPods();
        var pod = OrphanSelectionTests.Pod("job-1", jobId: 1, secret: "secret-1", owner: Gone);
        pod.Metadata.CreationTimestamp = created.UtcDateTime;
        pods.AddJobPod(pod, """{"id":1,"token":"job-token-1"}""");
        pods.RemoveSecret("secret-1");
        var listed = await pods.ListPodsAsync("ci", PodMetadata.JobIdLabel, CancellationToken.None);
        var batch = OrphanSelection.Find(listed, new HashSet<string> { Self }, new HashSet<string> { "eu" });
        var claimer = new OrphanClaimer(new Dictionary<string, RunnerEntry> { ["eu"] = Runner }, pods, Self, clock);

        var young = await claimer.ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        var left = Assert.IsType<NotClaimed>(Assert.Single(young));
        Assert.False(left.IsError);
        Assert.Contains("left for a later scan", left.Why, StringComparison.Ordinal);
        Assert.True(pods.HasPod("job-1"));
        Assert.Equal(Gone, pods.OwnerOf("job-1"));
        Assert.Equal((0, 0), (pods.DeleteCalls, pods.ClaimCalls));

        // Just past the grace, at a later scan: its node is gone for good, the pod would wait for its mount for ever.
        clock.Now = created + OrphanClaimer.MissingSecretGrace + TimeSpan.FromSeconds(1);
        var old = await claimer.ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        Assert.Contains("its pod was deleted", Assert.IsType<NotClaimed>(Assert.Single(old)).Why, StringComparison.Ordinal);
        Assert.False(pods.HasPod("job-1"));
        Assert.Equal((1, 0), (pods.DeleteCalls, pods.ClaimCalls));
    }

    [Fact]
    public async Task A_young_pod_whose_job_secret_exists_is_claimed_at_once()
    {
        // The grace is only for the missing Secret: a dead node's complete job is adopted without waiting.
        var created = new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
        var pods = new InMemoryPods();
        var pod = OrphanSelectionTests.Pod("job-1", jobId: 1, secret: "secret-1", owner: Gone);
        pod.Metadata.CreationTimestamp = created.UtcDateTime;
        pods.AddJobPod(pod, """{"id":1,"token":"job-token-1"}""");
        var listed = await pods.ListPodsAsync("ci", PodMetadata.JobIdLabel, CancellationToken.None);
        var batch = OrphanSelection.Find(listed, new HashSet<string> { Self }, new HashSet<string> { "eu" });
        var claimer = new OrphanClaimer(new Dictionary<string, RunnerEntry> { ["eu"] = Runner }, pods, Self,
            new SetClock(created + TimeSpan.FromSeconds(1)));

        var outcomes = await claimer.ClaimAllAsync(batch, new HashSet<string> { Self }, CancellationToken.None);

        Assert.Equal(1L, Assert.IsType<Claimed>(Assert.Single(outcomes)).Job.Id);
        Assert.Equal(Self, pods.OwnerOf("job-1"));
    }

    private sealed class SetClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
