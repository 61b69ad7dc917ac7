using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Jobs;

/// <summary><c>image:kubernetes:user</c> and <c>services[].kubernetes.user</c>: parsed as GitLab Runner does, limited by
/// <c>allowed_users</c>/<c>allowed_groups</c>, the administrator's security contexts winning, the helper never taking it.</summary>
public sealed class JobUserTests
{
    private static JobPayload Job(string user, IReadOnlyList<JobVariable>? variables = null, IReadOnlyList<JobService>? services = null) =>
        TestData.Job(variables: variables, services: services) with
        {
            Image = new JobImage
            {
                Name = "alpine:3.20",
                ExecutorOpts = new JobExecutorOptions { Kubernetes = new JobKubernetesOptions { User = user } },
            },
        };

    private static k8s.Models.V1Container Container(JobPodPlan plan, string name) => plan.Pod.Spec.Containers.Single(c => c.Name == name);

    public static TheoryData<string, long?, long?, string?> Parsing => new()
    {
        // value, runAsUser, runAsGroup, warning part
        { "", null, null, null },
        { "1001", 1001, null, null },
        { "1001:2002", 1001, 2002, null },
        { "0", 0, null, null },
        { "0:0", 0, 0, null },
        { "2147483647", 2147483647, null, null },
        { "root", null, null, "failed to parse UID \"root\"" },
        { "1001:wheel", null, null, "failed to parse GID \"wheel\"" },
        { "-1", null, null, "failed to parse UID \"-1\"" },
        { "2147483648", null, null, "failed to parse UID \"2147483648\"" },
        { "1001:", null, null, "failed to parse GID \"\"" },
        { " 1001", null, null, "failed to parse UID \" 1001\"" },
        { "$UID_VAR", 1500, null, null },
    };

