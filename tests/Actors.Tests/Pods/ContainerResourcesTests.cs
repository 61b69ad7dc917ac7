using k8s;
using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>KUBERNETES_* resource variables overwrite config values only under their *_overwrite_max_allowed cap, as GitLab
/// Runner does; above the cap the job is refused with GitLab Runner's reason.</summary>
public sealed class ContainerResourcesTests
{
    private static readonly KubernetesSettings Capped = new()
    {
        CpuLimit = "1",
        MemoryRequest = "256Mi",
        HelperCpuRequest = "100m",
        ServiceMemoryLimit = "128Mi",
        Resources = new Dictionary<string, string>
        {
            ["ephemeral_storage_request"] = "1Gi",
            ["cpu_limit_overwrite_max_allowed"] = "4",
            ["memory_request_overwrite_max_allowed"] = "2Gi",
            ["ephemeral_storage_request_overwrite_max_allowed"] = "10Gi",
            ["ephemeral_storage_limit_overwrite_max_allowed"] = "20Gi",
            ["helper_cpu_request_overwrite_max_allowed"] = "500m",
            ["helper_ephemeral_storage_limit_overwrite_max_allowed"] = "1Gi",
            ["service_memory_limit_overwrite_max_allowed"] = "1Gi",
            ["service_cpu_request_overwrite_max_allowed"] = "1",
            ["pod_cpu_limit"] = "2",
            ["pod_cpu_limit_overwrite_max_allowed"] = "8",
            ["pod_memory_request_overwrite_max_allowed"] = "4Gi",
        },
    };

    private static JobPayload Job(params (string Key, string Value)[] variables) =>
        TestData.Job(variables: variables.Select(v => TestData.Public(v.Key, v.Value)).ToList(),
            services: [new JobService { Name = "postgres:16" }]);

    private static string Resources(V1ResourceRequirements? resources) => KubernetesJson.Serialize(resources);

    private static V1Container Container(V1Pod pod, string name) => pod.Spec.Containers.Single(c => c.Name == name);

