using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>What the job Secret holds, which the job itself can read: each variable once, whatever the number of stages,
/// and none of the payload's secrets that are not the job's (registry passwords, dependency tokens).</summary>
public sealed class JobSecretContentsTests
{
    private static JobPayload ManyStages(JobPayload job) => job with
    {
        Steps = [new JobStep { Name = "script", Script = ["echo \"length ${#CI_COMMIT_MESSAGE}\""] }, new JobStep { Name = "after_script", Script = ["true"] }],
        Cache = [new JobCache { Key = "k", Paths = ["c"], When = "always" }],
        Artifacts = [new JobArtifact { Paths = ["a"], When = "always" }],
    };

    private static JobPodPlan Plan(JobPayload job)
    {
        var scripts = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));
        var result = PodBuilder.Build(TestData.Runner(), job, 0, TestData.Identity, scripts, () => TestData.Suffix);
        Assert.True(result.Plan is not null, $"expected a plan, got the refusal: {result.Refusal}");
        return result.Plan;
    }

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    [Fact]
    public void A_170_KB_public_variable_is_stored_once_for_all_stages()
    {
        var message = string.Concat(Enumerable.Range(0, 170 * 1024 / 32).Select(i => $"line {i:D5} of a long commit message\n"[..32]));
        var job = ManyStages(TestData.Job(variables: [TestData.Public("CI_COMMIT_MESSAGE", message)]));

        var plan = Plan(job);

        var data = plan.JobSecret.Data;
        var scripts = data.Where(entry => entry.Key.EndsWith(".sh", StringComparison.Ordinal)).Select(entry => Encoding.UTF8.GetString(entry.Value)).ToList();
        Assert.True(scripts.Count >= 9, $"expected a script per stage and the variables script, got {scripts.Count}");
        Assert.Equal(1, scripts.Sum(script => Occurrences(script, message)));
        Assert.Equal(1, Occurrences(Encoding.UTF8.GetString(data[JobSecretLayout.VariablesScriptKey]), message));
        // One copy in the variables script, one in the payload another node adopts the job from; the rest is small.
        var total = data.Sum(entry => entry.Key.Length + (long)entry.Value.Length);
        Assert.InRange(total, 2 * message.Length, 2 * message.Length + 64 * 1024);
    }

    [Fact]
    public void The_stages_see_the_large_variable_from_the_shared_script()
    {
        // Under 128 KiB: Linux refuses to exec a program with one environment string over that (E2BIG), in any runner.
        var message = new string('m', 120 * 1024);
        using var pod = new Scripts.PodSandbox(ManyStages(TestData.Job(variables: [TestData.Public("CI_COMMIT_MESSAGE", message)])));

        var (code, output) = pod.RunStage("step_script");

        Assert.True(code == 0, output);
        Assert.Contains($"length {message.Length}\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_job_secret_holds_no_registry_password_and_no_dependency_token()
    {
        var job = TestData.Job(credentials: [new JobCredential { Type = "registry", Url = "registry.example.com", Username = "deploy", Password = "registry-pass-0002" }])
            with
            {
                Dependencies = [new JobDependency { Id = 7, Name = "build", Token = "dependency-token-0003", ArtifactsFile = new ArtifactsFile { Filename = "a.zip" } }],
            };

        var plan = Plan(job);

        foreach (var (key, value) in plan.JobSecret.Data)
        {
            var text = Encoding.UTF8.GetString(value);
            Assert.False(text.Contains("registry-pass-0002", StringComparison.Ordinal), $"{key} holds the registry password");
            Assert.False(text.Contains("dependency-token-0003", StringComparison.Ordinal), $"{key} holds a dependency token");
        }

        // The pull secret still has it (the kubelet needs it; it is not mounted), and the payload still adopts the job.
        Assert.Contains("registry-pass-0002", Encoding.UTF8.GetString(plan.RegistrySecret!.Data[".dockerconfigjson"]), StringComparison.Ordinal);
        var stored = JobPayloadParser.Parse(Encoding.UTF8.GetString(plan.JobSecret.Data[JobSecretLayout.PayloadKey])).Payload!;
        Assert.Equal((job.Id, job.Token, 7L, "a.zip"), (stored.Id, stored.Token, stored.Dependencies[0].Id, stored.Dependencies[0].ArtifactsFile!.Filename));
        Assert.Empty(stored.Credentials);
    }
}
