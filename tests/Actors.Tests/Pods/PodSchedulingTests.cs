using k8s;
using k8s.Models;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>affinity, priority_class_name, scheduler_name and the node selector, toleration and label overwrites.</summary>
public sealed class PodSchedulingTests
{
    private static JobVariable Var(string key, string value) => TestData.Public(key, value);

    /// <summary>GitLab Runner's documented affinity example, expected pod written by hand.</summary>
    [Fact]
    public void Affinity_of_the_documentation_example_becomes_the_pod_affinity()
    {
        var settings = new KubernetesSettings
        {
            Affinity = new AffinitySettings(
                new NodeAffinitySettings(
                    [new NodeSelectorTermSettings(
                        [new SelectorRequirementSettings("kubernetes.io/e2e-az-name", "In", ["e2e-az1", "e2e-az2"])],
                        [new SelectorRequirementSettings("metadata.name", "NotIn", ["node-1"])])],
                    [new PreferredSchedulingTermSettings(100, new NodeSelectorTermSettings(
                        [new SelectorRequirementSettings("cpu_speed", "In", ["fast"]), new SelectorRequirementSettings("core_count", "Gt", ["4"])], []))]),
                new PodAffinitySettings(
                    [new PodAffinityTermSettings(
                        new LabelSelectorSettings(new Dictionary<string, string> { ["app"] = "db" },
                            [new SelectorRequirementSettings("security", "In", ["S1"])]),
                        ["namespace_1", "namespace_2"], "failure-domain.beta.kubernetes.io/zone",
                        new LabelSelectorSettings(new Dictionary<string, string>(), [new SelectorRequirementSettings("team", "Exists", [])]))],
                    []),
                new PodAffinitySettings(
                    [],
                    [new WeightedPodAffinityTermSettings(100, new PodAffinityTermSettings(
                        new LabelSelectorSettings(new Dictionary<string, string>(), [new SelectorRequirementSettings("security", "In", ["S2"])]),
                        [], "kubernetes.io/hostname", null))])),
        };

        var affinity = TestData.Plan(settings).Pod.Spec.Affinity;

        const string expected = """
            {"nodeAffinity":{
               "preferredDuringSchedulingIgnoredDuringExecution":[{"preference":{"matchExpressions":[
                  {"key":"cpu_speed","operator":"In","values":["fast"]},{"key":"core_count","operator":"Gt","values":["4"]}]},"weight":100}],
               "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{
                  "matchExpressions":[{"key":"kubernetes.io/e2e-az-name","operator":"In","values":["e2e-az1","e2e-az2"]}],
                  "matchFields":[{"key":"metadata.name","operator":"NotIn","values":["node-1"]}]}]}},
             "podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{
                  "labelSelector":{"matchExpressions":[{"key":"security","operator":"In","values":["S1"]}],"matchLabels":{"app":"db"}},
                  "namespaceSelector":{"matchExpressions":[{"key":"team","operator":"Exists"}]},
                  "namespaces":["namespace_1","namespace_2"],"topologyKey":"failure-domain.beta.kubernetes.io/zone"}]},
             "podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"podAffinityTerm":{
                  "labelSelector":{"matchExpressions":[{"key":"security","operator":"In","values":["S2"]}]},
                  "topologyKey":"kubernetes.io/hostname"},"weight":100}]}}
            """;
        JsonAssert.Equal(expected, KubernetesJson.Serialize(affinity));
    }

    [Fact]
    public void No_affinity_configured_gives_no_affinity_field()
    {
        Assert.Null(TestData.Plan().Pod.Spec.Affinity);
        Assert.Null(TestData.Plan(new KubernetesSettings { Affinity = new AffinitySettings(null, null, null) }).Pod.Spec.Affinity);
    }

