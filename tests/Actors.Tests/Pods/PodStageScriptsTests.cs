using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodStageScriptsTests
{
    private static JobScriptPlan Scripts(JobPayload job) =>
        JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));

    private static JobPayload Job() => TestData.Job() with
    {
        Steps = [new JobStep { Name = "script", Script = ["make"] }, new JobStep { Name = "after_script", Script = ["echo bye"] }],
    };

    [Fact]
    public void Stage_scripts_go_into_the_job_Secret()
    {
        var job = Job();
        var scripts = Scripts(job);
        var plan = PodBuilder.Build(TestData.Runner(), job, 0, TestData.Identity, scripts, () => TestData.Suffix).Plan!;
        foreach (var stage in scripts.Stages)
        {
            Assert.Equal(stage.Script, Encoding.UTF8.GetString(plan.JobSecret.Data[$"stage.{stage.Name}.sh"]));
        }

        Assert.Equal(["after_script", "get_sources", "step_script"],
            plan.JobSecret.Data.Keys.Where(k => k.StartsWith("stage.", StringComparison.Ordinal)).Select(k => k[6..^3]).Order());
        Assert.Equal(TestData.JobToken, Encoding.UTF8.GetString(plan.JobSecret.Data[JobSecretLayout.TokenKey]));
    }

    [Theory]
    [InlineData("build")]
    [InlineData("helper")]
    public void Build_and_helper_share_the_run_directory(string container)
    {
        var job = Job();
        var pod = PodBuilder.Build(TestData.Runner(), job, 0, TestData.Identity, Scripts(job), () => TestData.Suffix).Plan!.Pod;
        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == StageCommands.RunVolumeName);
        Assert.NotNull(volume.EmptyDir);
        var mount = Assert.Single(pod.Spec.Containers.Single(c => c.Name == container).VolumeMounts, m => m.Name == StageCommands.RunVolumeName);
        Assert.Equal((StageCommands.RunDir, (bool?)null), (mount.MountPath, mount.ReadOnlyProperty));
    }

    [Fact]
    public void Without_scripts_the_pod_is_as_before()
    {
        var plan = TestData.Plan(job: Job());
        Assert.DoesNotContain(plan.Pod.Spec.Volumes, v => v.Name == StageCommands.RunVolumeName);
        Assert.DoesNotContain(plan.JobSecret.Data.Keys, k => k.StartsWith("stage.", StringComparison.Ordinal));
    }

    [Fact]
    public void Scripts_count_towards_the_Secrets_size_limit()
    {
        var job = Job();
        var huge = new JobScriptPlan([new StagePlan("step_script", "build", StageRunsWhen.OnSuccess, new string('x', 1024 * 1024))], []);
        var result = PodBuilder.Build(TestData.Runner(), job, 0, TestData.Identity, huge, () => TestData.Suffix);
        Assert.Contains("1 MiB", result.Refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("step_script", "step_script")]
    [InlineData("Bad Name", "x")]
    public void Stage_names_must_be_unique_file_names(string first, string second)
    {
        var scripts = new JobScriptPlan(
            [new StagePlan(first, "build", StageRunsWhen.OnSuccess, "true"), new StagePlan(second, "build", StageRunsWhen.OnSuccess, "true")], []);
        var result = PodBuilder.Build(TestData.Runner(), Job(), 0, TestData.Identity, scripts, () => TestData.Suffix);
        Assert.StartsWith("stage name", result.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_user_volume_cannot_take_the_run_volumes_name()
    {
        var settings = new KubernetesSettings { Volumes = new VolumesSettings { EmptyDirs = [new EmptyDirVolume(StageCommands.RunVolumeName, "/x", "")] } };
        Assert.Contains("reserved", TestData.Refusal(settings), StringComparison.Ordinal);
    }
}
