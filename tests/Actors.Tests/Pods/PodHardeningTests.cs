using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>The hardening keys: allow-lists of images, services and pull policies, capabilities, container security
/// contexts, automount_service_account_token and runtime_class_name.</summary>
public sealed class PodHardeningTests
{
    [Theory]
    [InlineData("ruby:*", "ruby:3.3", true)]
    [InlineData("ruby:*", "ruby", false)]
    [InlineData("ruby:*", "library/ruby:3.3", false)] // * stops at /
    [InlineData("*/ruby:*", "library/ruby:3.3", true)]
    [InlineData("my.registry.tld:5000/*:*", "my.registry.tld:5000/app:1", true)]
    [InlineData("my.registry.tld:5000/*:*", "my.registry.tld:5000/team/app:1", false)]
    [InlineData("my.registry.tld:5000/**", "my.registry.tld:5000/team/app:1", true)]
    [InlineData("registry/**/app:*", "registry/app:1", true)] // /**/ also matches one /
    [InlineData("registry/**/app:*", "registry/a/b/app:1", true)]
    [InlineData("**/app:*", "app:1", true)]
    [InlineData("**/app:*", "a/b/app:1", true)]
    [InlineData("registry/app**", "registry/app/x", false)] // ** inside a component is *
    [InlineData("registry/app**", "registry/app-x", true)]
    [InlineData("alpine:3.?", "alpine:3.20", false)]
    [InlineData("alpine:3.??", "alpine:3.20", true)]
    [InlineData("{alpine,busybox}:*", "busybox:1", true)]
    [InlineData("{alpine,busybox}:*", "ubuntu:24.04", false)]
    [InlineData("alpine:[0-9]*", "alpine:3", true)]
    [InlineData("alpine:[!0-9]*", "alpine:3", false)]
    [InlineData("alpine:edge", "alpine:edge", true)]
    [InlineData("alpine.edge", "alpineXedge", false)] // . is literal
    [InlineData("\\*", "*", true)]
    [InlineData("\\*", "a", false)]
    public void Image_patterns_are_doublestar_globs(string pattern, string image, bool allowed)
    {
        Assert.Null(ImagePolicy.GlobError(pattern));
        Assert.Equal(allowed, ImagePolicy.IsAllowed(image, [pattern]));
    }

    [Theory]
    [InlineData("alpine:[0-9")]
    [InlineData("{alpine,busybox:*")]
    [InlineData("alpine\\")]
    public void A_broken_pattern_is_reported_and_matches_nothing(string pattern)
    {
        Assert.NotNull(ImagePolicy.GlobError(pattern));
        Assert.False(ImagePolicy.IsAllowed("alpine:3", [pattern]));
    }

    [Fact]
    public void A_job_image_outside_allowed_images_is_refused_with_the_reason()
    {
        var settings = new KubernetesSettings { Image = "alpine:3.20", AllowedImages = ["ruby:*", "python:*"] };

        var refusal = TestData.Refusal(settings, TestData.Job(image: "evil/miner:latest"));

        Assert.Contains("\"evil/miner:latest\"", refusal);
        Assert.Contains("allowed_images", refusal);
        Assert.Contains("\"ruby:*\"", refusal);
    }

    [Theory]
    [InlineData("ruby:3.3")]
    [InlineData("alpine:3.20")] // the config's own image is always allowed
    [InlineData(null)] // no job image: the config's
    public void Allowed_and_default_images_run(string? image)
    {
        var settings = new KubernetesSettings { Image = "alpine:3.20", AllowedImages = ["ruby:*"] };

        var pod = TestData.Plan(settings, TestData.Job(image: image)).Pod;

        Assert.Equal(image ?? "alpine:3.20", pod.Spec.Containers[0].Image);
    }

    [Fact]
    public void The_image_is_matched_after_variable_expansion()
    {
        var settings = new KubernetesSettings { AllowedImages = ["ruby:*"] };
        var job = TestData.Job(image: "$IMG", variables: [TestData.Public("IMG", "evil:1")]);

        Assert.Contains("\"evil:1\"", TestData.Refusal(settings, job));
    }

    [Fact]
    public void A_job_service_outside_allowed_services_is_refused_and_config_services_are_not_checked()
    {
        var settings = new KubernetesSettings { AllowedServices = ["postgres:*"], Services = [new ServiceSettings("internal/cache:1")] };

        var allowed = TestData.Plan(settings, TestData.Job(services: [new JobService { Name = "postgres:16" }])).Pod;
        var refusal = TestData.Refusal(settings, TestData.Job(services: [new JobService { Name = "redis:7" }]));

        Assert.Equal(["build", "helper", "svc-0", "svc-1"], allowed.Spec.Containers.Select(c => c.Name));
        Assert.Contains("\"redis:7\"", refusal);
        Assert.Contains("allowed_services", refusal);
    }

