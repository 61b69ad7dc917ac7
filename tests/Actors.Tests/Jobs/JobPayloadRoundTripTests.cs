using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Jobs;

/// <summary>The payload written into the job Secret reads back as the same job (another node adopts it from there).</summary>
public sealed class JobPayloadRoundTripTests
{
    private static JobPayload ParseOk(string json)
    {
        var result = JobPayloadParser.Parse(json);
        Assert.True(result.IsSuccess, result.Error);
        return result.Payload!;
    }

    private static void AssertSameJob(JobPayload expected, JobPayload actual)
    {
        Assert.Equivalent(expected, actual, strict: true);
        Assert.Equal(JobPayloadParser.ToJson(expected), JobPayloadParser.ToJson(actual));
    }

    [Fact]
    public void GitLabs_example_payload_round_trips()
    {
        var original = ParseOk(File.ReadAllText(Path.Combine(TestData.RepositoryRoot(), "examples", "job.json")));

        var again = ParseOk(JobPayloadParser.ToJson(original));

        AssertSameJob(original, again);
        Assert.NotEmpty(again.Variables);
    }

    [Fact]
    public void A_payload_built_in_code_round_trips_with_absent_optional_values_still_absent()
    {
        var job = TestData.Job([TestData.Masked("SECRET", "s3cr3t-value"), TestData.Public("A", "b c $D")], image: null) with
        {
            RunnerInfo = new RunnerInfo { Timeout = 600 },
            Steps = [new JobStep { Name = "script", Script = ["echo hi", "exit 0"], Timeout = 600, When = "on_success" }],
            Services = [new JobService { Name = "postgres:16", Alias = null, Command = ["postgres", "-c", "fsync=off"] }],
            Artifacts = [new JobArtifact { Name = "out", Paths = ["out/"], When = "always", Type = "junit", Format = "gzip" }],
            Cache = [new JobCache { Key = "k", Paths = ["vendor/"], Policy = "pull" }],
            Dependencies = [new JobDependency { Id = 3, Name = "build", Token = "dep-token", ArtifactsFile = null }],
            Credentials = [new JobCredential { Type = "registry", Url = "registry.example.com", Username = "u", Password = "p" }],
        };

        var again = ParseOk(JobPayloadParser.ToJson(job));

        AssertSameJob(job, again);
        Assert.Null(again.Image);
        Assert.Null(again.Services[0].Alias);
        Assert.Null(again.Dependencies[0].ArtifactsFile);
        Assert.Equal(600, again.RunnerInfo.EffectiveTimeoutSeconds);
    }

    [Fact]
    public void The_job_secret_holds_the_payload_and_it_parses_back_to_the_job()
    {
        var job = TestData.Job([TestData.Masked("SECRET", "s3cr3t-value"), TestData.Public("A", "b")]);
        var plan = TestData.Plan(job: job);

        var json = Encoding.UTF8.GetString(plan.JobSecret.Data[JobSecretLayout.PayloadKey]);

        AssertSameJob(job, ParseOk(json));
    }

    [Fact]
    public void The_payload_is_in_the_secret_only_never_in_the_pod()
    {
        var plan = TestData.Plan(job: TestData.Job([TestData.Masked("SECRET", "s3cr3t-value")]));

        var pod = k8s.KubernetesJson.Serialize(plan.Pod);

        Assert.DoesNotContain("s3cr3t-value", pod);
        Assert.DoesNotContain(TestData.JobToken, pod);
        Assert.DoesNotContain(JobSecretLayout.PayloadKey, pod);
    }
}