    [Theory]
    [MemberData(nameof(Parsing))]
    public void The_user_is_uid_or_uid_colon_gid(string user, long? uid, long? gid, string? warning)
    {
        var job = Job(user, [TestData.Public("UID_VAR", "1500")]);

        var build = Container(TestData.Plan(new KubernetesSettings(), job), "build");

        Assert.Equal(uid, build.SecurityContext.RunAsUser);
        Assert.Equal(gid, build.SecurityContext.RunAsGroup);
        var warnings = JobUser.Warnings(job, new KubernetesSettings());
        if (warning is null)
        {
            Assert.Empty(warnings);
        }
        else
        {
            Assert.StartsWith(JobUser.ParseWarning, Assert.Single(warnings), StringComparison.Ordinal);
            Assert.Contains(warning, warnings[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_payload_takes_the_user_as_a_string_or_an_integer()
    {
        var parsed = JobPayloadParser.Parse("""
            {"id": 7, "token": "t", "image": {"name": "alpine", "executor_opts": {"kubernetes": {"user": 1001}, "docker": {"user": "1002:1003"}}},
             "services": [{"name": "redis", "executor_opts": {"kubernetes": {"user": "1004:1005"}}}, {"name": "pg", "executor_opts": null}]}
            """);

        var job = Assert.IsType<JobPayload>(parsed.Payload);
        Assert.Equal("1001", job.Image!.ExecutorOpts.Kubernetes.User);
        Assert.Equal("1002:1003", job.Image.ExecutorOpts.Docker.User);
        Assert.Equal("1004:1005", job.Services[0].ExecutorOpts.Kubernetes.User);
        Assert.Equal("", job.Services[1].ExecutorOpts.Kubernetes.User);
    }

    [Theory]
    [InlineData("{\"x\": 1}")]
    [InlineData("[1001]")]
    [InlineData("true")]
    [InlineData("1e30")]
    [InlineData("1001.5")]
    public void A_user_of_another_type_is_a_parse_error_not_a_crash(string user)
    {
        var parsed = JobPayloadParser.Parse(
            """{"id": 7, "token": "t", "image": {"name": "alpine", "executor_opts": {"kubernetes": {"user": """ + user + "}}}}");

        Assert.Null(parsed.Payload);
        Assert.Contains("expected a string or an integer", parsed.Error, StringComparison.Ordinal);
    }

    public static TheoryData<string[], string[], string, string?> AllowLists => new()
    {
        // allowed_users, allowed_groups, user, refusal part (null: runs)
        { [], [], "0", null },
        { ["1000", "1001"], [], "1001", null },
        { ["1000", "1001"], [], "1002", "the image user 1002 is not allowed by allowed_users [1000, 1001]" },
        { ["1000"], [], "0", "the image user 0 is not allowed by allowed_users [1000]" },
        { [], ["2000"], "1001:2000", null },
        { [], ["2000"], "1001:0", "the image group 0 is not allowed by allowed_groups [2000]" },
        { [], ["2000"], "1001", null }, // no group asked: the image's applies
        { ["1001"], ["2000"], "1001:2001", "the image group 2001 is not allowed by allowed_groups [2000]" },
    };

    [Theory]
    [MemberData(nameof(AllowLists))]
    public void Allowed_users_and_groups_limit_what_a_job_may_ask_for(string[] users, string[] groups, string user, string? refusal)
    {
        var settings = new KubernetesSettings { AllowedUsers = users, AllowedGroups = groups };

        var result = TestData.Build(settings, Job(user));

        if (refusal is null)
        {
            Assert.Null(result.Refusal);
        }
        else
        {
            Assert.Null(result.Plan);
            Assert.Equal(refusal, result.Refusal);
        }
    }

    public static TheoryData<string, ContainerSecurityContextSettings?, PodSecurityContextSettings, long?, long?> Precedence => new()
    {
        // job user, build_container_security_context, pod_security_context, build runAsUser, build runAsGroup
        { "1001:1001", null, new PodSecurityContextSettings(), 1001, 1001 },
        { "1001:1001", new ContainerSecurityContextSettings { RunAsUser = 4000 }, new PodSecurityContextSettings(), 4000, 1001 },
        { "1001:1001", new ContainerSecurityContextSettings { RunAsUser = 4000, RunAsGroup = 4001 }, new PodSecurityContextSettings(), 4000, 4001 },
        { "1001:1001", new ContainerSecurityContextSettings { RunAsGroup = 4001 }, new PodSecurityContextSettings(), 1001, 4001 },
        // The pod's run_as_user is the administrator's too: the job's container-level value would override it, so it is not set.
        { "1001:1001", null, new PodSecurityContextSettings { RunAsUser = 5000, RunAsGroup = 5001 }, null, null },
    };

    [Theory]
    [MemberData(nameof(Precedence))]
    public void The_administrators_security_context_wins(string user, ContainerSecurityContextSettings? build,
        PodSecurityContextSettings pod, long? runAsUser, long? runAsGroup)
    {
        var settings = new KubernetesSettings { BuildContainerSecurityContext = build, PodSecurityContext = pod };

        var container = Container(TestData.Plan(settings, Job(user)), "build");

        Assert.Equal(runAsUser, container.SecurityContext.RunAsUser);
        Assert.Equal(runAsGroup, container.SecurityContext.RunAsGroup);
    }

    [Fact]
    public void An_administrator_pinned_user_is_not_checked_against_the_allow_list()
    {
        var settings = new KubernetesSettings
        {
            AllowedUsers = ["1000"], BuildContainerSecurityContext = new ContainerSecurityContextSettings { RunAsUser = 4000 },
        };

        var container = Container(TestData.Plan(settings, Job("0")), "build");

        Assert.Equal(4000, container.SecurityContext.RunAsUser);
    }

    [Fact]
    public void The_helper_never_takes_the_jobs_user_and_each_service_takes_its_own()
    {
        var services = new List<JobService>
        {
            new() { Name = "redis:7", ExecutorOpts = new JobExecutorOptions { Kubernetes = new JobKubernetesOptions { User = "999:998" } } },
            new() { Name = "postgres:16" },
        };
        var settings = new KubernetesSettings { Services = [new ServiceSettings("memcached:1")] };

        var plan = TestData.Plan(settings, Job("1001:1002", services: services));

        Assert.Null(Container(plan, "helper").SecurityContext.RunAsUser);
        Assert.Null(Container(plan, "helper").SecurityContext.RunAsGroup);
        Assert.Null(Container(plan, "svc-0").SecurityContext.RunAsUser); // the config's service
        Assert.Equal(999, Container(plan, "svc-1").SecurityContext.RunAsUser);
        Assert.Equal(998, Container(plan, "svc-1").SecurityContext.RunAsGroup);
        Assert.Null(Container(plan, "svc-2").SecurityContext.RunAsUser);
    }

    [Fact]
    public void A_service_user_outside_allowed_users_is_refused_naming_the_service()
    {
        var services = new List<JobService>
        {
            new() { Name = "redis:7", ExecutorOpts = new JobExecutorOptions { Kubernetes = new JobKubernetesOptions { User = "0" } } },
        };

        var refusal = TestData.Refusal(new KubernetesSettings { AllowedUsers = ["999"] }, Job("", services: services));

        Assert.Equal("the service \"redis:7\" user 0 is not allowed by allowed_users [999]", refusal);
    }

    [Theory]
    [InlineData("$SECRET_UID")]
    [InlineData("$MASKED_UID:1000")]
    public void A_value_from_a_non_public_variable_is_never_shown(string user)
    {
        var job = Job(user, [TestData.Hidden("SECRET_UID", "31337"), TestData.Masked("MASKED_UID", "31338")]);
        var settings = new KubernetesSettings { AllowedUsers = ["1000"] };

        // Not applied (it would put a secret into the pod spec) and so not refused; the warning names the variable only.
        var container = Container(TestData.Plan(settings, job), "build");
        var warning = Assert.Single(JobUser.Warnings(job, settings));

        Assert.Null(container.SecurityContext.RunAsUser);
        Assert.DoesNotContain("3133", warning, StringComparison.Ordinal);
        Assert.Contains("non-public variable", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void The_warning_reaches_the_trace_from_step_script()
    {
        var job = Job("root") with { Steps = [new JobStep { Name = "script", Script = ["true"] }] };

        var plan = JobScripts.Build(job, TestData.Runner(), 0, TestData.Identity, new ScriptOptions(HelperInvocation.Default));

        // Run as the pod would: the printed line is GitLab Runner's warning.
        using var pod = new Scripts.PodSandbox(job);
        var (code, output) = pod.RunStage(JobScripts.StepScript);
        Assert.True(code == 0, output);
        Assert.Contains("WARNING: " + JobUser.ParseWarning + ": failed to parse UID \"root\"", output, StringComparison.Ordinal);
        Assert.NotNull(plan.Find(JobScripts.StepScript));
    }
}
