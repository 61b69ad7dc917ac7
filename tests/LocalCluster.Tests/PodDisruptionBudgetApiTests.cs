using k8s;
using k8s.Models;
using Xunit.Abstractions;

namespace Scheduler.LocalCluster.Tests;

/// <summary>policy/v1 PodDisruptionBudgets on the embedded cluster: served under /apis/policy/v1 (kubectl finds them by
/// discovery), and garbage-collected with the pod that owns them, like the job's Secrets.</summary>
public sealed class PodDisruptionBudgetApiTests(ITestOutputHelper output)
{
    private const string BudgetYaml = """
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: web-pdb
        spec:
          minAvailable: 1
          selector:
            matchLabels:
              app: web
        """;

    [Fact]
    public async Task Kubectl_applies_gets_and_deletes_a_budget()
    {
        var kubectl = Kubectl.Find();
        if (kubectl is null)
        {
            output.WriteLine("kubectl is not on PATH; nothing to drive");
            return;
        }

        await using var cluster = await TestCluster.StartAsync();
        var config = cluster.Server.KubeconfigPath;

        var apply = await Kubectl.RunAsync(kubectl, config, BudgetYaml, "apply", "-f", "-");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        var get = await Kubectl.RunAsync(kubectl, config, null, "get", "pdb", "web-pdb", "-o", "jsonpath={.spec.minAvailable}");
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Equal("1", get.Stdout.Trim());
        var delete = await Kubectl.RunAsync(kubectl, config, null, "delete", "poddisruptionbudget", "web-pdb");
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Empty((await cluster.Client.PolicyV1.ListNamespacedPodDisruptionBudgetAsync("default")).Items);
    }

    [Fact]
    public async Task A_budget_owned_by_a_pod_goes_with_the_pod_and_a_foreign_apiVersion_is_refused()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = await cluster.Client.CoreV1.CreateNamespacedPodAsync(TestObjects.Pod("job"), "default");
        var owned = new V1PodDisruptionBudget
        {
            Metadata = new V1ObjectMeta
            {
                Name = "job-pdb",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "job", Uid = pod.Metadata.Uid }],
            },
            Spec = new V1PodDisruptionBudgetSpec { MinAvailable = 1, Selector = new V1LabelSelector() },
        };
        await cluster.Client.PolicyV1.CreateNamespacedPodDisruptionBudgetAsync(owned, "default");
        await cluster.Client.PolicyV1.CreateNamespacedPodDisruptionBudgetAsync(
            new V1PodDisruptionBudget { Metadata = new V1ObjectMeta { Name = "unowned" }, Spec = new V1PodDisruptionBudgetSpec { MaxUnavailable = 0 } },
            "default");

        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("job", "default", gracePeriodSeconds: 0);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while ((await cluster.Client.PolicyV1.ListNamespacedPodDisruptionBudgetAsync("default", cancellationToken: timeout.Token)).Items
               .Any(b => b.Metadata.Name == "job-pdb"))
        {
            await Task.Delay(50, timeout.Token);
        }

        var left = await cluster.Client.PolicyV1.ListNamespacedPodDisruptionBudgetAsync("default");
        Assert.Equal(["unowned"], left.Items.Select(b => b.Metadata.Name));

        // A v1 object sent to the policy/v1 path is not taken for a budget.
        var wrong = new V1PodDisruptionBudget { ApiVersion = "v1", Kind = "PodDisruptionBudget", Metadata = new V1ObjectMeta { Name = "wrong" } };
        var refused = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() =>
            cluster.Client.PolicyV1.CreateNamespacedPodDisruptionBudgetAsync(wrong, "default"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.Response.StatusCode);
    }
}
