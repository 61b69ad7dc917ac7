using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads <c>[runners.kubernetes.affinity]</c> with the Kubernetes API server's rules, so that a pod it would
/// reject is an error at load rather than a failed job.</summary>
internal static class SchedulingReader
{
    public static readonly string[] NodeOperators = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];
    public static readonly string[] LabelOperators = ["In", "NotIn", "Exists", "DoesNotExist"];

    private const string Required = "required_during_scheduling_ignored_during_execution";
    private const string Preferred = "preferred_during_scheduling_ignored_during_execution";

    private static readonly Dictionary<string, ConfigKeys.NoEffect> NothingElse = new();

    public static AffinitySettings Read(TableReader table)
    {
        var node = table.Table("node_affinity") is { } nodeTable ? NodeAffinity(nodeTable) : null;
        var pod = table.Table("pod_affinity") is { } podTable ? PodAffinity(podTable) : null;
        var anti = table.Table("pod_anti_affinity") is { } antiTable ? PodAffinity(antiTable) : null;
        table.ReportUnread(["node_affinity", "pod_affinity", "pod_anti_affinity"], NothingElse);
        return new AffinitySettings(node, pod, anti);
    }

    private static NodeAffinitySettings NodeAffinity(TableReader table)
    {
        IReadOnlyList<NodeSelectorTermSettings>? required = null;
        if (table.Table(Required) is { } selector)
        {
            required = (selector.TableArray("node_selector_terms") ?? []).Select(NodeSelectorTerm).ToList();
            if (required.Count == 0)
            {
                selector.Diagnostics.Error(selector.Position, selector.KeyPath("node_selector_terms"),
                    "a required node affinity needs at least one [[node_selector_terms]] (an empty list matches no node)");
            }

            selector.ReportUnread(["node_selector_terms"], NothingElse);
        }

        var preferred = (table.TableArray(Preferred) ?? []).Select(term =>
        {
            var weight = Weight(term);
            var preferenceTable = term.Table("preference");
            if (preferenceTable is null)
            {
                term.Diagnostics.Error(term.Position, term.KeyPath("preference"), "a preferred node affinity term needs a preference");
            }

            var preference = preferenceTable is null ? new NodeSelectorTermSettings([], []) : NodeSelectorTerm(preferenceTable);

            term.ReportUnread(["weight", "preference"], NothingElse);
            return new PreferredSchedulingTermSettings(weight, preference);
        }).ToList();
        table.ReportUnread([Required, Preferred], NothingElse);
        return new NodeAffinitySettings(required, preferred);
    }

    private static NodeSelectorTermSettings NodeSelectorTerm(TableReader table)
    {
        var expressions = Requirements(table, "match_expressions", NodeOperators);
        var fields = Requirements(table, "match_fields", NodeOperators);
        table.ReportUnread(["match_expressions", "match_fields"], NothingElse);
        return new NodeSelectorTermSettings(expressions, fields);
    }

    private static PodAffinitySettings PodAffinity(TableReader table)
    {
        var required = (table.TableArray(Required) ?? []).Select(PodAffinityTerm).ToList();
        var preferred = (table.TableArray(Preferred) ?? []).Select(term =>
        {
            var weight = Weight(term);
            PodAffinityTermSettings inner;
            if (term.Table("pod_affinity_term") is { } t)
            {
                inner = PodAffinityTerm(t);
            }
            else
            {
                term.Diagnostics.Error(term.Position, term.KeyPath("pod_affinity_term"), "a weighted pod affinity term needs a pod_affinity_term");
                inner = new PodAffinityTermSettings(null, [], "", null);
            }

            term.ReportUnread(["weight", "pod_affinity_term"], NothingElse);
            return new WeightedPodAffinityTermSettings(weight, inner);
        }).ToList();
        table.ReportUnread([Required, Preferred], NothingElse);
        return new PodAffinitySettings(required, preferred);
    }

    private static PodAffinityTermSettings PodAffinityTerm(TableReader table)
    {
        var labelSelector = table.Table("label_selector") is { } l ? LabelSelector(l) : null;
        var namespaceSelector = table.Table("namespace_selector") is { } n ? LabelSelector(n) : null;
        var namespaces = table.StringList("namespaces") ?? [];
        var topologyKey = table.String("topology_key") ?? "";
        if (topologyKey.Length == 0)
        {
            table.Diagnostics.Error(table.ValuePosition("topology_key"), table.KeyPath("topology_key"),
                "a pod affinity term needs a topology_key (for example \"kubernetes.io/hostname\")");
        }
        else if (!ConfigRules.IsQualifiedName(topologyKey))
        {
            table.Diagnostics.Error(table.ValuePosition("topology_key"), table.KeyPath("topology_key"),
                $"\"{topologyKey}\" is not a valid label key");
        }

        table.ReportUnread(["label_selector", "namespace_selector", "namespaces", "topology_key"], NothingElse);
        return new PodAffinityTermSettings(labelSelector, namespaces, topologyKey, namespaceSelector);
    }

    private static LabelSelectorSettings LabelSelector(TableReader table)
    {
        var labels = KubernetesSettingsReader.ToDictionary(table.StringMap("match_labels"));
        var expressions = Requirements(table, "match_expressions", LabelOperators);
        table.ReportUnread(["match_labels", "match_expressions"], NothingElse);
        return new LabelSelectorSettings(labels, expressions);
    }

    private static int Weight(TableReader term)
    {
        var weight = term.Int("weight");
        if (weight is not (>= 1 and <= 100))
        {
            term.Diagnostics.Error(term.ValuePosition("weight"), term.KeyPath("weight"), "weight must be between 1 and 100");
            return 1;
        }

        return weight.Value;
    }

    private static List<SelectorRequirementSettings> Requirements(TableReader table, string key, string[] operators)
    {
        var result = new List<SelectorRequirementSettings>();
        foreach (var requirement in table.TableArray(key) ?? [])
        {
            var name = requirement.String("key") ?? "";
            var op = requirement.String("operator") ?? "";
            var values = requirement.StringList("values") ?? [];
            requirement.ReportUnread(["key", "operator", "values"], NothingElse);
            if (name.Length == 0)
            {
                requirement.Diagnostics.Error(requirement.ValuePosition("key"), requirement.KeyPath("key"), "a requirement needs a key");
            }

            if (ConfigRules.SelectorRequirementError(op, values, operators) is { } error)
            {
                requirement.Diagnostics.Error(requirement.ValuePosition("operator"), requirement.KeyPath("operator"), error);
            }

            result.Add(new SelectorRequirementSettings(name, op, values));
        }

        return result;
    }
}
