using Scheduler.Actors.Execution;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Execution;

public sealed class ScriptedJobPlannerTests
{
    private static readonly HelperInvocation Helper = new(["/opt/scheduler"]);

    private static JobPayload JobWithScripts() => TestData.Job() with
    {
        Steps =
        [
            new JobStep { Name = "script", Script = ["make test"], When = "on_success" },
            new JobStep { Name = "after_script", Script = ["make clean"], When = "always" },
        ],
    };

    [Fact]
    public void Plans_the_stages_of_JobScripts_with_the_argv_of_StageCommands_and_the_scripts_in_the_job_secret()
    {
        var job = JobWithScripts();
        var runner = TestData.Runner();

        var result = new ScriptedJobPlanner(TestData.Identity, Helper).Plan(runner, job, 0, () => TestData.Suffix);

        Assert.Null(result.Refusal);
        var plan = result.Plan!;
        var scripts = JobScripts.Build(job, runner, 0, TestData.Identity, ScriptOptions.For(runner, Helper));
        Assert.Equal(scripts.Stages.Select(s => (s.Name, s.Container, s.IgnoreFailure)),
            plan.Stages.Select(s => (s.Name, s.Container, s.IgnoreFailure)));
        foreach (var (planned, stage) in plan.Stages.Zip(scripts.Stages))
        {
            Assert.Equal(StageCommands.Run(stage), planned.Run);
            Assert.Equal(StageCommands.Kill(stage), planned.Kill);
            Assert.Equal(stage.Timeout, planned.Timeout);
            Assert.True(plan.Pod.JobSecret.StringData?.ContainsKey(stage.SecretKey) == true || plan.Pod.JobSecret.Data?.ContainsKey(stage.SecretKey) == true,
                $"the job Secret lacks {stage.SecretKey}");
        }

        Assert.Equal(StageCommands.ReadLog(Helper, 42, follow: true), plan.ReadLog(42, true));
        Assert.Equal(PodBuilder.HelperContainer, plan.LogContainer);
        Assert.Equal(scripts.Stages.Select(s => StageRunsWhenToCondition(s.When)), plan.Stages.Select(s => s.When));
        Assert.Contains(plan.Stages, s => s.Name == StageNames.StepScript);
    }

    [Fact]
    public void A_job_the_pod_builder_refuses_is_refused_with_its_reason()
    {
        var job = JobWithScripts() with { Variables = [TestData.Public(Overwrites.NamespaceVariable, "production")] };
        var runner = TestData.Runner(new Messages.Settings.KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" });

        var result = new ScriptedJobPlanner(TestData.Identity, Helper).Plan(runner, job, 0, () => TestData.Suffix);

        Assert.Null(result.Plan);
        Assert.Contains("production", result.Refusal);
    }

    private static StageCondition StageRunsWhenToCondition(StageRunsWhen when) => when switch
    {
        StageRunsWhen.OnSuccess => StageCondition.OnSuccess,
        StageRunsWhen.OnFailure => StageCondition.OnFailure,
        _ => StageCondition.Always,
    };
}
