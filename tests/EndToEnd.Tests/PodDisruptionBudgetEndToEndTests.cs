using k8s;
using k8s.Models;
using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

/// <summary><c>pod_disruption_budget</c> on the embedded cluster: while the job runs its pod has a PodDisruptionBudget
/// (minAvailable 1, owned by the pod); after the job the budget is gone with the pod.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PodDisruptionBudgetEndToEndTests(ClusterFixture cluster)
{
    private readonly JobHarness _harness = new(cluster);

    [Fact]
    public async Task The_job_pod_has_its_budget_while_it_runs_and_none_after()
    {
        using var client = new k8s.Kubernetes(cluster.Server.ClientConfiguration());
        using var stop = new CancellationTokenSource();
        Task<V1PodDisruptionBudget?>? seen = null;

        var run = await _harness.RunAsync("""
            protected:
              script: [echo protected-from-drains, sleep 2]
            """, "protected", JobHarness.Config("pod_disruption_budget = true"),
            onStart: payload => seen = BudgetSeenAsync(client, payload.Id, stop.Token));
        await stop.CancelAsync();

        Assert.True(run.Result.State == JobState.Success, $"{run.Result}\n{run.Trace}");
        Assert.DoesNotContain("PodDisruptionBudget", run.Trace); // no warning: it was made
        Assert.NotNull(seen);
        var budget = await seen;
        Assert.NotNull(budget);
        Assert.EndsWith("-pdb", budget.Metadata.Name);
        Assert.Equal("1", budget.Spec.MinAvailable?.Value);
        var owner = Assert.Single(budget.Metadata.OwnerReferences);
        Assert.Equal(("Pod", budget.Metadata.Name[..^"-pdb".Length]), (owner.Kind, owner.Name));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await BudgetOfAsync(client, run.Job.Id, CancellationToken.None) is not null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.Null(await BudgetOfAsync(client, run.Job.Id, CancellationToken.None));
    }

    private static async Task<V1PodDisruptionBudget?> BudgetOfAsync(k8s.Kubernetes client, long jobId, CancellationToken ct) =>
        (await client.PolicyV1.ListPodDisruptionBudgetForAllNamespacesAsync(cancellationToken: ct)).Items
        .FirstOrDefault(b => b.Spec?.Selector?.MatchLabels?.TryGetValue("scheduler/job-id", out var id) == true && id == jobId.ToString());

    // The job's budget as first seen while the job runs, or null when none was seen.
    private static async Task<V1PodDisruptionBudget?> BudgetSeenAsync(k8s.Kubernetes client, long jobId, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await BudgetOfAsync(client, jobId, ct) is { } budget)
                {
                    return budget;
                }

                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        return null;
    }
}