    public static TheoryData<string, string, string, string> WithinTheCaps => new()
    {
        // variable, value, container ("pod" for spec.resources), expected resources
        { "KUBERNETES_CPU_LIMIT", "3", "build", """{"limits":{"cpu":"3"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_CPU_LIMIT", "4", "build", """{"limits":{"cpu":"4"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_CPU_LIMIT", "3500m", "build", """{"limits":{"cpu":"3500m"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        // Compared as values and written in the API server's canonical form (KubernetesQuantity).
        { "KUBERNETES_CPU_LIMIT", "4000m", "build", """{"limits":{"cpu":"4"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_CPU_LIMIT", "0.004k", "build", """{"limits":{"cpu":"4"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_CPU_LIMIT", "1.5", "build", """{"limits":{"cpu":"1500m"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_CPU_LIMIT", "-0", "build", """{"limits":{"cpu":"0"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_MEMORY_REQUEST", "1.5Gi", "build", """{"limits":{"cpu":"1"},"requests":{"ephemeral-storage":"1Gi","memory":"1536Mi"}}""" },
        { "KUBERNETES_MEMORY_REQUEST", "1Gi", "build", """{"limits":{"cpu":"1"},"requests":{"ephemeral-storage":"1Gi","memory":"1Gi"}}""" },
        { "KUBERNETES_EPHEMERAL_STORAGE_REQUEST", "5Gi", "build", """{"limits":{"cpu":"1"},"requests":{"ephemeral-storage":"5Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_EPHEMERAL_STORAGE_LIMIT", "20Gi", "build", """{"limits":{"cpu":"1","ephemeral-storage":"20Gi"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_HELPER_CPU_REQUEST", "250m", "helper", """{"requests":{"cpu":"250m"}}""" },
        { "KUBERNETES_HELPER_EPHEMERAL_STORAGE_LIMIT", "512Mi", "helper", """{"limits":{"ephemeral-storage":"512Mi"},"requests":{"cpu":"100m"}}""" },
        { "KUBERNETES_SERVICE_MEMORY_LIMIT", "512Mi", "svc-0", """{"limits":{"memory":"512Mi"}}""" },
        { "KUBERNETES_SERVICE_CPU_REQUEST", "1", "svc-0", """{"limits":{"memory":"128Mi"},"requests":{"cpu":"1"}}""" },
        { "KUBERNETES_POD_CPU_LIMIT", "6", "pod", """{"limits":{"cpu":"6"}}""" },
        { "KUBERNETES_POD_MEMORY_REQUEST", "3Gi", "pod", """{"limits":{"cpu":"2"},"requests":{"memory":"3Gi"}}""" },
        // No cap: the overwrite is disabled and the config value stays.
        { "KUBERNETES_MEMORY_LIMIT", "64Gi", "build", """{"limits":{"cpu":"1"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
        { "KUBERNETES_HELPER_MEMORY_LIMIT", "64Gi", "helper", """{"requests":{"cpu":"100m"}}""" },
        // An empty value keeps the config value.
        { "KUBERNETES_CPU_LIMIT", "", "build", """{"limits":{"cpu":"1"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""" },
    };

    [Theory]
    [MemberData(nameof(WithinTheCaps))]
    public void Overwrites_within_the_caps_apply(string variable, string value, string container, string expected)
    {
        var pod = TestData.Plan(Capped, Job((variable, value))).Pod;

        JsonAssert.Equal(expected, Resources(container == "pod" ? pod.Spec.Resources : Container(pod, container).Resources));
    }

    public static TheoryData<string, string, string> AboveTheCaps => new()
    {
        { "KUBERNETES_CPU_LIMIT", "5", "invalid build limits specified: the resource \"CPULimit\" requested \"5\" is higher than limit allowed \"4\"" },
        { "KUBERNETES_CPU_LIMIT", "4001m", "invalid build limits specified: the resource \"CPULimit\" requested \"4001m\" is higher than limit allowed \"4\"" },
        { "KUBERNETES_MEMORY_REQUEST", "3Gi", "invalid build requests specified: the resource \"MemoryRequest\" requested \"3Gi\" is higher than limit allowed \"2Gi\"" },
        { "KUBERNETES_EPHEMERAL_STORAGE_LIMIT", "21Gi", "invalid build limits specified: the resource \"EphemeralStorageLimit\" requested \"21Gi\" is higher than limit allowed \"20Gi\"" },
        { "KUBERNETES_HELPER_CPU_REQUEST", "1", "invalid helper requests specified: the resource \"HelperCPURequest\" requested \"1\" is higher than limit allowed \"500m\"" },
        { "KUBERNETES_HELPER_EPHEMERAL_STORAGE_LIMIT", "2Gi", "invalid helper limits specified: the resource \"HelperEphemeralStorageLimit\" requested \"2Gi\" is higher than limit allowed \"1Gi\"" },
        { "KUBERNETES_SERVICE_MEMORY_LIMIT", "2Gi", "invalid service limits specified: the resource \"ServiceMemoryLimit\" requested \"2Gi\" is higher than limit allowed \"1Gi\"" },
        { "KUBERNETES_POD_CPU_LIMIT", "9", "invalid Pod limits specified: the resource \"PodCPULimit\" requested \"9\" is higher than limit allowed \"8\"" },
        { "KUBERNETES_CPU_LIMIT", "lots", "invalid build limits specified: parsing resource limit: \"quantities must match the regular expression" },
        { "KUBERNETES_CPU_LIMIT", "-1", "invalid build limits specified: parsing resource limit: \"a resource quantity must not be negative\"" },
        { "KUBERNETES_CPU_LIMIT", "-1m", "invalid build limits specified: parsing resource limit: \"a resource quantity must not be negative\"" },
        { "KUBERNETES_CPU_LIMIT", "4.001", "invalid build limits specified: the resource \"CPULimit\" requested \"4.001\" is higher than limit allowed \"4\"" },
        { "KUBERNETES_CPU_LIMIT", "1e1", "invalid build limits specified: the resource \"CPULimit\" requested \"1e1\" is higher than limit allowed \"4\"" },
        { "KUBERNETES_CPU_LIMIT", " 1", "invalid build limits specified: parsing resource limit: \"quantities must match the regular expression" },
    };

    [Theory]
    [MemberData(nameof(AboveTheCaps))]
    public void Overwrites_above_the_caps_refuse_the_job(string variable, string value, string reason)
    {
        Assert.StartsWith(reason, TestData.Refusal(Capped, Job((variable, value))), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_overwrites_and_new_keys_the_pod_is_as_before()
    {
        var pod = TestData.Plan(new KubernetesSettings { CpuLimit = "1", HelperMemoryRequest = "64Mi" }, Job(("KUBERNETES_CPU_LIMIT", "2"))).Pod;

        JsonAssert.Equal("""{"limits":{"cpu":"1"}}""", Resources(Container(pod, "build").Resources));
        JsonAssert.Equal("""{"requests":{"memory":"64Mi"}}""", Resources(Container(pod, "helper").Resources));
        Assert.Null(Container(pod, "svc-0").Resources);
        Assert.Null(pod.Spec.Resources);
    }

    [Fact]
    public void A_services_own_variables_set_its_resources_alone_under_the_same_caps()
    {
        var job = TestData.Job(services:
        [
            new JobService { Name = "postgres:16", Variables = [new JobServiceVariable { Key = "KUBERNETES_SERVICE_MEMORY_LIMIT", Value = "768Mi" }] },
            new JobService { Name = "redis:7" },
        ]);

        var pod = TestData.Plan(Capped, job).Pod;

        JsonAssert.Equal("""{"limits":{"memory":"768Mi"}}""", Resources(Container(pod, "svc-0").Resources));
        JsonAssert.Equal("""{"limits":{"memory":"128Mi"}}""", Resources(Container(pod, "svc-1").Resources));

        var tooMuch = TestData.Job(services:
            [new JobService { Name = "postgres:16", Variables = [new JobServiceVariable { Key = "KUBERNETES_SERVICE_MEMORY_LIMIT", Value = "2Gi" }] }]);
        Assert.StartsWith("invalid service limits specified: the resource \"ServiceMemoryLimit\" requested \"2Gi\"", TestData.Refusal(Capped, tooMuch),
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_masked_overwrite_is_refused_without_showing_its_value()
    {
        var job = TestData.Job(variables: [TestData.Masked("KUBERNETES_CPU_LIMIT", "3")]);

        var refusal = TestData.Refusal(Capped, job);

        Assert.Equal("invalid build limits specified: KUBERNETES_CPU_LIMIT is a masked variable; its value never goes into the pod spec", refusal);
    }

    [Fact]
    public void Overwrites_are_expanded_with_the_jobs_variables()
    {
        var job = TestData.Job(variables: [TestData.Public("BIG", "3"), TestData.Public("KUBERNETES_CPU_LIMIT", "$BIG")]);

        JsonAssert.Equal("""{"limits":{"cpu":"3"},"requests":{"ephemeral-storage":"1Gi","memory":"256Mi"}}""",
            Resources(Container(TestData.Plan(Capped, job).Pod, "build").Resources));
    }

    [Fact]
    public void The_config_keys_are_the_ones_GitLab_Runner_has()
    {
        Assert.Equal(32, ContainerResources.ConfigKeys.Count);
        Assert.Contains("helper_ephemeral_storage_limit_overwrite_max_allowed", ContainerResources.ConfigKeys);
        Assert.Contains("pod_memory_request", ContainerResources.ConfigKeys);
        Assert.DoesNotContain("cpu_limit", ContainerResources.ConfigKeys);
        Assert.DoesNotContain("pod_ephemeral_storage_limit", ContainerResources.ConfigKeys);
        Assert.Equal("KUBERNETES_HELPER_EPHEMERAL_STORAGE_REQUEST", ContainerResources.VariableName("helper_", "ephemeral_storage", "request"));
    }
}
