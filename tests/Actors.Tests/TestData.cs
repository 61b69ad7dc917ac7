using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests;

/// <summary>Settings and jobs built in code, and helpers to build a plan from them.</summary>
internal static class TestData
{
    public const string RunnerToken = "abcdefgh1234";
    public const string JobToken = "glcbt-64_jobtoken-secret";
    public const string Suffix = "x1y2z3w4";

    public static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    public static RunnerEntry Runner(KubernetesSettings? kubernetes = null, string name = "k8s runner", string? buildsDir = null,
        IReadOnlyList<string>? environment = null) => new()
    {
        Name = name,
        Url = "https://gitlab.example.com",
        Token = RunnerToken,
        BuildsDir = buildsDir,
        Environment = environment ?? [],
        Kubernetes = kubernetes ?? new KubernetesSettings(),
    };

    public static JobVariable Public(string key, string value) => new() { Key = key, Value = value, Public = true };
    public static JobVariable Hidden(string key, string value) => new() { Key = key, Value = value, Public = false };
    public static JobVariable Masked(string key, string value) => new() { Key = key, Value = value, Public = false, Masked = true };

    public static JobPayload Job(IReadOnlyList<JobVariable>? variables = null, string? image = "alpine:3.20",
        IReadOnlyList<JobService>? services = null, long projectId = 42, int timeout = 3600,
        IReadOnlyList<JobCredential>? credentials = null) => new()
    {
        Id = 1234,
        Token = JobToken,
        JobInfo = new JobInfo { Id = 1234, Name = "unit", Stage = "test", PipelineId = 99, ProjectId = projectId, ProjectName = "proj", ProjectFullPath = "group/proj" },
        GitInfo = new GitInfo { Ref = "main", Sha = "0123456789abcdef", RepoUrl = $"https://gitlab-ci-token:{JobToken}@gitlab.example.com/group/proj.git" },
        RunnerInfo = new RunnerInfo { Timeout = timeout },
        Variables = variables ?? [],
        Image = image is null ? null : new JobImage { Name = image },
        Services = services ?? [],
        Credentials = credentials ?? [],
    };

    public static PodBuildResult Build(KubernetesSettings? kubernetes = null, JobPayload? job = null, RunnerEntry? runner = null,
        int concurrentId = 0) =>
        PodBuilder.Build(runner ?? Runner(kubernetes), job ?? Job(), concurrentId, Identity, () => Suffix);

    public static JobPodPlan Plan(KubernetesSettings? kubernetes = null, JobPayload? job = null, RunnerEntry? runner = null,
        int concurrentId = 0)
    {
        var result = Build(kubernetes, job, runner, concurrentId);
        Assert.True(result.Plan is not null, $"expected a plan, got the refusal: {result.Refusal}");
        return result.Plan;
    }

    public static string Refusal(KubernetesSettings? kubernetes = null, JobPayload? job = null, RunnerEntry? runner = null)
    {
        var result = Build(kubernetes, job, runner);
        Assert.Null(result.Plan);
        Assert.False(string.IsNullOrWhiteSpace(result.Refusal));
        return result.Refusal!;
    }

    /// <summary>The repository root: the folder holding Scheduler.sln.</summary>
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scheduler.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Scheduler.sln not found above " + AppContext.BaseDirectory);
    }
}
