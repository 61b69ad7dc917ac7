using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>The outcome of placing a pod on the single node; <see cref="Message"/> explains a misfit as kube-scheduler does.</summary>
public sealed record NodeFitResult(bool Fits, string? Message)
{
    public static readonly NodeFitResult Fit = new(true, null);
}

/// <summary>
/// The scheduler's filter for the one node: nodeSelector, required node affinity, and taints with
/// NoSchedule/NoExecute effects (PreferNoSchedule never blocks).
/// </summary>
public static class NodeFit
{
    public static NodeFitResult Evaluate(V1Pod pod, NodeSettings node)
    {
        var spec = pod.Spec;
        var labels = node.EffectiveLabels;
        if (!SelectorMatches(spec?.NodeSelector, labels) || !RequiredAffinityMatches(spec?.Affinity, labels))
        {
            return new NodeFitResult(false, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.");
        }

        var tolerations = spec?.Tolerations ?? [];
        foreach (var taint in node.Taints)
        {
            if (taint.Effect is not ("NoSchedule" or "NoExecute")) continue;
            if (tolerations.Any(toleration => Tolerates(toleration, taint))) continue;
            return new NodeFitResult(false, $"0/1 nodes are available: 1 node(s) had untolerated taint {{{taint.Key}: {taint.Value}}}.");
        }
        return NodeFitResult.Fit;
    }

    public static bool SelectorMatches(IDictionary<string, string>? selector, IReadOnlyDictionary<string, string> labels) =>
        selector is null || selector.All(pair => labels.TryGetValue(pair.Key, out var value) && value == pair.Value);

    /// <summary>Same rules as the Kubernetes helper <c>ToleratesTaint</c>.</summary>
    public static bool Tolerates(V1Toleration toleration, V1Taint taint)
    {
        if (!string.IsNullOrEmpty(toleration.Effect) && toleration.Effect != taint.Effect) return false;
        if (!string.IsNullOrEmpty(toleration.Key) && toleration.Key != taint.Key) return false;
        return toleration.OperatorProperty switch
        {
            "Exists" => true,
            null or "" or "Equal" => !string.IsNullOrEmpty(toleration.Key) && (toleration.Value ?? "") == (taint.Value ?? ""),
            _ => false,
        };
    }

    // requiredDuringSchedulingIgnoredDuringExecution: the terms are ORed, expressions within a term ANDed.
    private static bool RequiredAffinityMatches(V1Affinity? affinity, IReadOnlyDictionary<string, string> labels)
    {
        var terms = affinity?.NodeAffinity?.RequiredDuringSchedulingIgnoredDuringExecution?.NodeSelectorTerms;
        if (terms is null || terms.Count == 0) return true;
        return terms.Any(term => (term.MatchExpressions ?? []).All(expression => ExpressionMatches(expression, labels)));
    }

    public static bool ExpressionMatches(V1NodeSelectorRequirement requirement, IReadOnlyDictionary<string, string> labels)
    {
        var present = labels.TryGetValue(requirement.Key, out var value);
        var values = requirement.Values ?? [];
        return requirement.OperatorProperty switch
        {
            "In" => present && values.Contains(value!),
            "NotIn" => !present || !values.Contains(value!),
            "Exists" => present,
            "DoesNotExist" => !present,
            "Gt" => present && long.TryParse(value, out var gt) && values.Count == 1 && long.TryParse(values[0], out var gtBound) && gt > gtBound,
            "Lt" => present && long.TryParse(value, out var lt) && values.Count == 1 && long.TryParse(values[0], out var ltBound) && lt < ltBound,
            _ => false,
        };
    }
}
