using Scheduler.Actors.Pods;
using Scheduler.Config;
using Scheduler.LocalCluster.Validation;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary>The objects render-pod prints for the shipped examples pass the API server's create validation (as the
/// embedded cluster implements it): names, labels, volumes, mounts, tolerations, containers, Secrets.</summary>
public sealed class RenderPodSchemaTests
{
    [Theory]
    [InlineData("config.toml")]
    [InlineData("config-current.toml")]
    public void Rendered_objects_pass_create_validation(string config)
    {
        var settings = ConfigLoader.LoadFile(RepositoryPaths.Example(config), new Dictionary<string, string>()).Settings!;
        var job = JobPayloadParser.Parse(File.ReadAllText(RepositoryPaths.Example("job.json"))).Payload!;

        var result = PodBuilder.Build(settings.Runners[0], job, 3, RunnerIdentity.Current(), () => "a1b2c3d4");

        Assert.True(result.Plan is not null, result.Refusal);
        Assert.Empty(PodValidation.ValidateCreate(result.Plan.Pod).Select(e => e.ToString()));
        Assert.All(result.Plan.Secrets, secret => Assert.Empty(ConfigValidation.ValidateSecret(secret).Select(e => e.ToString())));
    }

    [Fact]
    public void A_runner_name_and_volume_names_outside_the_allowed_set_still_give_valid_names()
    {
        var settings = ConfigLoader.LoadText("""
            [[runners]]
            name = "Ünïcode Runner (eu) #1"
            url = "https://gitlab.example.com"
            token = "GLRT_Ab.C"
            [runners.kubernetes]
            image = "alpine"
            [[runners.kubernetes.volumes.empty_dir]]
            name = "_Cache.Dir_"
            mount_path = "/cache"
            """, "config.toml").Settings!;
        var job = JobPayloadParser.Parse(File.ReadAllText(RepositoryPaths.Example("job.json"))).Payload!;

        var plan = PodBuilder.Build(settings.Runners[0], job, 0, RunnerIdentity.Current(), () => "a1b2c3d4").Plan!;

        // The first 8 token characters, "GLRT_Ab.", with the characters outside [a-z0-9-] dropped.
        Assert.Equal("runner-glrtab-project-4-concurrent-0-a1b2c3d4", plan.PodName);
        Assert.Contains(plan.Pod.Spec.Volumes, v => v.Name == "cachedir");
        Assert.Empty(PodValidation.ValidateCreate(plan.Pod).Select(e => e.ToString()));
    }
}
