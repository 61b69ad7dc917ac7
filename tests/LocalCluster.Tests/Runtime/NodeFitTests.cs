using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class NodeFitTests
{
    private static V1Pod PodWith(Dictionary<string, string>? selector = null, params V1Toleration[] tolerations) => new()
    {
        Metadata = new V1ObjectMeta { Name = "p" },
        Spec = new V1PodSpec { NodeSelector = selector, Tolerations = tolerations, Containers = [] },
    };

    private static readonly NodeSettings LabelledNode = new()
    {
        Labels = new Dictionary<string, string> { ["disk"] = "ssd", ["zone"] = "a" },
    };

    public static TheoryData<string, bool> Selectors => new()
    {
        { "", true },
        { "disk=ssd", true },
        { "disk=ssd,zone=a", true },
        { "disk=hdd", false },
        { "disk=ssd,zone=b", false },
        { "gpu=yes", false },
        // The kubelet's well-known labels are the node's too, as the Node object shows them.
        { "kubernetes.io/os=linux", true },
        { "disk=ssd,kubernetes.io/hostname=local-node", true },
        { "kubernetes.io/os=windows", false },
    };

    [Theory]
    [MemberData(nameof(Selectors))]
    public void Node_selector_must_match_every_label(string selector, bool fits)
    {
        var labels = selector.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(pair => pair.Split('=')).ToDictionary(p => p[0], p => p[1]);

        var result = NodeFit.Evaluate(PodWith(labels), LabelledNode);

        Assert.Equal(fits, result.Fits);
        Assert.Equal(fits ? null : "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", result.Message);
    }

    // Taint effect × toleration (key, operator, value, effect); "-" stands for unset.
    [Theory]
    [InlineData("NoSchedule", "-", "-", "-", "-", false)]
    [InlineData("NoExecute", "-", "-", "-", "-", false)]
    [InlineData("PreferNoSchedule", "-", "-", "-", "-", true)]
    [InlineData("NoSchedule", "dedicated", "Equal", "ci", "NoSchedule", true)]
    [InlineData("NoSchedule", "dedicated", "Equal", "other", "NoSchedule", false)]
    [InlineData("NoSchedule", "dedicated", "-", "ci", "-", true)]
    [InlineData("NoSchedule", "dedicated", "Exists", "-", "NoSchedule", true)]
    [InlineData("NoSchedule", "dedicated", "Exists", "-", "NoExecute", false)]
    [InlineData("NoExecute", "dedicated", "Exists", "-", "-", true)]
    [InlineData("NoExecute", "other", "Exists", "-", "-", false)]
    [InlineData("NoSchedule", "-", "Exists", "-", "-", true)]
    [InlineData("NoExecute", "-", "Exists", "-", "NoExecute", true)]
    [InlineData("NoExecute", "-", "Exists", "-", "NoSchedule", false)]
    [InlineData("NoSchedule", "-", "Equal", "ci", "-", false)]
    public void Taints_need_a_matching_toleration(string effect, string key, string op, string value, string tolerationEffect, bool fits)
    {
        static string? Unset(string text) => text == "-" ? null : text;
        var node = new NodeSettings { Taints = [new V1Taint { Key = "dedicated", Value = "ci", Effect = effect }] };
        var tolerations = key == "-" && op == "-" ? [] : new[]
        {
            new V1Toleration { Key = Unset(key), OperatorProperty = Unset(op), Value = Unset(value), Effect = Unset(tolerationEffect) },
        };

        var result = NodeFit.Evaluate(PodWith(null, tolerations), node);

        Assert.Equal(fits, result.Fits);
        if (!fits) Assert.Equal("0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: ci}.", result.Message);
    }

    [Theory]
    [InlineData("In", "ssd,nvme", true)]
    [InlineData("In", "hdd", false)]
    [InlineData("NotIn", "hdd", true)]
    [InlineData("NotIn", "ssd", false)]
    [InlineData("Exists", "", true)]
    [InlineData("DoesNotExist", "", false)]
    public void Required_node_affinity_is_a_filter(string op, string values, bool fits)
    {
        var pod = PodWith();
        pod.Spec.Affinity = new V1Affinity
        {
            NodeAffinity = new V1NodeAffinity
            {
                RequiredDuringSchedulingIgnoredDuringExecution = new V1NodeSelector
                {
                    NodeSelectorTerms = [new V1NodeSelectorTerm
                    {
                        MatchExpressions = [new V1NodeSelectorRequirement { Key = "disk", OperatorProperty = op, Values = values.Split(',', StringSplitOptions.RemoveEmptyEntries) }],
                    }],
                },
            },
        };

        Assert.Equal(fits, NodeFit.Evaluate(pod, LabelledNode).Fits);
    }
}