    [Theory]
    [InlineData("high-priority", "my-scheduler")]
    [InlineData(null, null)]
    public void Priority_class_and_scheduler_name_are_copied(string? priorityClass, string? scheduler)
    {
        var spec = TestData.Plan(new KubernetesSettings { PriorityClassName = priorityClass, SchedulerName = scheduler }).Pod.Spec;

        Assert.Equal((priorityClass, scheduler), (spec.PriorityClassName, spec.SchedulerName));
    }

    public static TheoryData<string?, JobVariable[], Dictionary<string, string>> NodeSelectorCases => new()
    {
        // Gate empty: the variables are ignored.
        { null, [Var("KUBERNETES_NODE_SELECTOR_ARCH", "kubernetes.io/arch=arm64")], new() { ["kubernetes.io/arch"] = "amd64" } },
        // The documentation's example: the job picks the architecture.
        { ".*", [Var("KUBERNETES_NODE_SELECTOR_ARCH", "kubernetes.io/arch=arm64")], new() { ["kubernetes.io/arch"] = "arm64" } },
        // A later variable for the same key wins; a new key is added; the value may hold '='.
        {
            "^[a-z./]+=.*$",
            [Var("KUBERNETES_NODE_SELECTOR_1", "pool=a"), Var("KUBERNETES_NODE_SELECTOR_2", "pool=b=c"), Var("KUBERNETES_NODE_SELECTOR_3", "zone=$ZONE"), Var("ZONE", "eu")],
            new() { ["kubernetes.io/arch"] = "amd64", ["pool"] = "b=c", ["zone"] = "eu" }
        },
    };

    [Theory]
    [MemberData(nameof(NodeSelectorCases))]
    public void Node_selector_overwrite(string? allowed, JobVariable[] variables, Dictionary<string, string> expected)
    {
        var settings = new KubernetesSettings
        {
            NodeSelector = new Dictionary<string, string> { ["kubernetes.io/arch"] = "amd64" },
            NodeSelectorOverwriteAllowed = allowed,
        };

        var selector = TestData.Plan(settings, TestData.Job(variables)).Pod.Spec.NodeSelector;

        Assert.Equal(expected.OrderBy(e => e.Key), selector.OrderBy(e => e.Key));
    }

    [Theory]
    [InlineData("^pool=", "pool=gpu-pool", null)]
    [InlineData("^pool=(cpu|gpu)$", "pool=tpu", "node selector overwrite \"pool=tpu\" (from KUBERNETES_NODE_SELECTOR_X) does not match the allowed pattern \"^pool=(cpu|gpu)$\"")]
    [InlineData(".*", "no-equals", "node selector overwrite \"no-equals\" (from KUBERNETES_NODE_SELECTOR_X) is malformed: expected key=value")]
    public void Node_selector_overwrite_is_matched_unanchored_and_refused_with_a_reason(string allowed, string value, string? refusal)
    {
        var settings = new KubernetesSettings { NodeSelectorOverwriteAllowed = allowed };
        var result = TestData.Build(settings, TestData.Job([Var("KUBERNETES_NODE_SELECTOR_X", value)]));

        Assert.Equal(refusal, result.Refusal);
    }

    [Fact]
    public void A_masked_overwrite_is_refused_without_printing_its_value()
    {
        var settings = new KubernetesSettings { NodeSelectorOverwriteAllowed = "^$" };
        var refusal = TestData.Refusal(settings, TestData.Job([TestData.Masked("KUBERNETES_NODE_SELECTOR_S", "secret-node=topsecret")]));

        Assert.Contains("KUBERNETES_NODE_SELECTOR_S is masked", refusal);
        Assert.DoesNotContain("topsecret", refusal);
    }

    [Fact]
    public void A_reference_to_a_secret_in_an_overwrite_is_refused_without_printing_it()
    {
        var settings = new KubernetesSettings { NodeSelectorOverwriteAllowed = ".*" };
        var refusal = TestData.Refusal(settings,
            TestData.Job([Var("KUBERNETES_NODE_SELECTOR_S", "node=$TOKEN"), TestData.Hidden("TOKEN", "s3cr3t")]));

        Assert.Contains("TOKEN", refusal);
        Assert.DoesNotContain("s3cr3t", refusal);
    }