    // job image:pull_policy, config pull_policy, allowed_pull_policies → the imagePullPolicy of build, or the refusal's text.
    [Theory]
    [InlineData("", "", "", null)]
    [InlineData("always", "", "", "Always")]
    [InlineData("", "if-not-present", "", "IfNotPresent")]
    [InlineData("always", "if-not-present", "", "refused: pull_policy ([always]) defined in GitLab pipeline config is not one of the allowed_pull_policies ([if-not-present])")]
    [InlineData("always", "if-not-present", "always,if-not-present", "Always")]
    [InlineData("never,always", "", "always", "Always")] // the intersection, in the job's order
    [InlineData("always", "", "never", "refused: pull_policy ([always]) defined in GitLab pipeline config is not one of the allowed_pull_policies ([never])")]
    [InlineData("", "always,never", "never", "Never")]
    [InlineData("", "", "if-not-present,never", "IfNotPresent")] // nothing asked: the allow-list's first, not the cluster's default
    [InlineData("sometimes", "", "", "refused: unsupported pull_policy \"sometimes\" in the job")]
    public void Pull_policies_are_the_requested_ones_that_are_allowed(string fromJob, string configured, string allowed, string? expected)
    {
        var settings = new KubernetesSettings { PullPolicy = List(configured), AllowedPullPolicies = List(allowed) };
        var job = TestData.Job() with { Image = new JobImage { Name = "alpine:3.20", PullPolicy = List(fromJob) } };

        var result = TestData.Build(settings, job);

        if (expected?.StartsWith("refused: ", StringComparison.Ordinal) == true)
        {
            Assert.Null(result.Plan);
            Assert.Contains(expected["refused: ".Length..], result.Refusal);
        }
        else
        {
            Assert.Equal(expected, result.Plan!.Pod.Spec.Containers[0].ImagePullPolicy);
        }
    }

    [Fact]
    public void A_service_pull_policy_is_checked_against_the_allow_list()
    {
        var settings = new KubernetesSettings { AllowedPullPolicies = ["if-not-present"] };
        var job = TestData.Job(services: [new JobService { Name = "postgres:16", PullPolicy = ["always"] }]);

        var refusal = TestData.Refusal(settings, job);

        Assert.Contains("service \"postgres:16\"", refusal);
        Assert.Contains("allowed_pull_policies", refusal);
    }

    // cap_add, cap_drop, the build context's capabilities.add and drop ("-": not set) → the build container's capabilities.
    [Theory]
    [InlineData("", "", "-", "-", "", "NET_RAW")]
    [InlineData("NET_RAW", "", "-", "-", "NET_RAW", "")] // cap_add lifts the default drop
    [InlineData("SYS_TIME", "SYS_ADMIN", "-", "-", "SYS_TIME", "NET_RAW,SYS_ADMIN")]
    [InlineData("SYS_TIME", "SYS_TIME", "-", "-", "", "NET_RAW,SYS_TIME")] // cap_drop wins over cap_add
    [InlineData("SYS_TIME", "SYS_ADMIN", "NET_ADMIN", "ALL", "NET_ADMIN", "ALL")] // a container's lists replace the section's
    [InlineData("SYS_TIME", "", "-", "ALL", "SYS_TIME", "ALL")]
    [InlineData("", "", "NET_RAW", "-", "NET_RAW", "NET_RAW")] // the drop list stays: the runtime drops NET_RAW, as in GitLab Runner
    [InlineData("", "", "NET_RAW", "", "NET_RAW", "")] // an empty drop list lifts the default for this container only
    public void Capabilities_combine_the_default_the_section_and_the_container(string capAdd, string capDrop, string contextAdd,
        string contextDrop, string expectedAdd, string expectedDrop)
    {
        var settings = new KubernetesSettings
        {
            CapAdd = List(capAdd),
            CapDrop = List(capDrop),
            BuildContainerSecurityContext = new ContainerSecurityContextSettings
            {
                CapAdd = contextAdd == "-" ? null : List(contextAdd), CapDrop = contextDrop == "-" ? null : List(contextDrop),
            },
        };

        var capabilities = TestData.Plan(settings).Pod.Spec.Containers[0].SecurityContext.Capabilities;

        Assert.Equal(List(expectedAdd), capabilities?.Add ?? []);
        Assert.Equal(List(expectedDrop), capabilities?.Drop ?? []);
    }

    [Fact]
    public void Each_container_gets_its_own_security_context_over_the_section_defaults()
    {
        var settings = new KubernetesSettings
        {
            Privileged = true,
            AllowPrivilegeEscalation = true,
            BuildContainerSecurityContext = new ContainerSecurityContextSettings
            {
                RunAsUser = 65534, RunAsGroup = 65534, RunAsNonRoot = true, ReadOnlyRootFilesystem = true, Privileged = false,
                AllowPrivilegeEscalation = false,
            },
            HelperContainerSecurityContext = new ContainerSecurityContextSettings { RunAsUser = 1000 },
            ServiceContainerSecurityContext = new ContainerSecurityContextSettings { RunAsUser = 999 },
            Services = [new ServiceSettings("postgres:16")],
        };

        var containers = TestData.Plan(settings).Pod.Spec.Containers;
        var build = containers[0].SecurityContext;
        var helper = containers[1].SecurityContext;
        var service = containers[2].SecurityContext;

        Assert.Equal((65534L, 65534L, true, true, false, false),
            (build.RunAsUser, build.RunAsGroup, build.RunAsNonRoot, build.ReadOnlyRootFilesystem, build.Privileged, build.AllowPrivilegeEscalation));
        Assert.Equal((1000L, true, true), (helper.RunAsUser, helper.Privileged, helper.AllowPrivilegeEscalation));
        Assert.Equal((999L, true, true), (service.RunAsUser, service.Privileged, service.AllowPrivilegeEscalation));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData(false, "gvisor")]
    [InlineData(true, null)]
    public void Automount_and_runtime_class_go_on_the_pod(bool? automount, string? runtimeClass)
    {
        var spec = TestData.Plan(new KubernetesSettings { AutomountServiceAccountToken = automount, RuntimeClassName = runtimeClass }).Pod.Spec;

        Assert.Equal(automount, spec.AutomountServiceAccountToken);
        Assert.Equal(runtimeClass, spec.RuntimeClassName);
    }

    private static IReadOnlyList<string> List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries);
}
