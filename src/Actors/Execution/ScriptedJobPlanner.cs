using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>The production planner: the stage scripts of <see cref="JobScripts"/>, the pod of <see cref="PodBuilder"/>
/// with those scripts in its job Secret, and the exec argv of <see cref="StageCommands"/>. <paramref name="cacheUrls"/> signs
/// the distributed cache's URLs (null: caches stay in the pod).</summary>
public sealed class ScriptedJobPlanner(RunnerIdentity identity, HelperInvocation helper, ICacheUrlSource? cacheUrls = null) : IJobPlanner
{
    public JobPlanResult Plan(RunnerEntry runner, JobPayload job, int concurrentId, Func<string> podNameSuffix)
    {
        job = JobScripts.WithServerCa(job, runner);
        JobScriptPlan scripts;
        try
        {
            scripts = JobScripts.Build(job, runner, concurrentId, identity, ScriptOptions.For(runner, helper) with { CacheUrls = cacheUrls });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            return new JobPlanResult(null, $"the job's scripts cannot be generated: {e.Message}");
        }

        var pod = PodBuilder.Build(runner, job, concurrentId, identity, scripts, podNameSuffix);
        if (pod.Plan is null)
        {
            return new JobPlanResult(null, pod.Refusal);
        }

        var stages = scripts.Stages.Select(stage => new PlannedStage(
            stage.Name,
            stage.Container,
            stage.When switch
            {
                StageRunsWhen.OnSuccess => StageCondition.OnSuccess,
                StageRunsWhen.OnFailure => StageCondition.OnFailure,
                _ => StageCondition.Always,
            },
            StageCommands.Run(stage),
            StageCommands.Kill(stage),
            stage.IgnoreFailure,
            stage.Timeout)).ToList();

        var invocation = helper;
        return new JobPlanResult(new JobExecutionPlan(pod.Plan, stages, scripts.ArtifactArchives, PodBuilder.HelperContainer,
            (offset, follow) => StageCommands.ReadLog(invocation, offset, follow), StageCommands.ReadFile, StageCommands.MarkCanceled()), null);
    }
}
