using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>container_lifecycle hooks of config.toml run on the embedded cluster: the postStart hook has run in each of the
/// job's containers before the first stage is exec'd into the pod.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class ContainerLifecycleRunTests(RunClusterFixture cluster) : RunHostTest(cluster)
{
    [Fact]
    public async Task A_post_start_hook_has_run_before_the_job_script()
    {
        var token = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(token, Job("cat /builds/post-start"));
        var entry = Entry("r1", token);
        var hook = new LifecycleHandlerSettings(["sh", "-c", "echo post-start-ran >> /builds/post-start"], null, null);
        StartHost(Settings(1, entry with
        {
            Kubernetes = entry.Kubernetes with { ContainerLifecycle = new ContainerLifecycleSettings(hook, null) },
        }));

        await WaitFinishedAsync(job);

        AssertFinal(job, "success");
        // Once per container of the pod (build and helper), each before the pod was reported running.
        Assert.Equal(2, job.TraceText().Split("post-start-ran").Length - 1);
        await AssertNoPodLeftAsync();
    }
}
