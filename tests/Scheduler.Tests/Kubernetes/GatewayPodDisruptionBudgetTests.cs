using k8s;
using k8s.Autorest;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary><c>pod_disruption_budget</c>'s gateway call against the embedded cluster's policy/v1 API: created once (a retry
/// after a lost answer is success), found by kubectl's discovery, and garbage-collected with its owner pod.</summary>
public sealed class GatewayPodDisruptionBudgetTests : EmbeddedGatewayTestBase
{
    private static V1Pod JobPod(string name) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name, NamespaceProperty = "default",
            Labels = new Dictionary<string, string> { [PodMetadata.JobIdLabel] = "42" },
        },
        Spec = new V1PodSpec
        {
            Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "sleep 600"] }],
        },
    };

    [Fact]
    public async Task The_budget_is_created_once_and_deleted_with_its_pod()
    {
        var pod = await Gateway.CreatePodAsync(JobPod("runner-42"), CancellationToken.None);
        var budget = PodDisruptionBudgets.For(pod);

        await Gateway.CreatePodDisruptionBudgetAsync(budget, CancellationToken.None);
        await Gateway.CreatePodDisruptionBudgetAsync(budget, CancellationToken.None); // a retry after a lost answer

        var stored = await Client.PolicyV1.ReadNamespacedPodDisruptionBudgetAsync("runner-42-pdb", "default");
        Assert.Equal("policy/v1", stored.ApiVersion);
        Assert.Equal(pod.Metadata.Uid, Assert.Single(stored.Metadata.OwnerReferences).Uid);
        Assert.Equal("1", stored.Spec.MinAvailable?.Value);
        Assert.Equal("42", stored.Spec.Selector.MatchLabels[PodMetadata.JobIdLabel]);
        var listed = await Client.PolicyV1.ListNamespacedPodDisruptionBudgetAsync("default");
        Assert.Equal(["runner-42-pdb"], listed.Items.Select(b => b.Metadata.Name));

        await Gateway.DeletePodAsync("default", "runner-42", 0, CancellationToken.None);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((await Client.PolicyV1.ListNamespacedPodDisruptionBudgetAsync("default", cancellationToken: timeout.Token)).Items.Count > 0)
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    [Fact]
    public async Task The_policy_group_is_discovered_and_a_budget_with_both_bounds_is_refused()
    {
        var groups = await Client.Apis.GetAPIVersionsAsync();
        var policy = Assert.Single(groups.Groups, g => g.Name == "policy");
        Assert.Equal("policy/v1", policy.PreferredVersion.GroupVersion);
        var resources = await Client.PolicyV1.GetAPIResourcesAsync();
        Assert.Contains(resources.Resources, r => r.Name == "poddisruptionbudgets" && r.Kind == "PodDisruptionBudget");

        var invalid = new V1PodDisruptionBudget
        {
            Metadata = new V1ObjectMeta { Name = "both", NamespaceProperty = "default" },
            Spec = new V1PodDisruptionBudgetSpec { MinAvailable = 1, MaxUnavailable = 1, Selector = new V1LabelSelector() },
        };
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => Gateway.CreatePodDisruptionBudgetAsync(invalid, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
        Assert.Contains("minAvailable and maxUnavailable cannot be both set", refused.Response.Content);
    }
}
