using Scheduler.Actors.Execution;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>What a running job keeps of its plan once the pod runs: everything the later phases use, without the pod's
/// spec and the Secrets' data.</summary>
public sealed class JobExecutionPlanTests
{
    [Fact]
    public void Without_pod_content_keeps_names_stages_and_commands_and_drops_the_spec_and_the_secrets_data()
    {
        var plan = new FakePlanner(FakePlanner.StandardStages).Plan(TestData.Runner(), TestData.Job(), 0, () => "abcd1234").Plan!;
        Assert.NotNull(plan.Pod.Pod.Spec);
        Assert.NotEmpty(plan.Pod.JobSecret.Data);

        var kept = plan.WithoutPodContent();

        Assert.Equal((plan.Pod.PodName, plan.Pod.Namespace), (kept.Pod.PodName, kept.Pod.Namespace));
        Assert.Equal(plan.Pod.Pod.Metadata.Labels, kept.Pod.Pod.Metadata.Labels);
        Assert.Equal(plan.Pod.Pod.Metadata.Annotations, kept.Pod.Pod.Metadata.Annotations);
        Assert.Equal(plan.Pod.Secrets.Select(s => s.Metadata.Name), kept.Pod.Secrets.Select(s => s.Metadata.Name));
        Assert.Equal(plan.Stages, kept.Stages);
        Assert.Equal(plan.LogContainer, kept.LogContainer);
        Assert.Equal(plan.ReadLog(7, true), kept.ReadLog(7, true));
        Assert.Equal(plan.Pod.Overwrites, kept.Pod.Overwrites);
        Assert.Null(kept.Pod.Pod.Spec);
        Assert.All(kept.Pod.Secrets, s => Assert.Null(s.Data));
        // The original plan is untouched: a PodActor still holding it sees it whole.
        Assert.NotNull(plan.Pod.Pod.Spec);
        Assert.NotEmpty(plan.Pod.JobSecret.Data);
    }
}