    public static TheoryData<string, string?, string?, string, string?> TolerationOverwrites => new()
    {
        // value (key[=value][:effect]) → key, value, operator, effect
        { "gpu=true:NoSchedule", "gpu", "true", "Equal", "NoSchedule" },
        { "dedicated:NoExecute", "dedicated", null, "Exists", "NoExecute" },
        { "spot", "spot", null, "Exists", null },
        { "", null, null, "Exists", null },
    };

    [Theory]
    [MemberData(nameof(TolerationOverwrites))]
    public void Toleration_overwrite(string value, string? key, string? tolerationValue, string op, string? effect)
    {
        var settings = new KubernetesSettings
        {
            NodeTolerations = [new("node-role.kubernetes.io/master", "NoSchedule")],
            NodeTolerationsOverwriteAllowed = ".*",
        };

        var tolerations = TestData.Plan(settings, TestData.Job([Var("KUBERNETES_NODE_TOLERATIONS_1", value)])).Pod.Spec.Tolerations;

        Assert.Equal(2, tolerations.Count);
        Assert.Equal("node-role.kubernetes.io/master", tolerations[0].Key);
        Assert.Equal((key, tolerationValue, op, effect), (tolerations[1].Key, tolerations[1].Value, tolerations[1].OperatorProperty, tolerations[1].Effect));
    }

    [Fact]
    public void Toleration_overwrite_replaces_the_config_entry_of_the_same_key_and_needs_the_gate()
    {
        var settings = new KubernetesSettings { NodeTolerations = [new("gpu=true", "NoSchedule")] };
        var job = TestData.Job([Var("KUBERNETES_NODE_TOLERATIONS_1", "gpu=true:NoExecute")]);

        Assert.Equal("NoSchedule", Assert.Single(TestData.Plan(settings, job).Pod.Spec.Tolerations).Effect);
        var allowed = settings with { NodeTolerationsOverwriteAllowed = "^gpu" };
        Assert.Equal("NoExecute", Assert.Single(TestData.Plan(allowed, job).Pod.Spec.Tolerations).Effect);
    }

    [Fact]
    public void Toleration_overwrite_with_an_unknown_effect_is_refused()
    {
        var settings = new KubernetesSettings { NodeTolerationsOverwriteAllowed = ".*" };

        Assert.Contains("unsupported effect \"Sometimes\"",
            TestData.Refusal(settings, TestData.Job([Var("KUBERNETES_NODE_TOLERATIONS_1", "gpu:Sometimes")])));
    }

    [Fact]
    public void Pod_labels_overwrite_adds_and_replaces_labels_but_not_the_runners_own()
    {
        var settings = new KubernetesSettings
        {
            PodLabels = new Dictionary<string, string> { ["team"] = "ci" },
            PodLabelsOverwriteAllowed = "^(team|cost-center)=",
        };
        var job = TestData.Job([Var("KUBERNETES_POD_LABELS_1", "team=web"), Var("KUBERNETES_POD_LABELS_2", "cost-center=42")]);

        var labels = TestData.Plan(settings, job).Pod.Metadata.Labels;

        Assert.Equal("web", labels["team"]);
        Assert.Equal("42", labels["cost-center"]);
        var refusal = TestData.Refusal(settings with { PodLabelsOverwriteAllowed = ".*" },
            TestData.Job([Var("KUBERNETES_POD_LABELS_1", "team=not a label value")]));
        Assert.Contains("is not a valid label", refusal);
    }

    [Fact]
    public void Pod_labels_overwrite_cannot_replace_the_runners_labels()
    {
        var settings = new KubernetesSettings { PodLabelsOverwriteAllowed = ".*" };

        var labels = TestData.Plan(settings, TestData.Job([Var("KUBERNETES_POD_LABELS_1", "scheduler/job-id=1")])).Pod.Metadata.Labels;

        Assert.Equal("1234", labels["scheduler/job-id"]);
    }
}
