using k8s;
using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

/// <summary><c>namespace_per_job</c> on the embedded cluster: the job's pod runs in <c>ci-job-&lt;job id&gt;</c>, made for the
/// job, and the namespace is gone afterwards.</summary>
[Collection(ClusterCollection.Name)]
public sealed class NamespacePerJobEndToEndTests(ClusterFixture cluster)
{
    private readonly JobHarness _harness = new(cluster);

    [Fact]
    public async Task A_job_runs_in_its_own_namespace_which_is_deleted_after_it()
    {
        using var client = new k8s.Kubernetes(cluster.Server.ClientConfiguration());
        using var stop = new CancellationTokenSource();
        Task<string?>? seen = null;

        var run = await _harness.RunAsync("""
            isolated:
              script: [echo in-its-own-namespace, sleep 2]
            """, "isolated", JobHarness.Config("namespace_per_job = true"),
            onStart: payload => seen = PodSeenInAsync(client, $"ci-job-{payload.Id}", stop.Token));
        await stop.CancelAsync();

        var ns = $"ci-job-{run.Job.Id}";
        Assert.True(run.Result.State == JobState.Success, $"{run.Result}\n{run.Trace}");
        Assert.Contains($"Using Kubernetes namespace: {ns}", run.Trace);
        Assert.Contains("in-its-own-namespace", run.Trace);
        Assert.NotNull(seen);
        Assert.StartsWith("runner-", await seen);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await client.CoreV1.ListNamespaceAsync()).Items.Any(n => n.Metadata.Name == ns) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.DoesNotContain(ns, (await client.CoreV1.ListNamespaceAsync()).Items.Select(n => n.Metadata.Name));
    }

    // The name of the first pod found in the namespace while the job runs, or null when none was seen.
    private static async Task<string?> PodSeenInAsync(k8s.Kubernetes client, string ns, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if ((await client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: ct)).Items.FirstOrDefault() is { } pod)
                {
                    return pod.Metadata.Name;
                }
            }
            catch (k8s.Autorest.HttpOperationException)
            {
                // the namespace is not there yet
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            try
            {
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
