using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>The PodDisruptionBudget of <c>pod_disruption_budget</c> (GitLab Runner's shape: <c>&lt;pod&gt;-pdb</c>,
/// minAvailable 1, the pod's own label as selector, the pod as owner) and how <c>render-pod</c> shows it.</summary>
public sealed class PodDisruptionBudgetsTests
{
    private static JobPodPlan ExamplePlan()
    {
        var job = JobPayloadParser.Parse(File.ReadAllText(Path.Combine(TestData.RepositoryRoot(), "examples", "job.json"))).Payload!;
        return TestData.Plan(new KubernetesSettings { Namespace = "ci" }, job);
    }

    [Fact]
    public void The_budget_selects_only_its_job_s_pod_and_is_owned_by_it()
    {
        var plan = ExamplePlan();
        var created = new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = plan.PodName, NamespaceProperty = "ci", Uid = "uid-7", Labels = plan.Pod.Metadata.Labels,
            },
        };

        var budget = PodDisruptionBudgets.For(created);

        Assert.Equal(("policy/v1", "PodDisruptionBudget"), (budget.ApiVersion, budget.Kind));
        Assert.Equal((plan.PodName + "-pdb", "ci"), (budget.Metadata.Name, budget.Metadata.NamespaceProperty));
        Assert.Equal("uid-7", Assert.Single(budget.Metadata.OwnerReferences).Uid);
        Assert.Equal("1", budget.Spec.MinAvailable?.Value);
        var selector = Assert.Single(budget.Spec.Selector.MatchLabels);
        Assert.Equal(PodMetadata.JobIdLabel, selector.Key);
        Assert.Equal(plan.Pod.Metadata.Labels[PodMetadata.JobIdLabel], selector.Value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void A_pod_without_its_job_label_gets_no_budget_that_would_select_other_pods(string? jobId)
    {
        var labels = jobId is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [PodMetadata.JobIdLabel] = jobId };
        var pod = new V1Pod { Metadata = new V1ObjectMeta { Name = "p", Uid = "u", Labels = labels } };

        Assert.Throws<ArgumentException>(() => PodDisruptionBudgets.For(pod));
    }

    [Theory]
    [InlineData(false, new[] { "Pod", "Secret", "Secret" })]
    [InlineData(true, new[] { "Pod", "Secret", "Secret", "PodDisruptionBudget" })]
    public void Render_pod_shows_the_budget_last_when_the_key_is_set(bool budget, string[] kinds)
    {
        var plan = ExamplePlan();

        using var document = JsonDocument.Parse(PodPlanRendering.Render(plan, RenderFormat.Json, budget));

        var items = document.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(kinds, items.Select(i => i.GetProperty("kind").GetString()));
        if (budget)
        {
            var owner = Assert.Single(items[^1].GetProperty("metadata").GetProperty("ownerReferences").EnumerateArray());
            Assert.Equal(PodPlanRendering.PodUidPlaceholder, owner.GetProperty("uid").GetString());
            Assert.Equal("policy/v1", items[^1].GetProperty("apiVersion").GetString());
        }
    }
}
