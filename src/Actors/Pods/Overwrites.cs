using System.Text.RegularExpressions;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>The values a job may overwrite, after its overwrite variables were checked against the allow-lists.
/// <see cref="PodAnnotations"/> are final: config values and job overwrites, expanded with the job's variables.</summary>
public sealed record ResolvedOverwrites(
    string Namespace,
    string? ServiceAccount,
    string? BearerToken,
    IReadOnlyDictionary<string, string> PodAnnotations)
{
    /// <summary>The config node selector with the job's allowed <c>KUBERNETES_NODE_SELECTOR_*</c> entries.</summary>
    public IReadOnlyDictionary<string, string> NodeSelector { get; init; } = new Dictionary<string, string>();

    /// <summary>The config tolerations (<c>"key[=value]" = "effect"</c>) with the job's allowed <c>KUBERNETES_NODE_TOLERATIONS_*</c> entries.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> NodeTolerations { get; init; } = [];

    /// <summary>The job's allowed <c>KUBERNETES_POD_LABELS_*</c> entries (config pod_labels are applied by the pod builder).</summary>
    public IReadOnlyDictionary<string, string> PodLabels { get; init; } = new Dictionary<string, string>();

    // The bearer token is a credential: never printed.
    public override string ToString() =>
        $"ResolvedOverwrites {{ Namespace = {Namespace}, ServiceAccount = {ServiceAccount}, BearerToken = {(BearerToken is null ? "(config)" : "[hidden]")}, PodAnnotations = {PodAnnotations.Count} }}";
}

/// <summary>The overwrites, or why the job is refused.</summary>
public sealed record OverwriteResult(ResolvedOverwrites? Overwrites, string? Refusal)
{
    public bool IsRefused => Refusal is not null;
}

/// <summary>Job-variable overwrites of namespace, service account, bearer token and pod annotations, as GitLab Runner
/// applies them: a value is first expanded with the job's variables, then matched UNANCHORED against the allow-list
/// (users anchor with <c>^…$</c>); an empty allow-list disables the overwrite silently.</summary>
public static class Overwrites
{
    public const string NamespaceVariable = "KUBERNETES_NAMESPACE_OVERWRITE";
    public const string ServiceAccountVariable = "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE";
    public const string BearerTokenVariable = "KUBERNETES_BEARER_TOKEN";
    public const string PodAnnotationsPrefix = "KUBERNETES_POD_ANNOTATIONS_";
    public const string NodeSelectorPrefix = "KUBERNETES_NODE_SELECTOR_";
    public const string NodeTolerationsPrefix = "KUBERNETES_NODE_TOLERATIONS_";
    public const string PodLabelsPrefix = "KUBERNETES_POD_LABELS_";

    // Values come from jobs: a linear-time engine and a timeout, whatever the pattern.
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);
    private const RegexOptions PatternOptions = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    public static OverwriteResult Resolve(KubernetesSettings settings, IReadOnlyList<JobVariable> variables)
    {
        var lookup = new JobVariableLookup(variables);

        var ns = Scalar("namespace", settings.Namespace ?? "", settings.NamespaceOverwriteAllowed, NamespaceVariable, lookup,
            showValue: true, out var refusal);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        var serviceAccount = Scalar("service account", settings.ServiceAccount ?? "", settings.ServiceAccountOverwriteAllowed,
            ServiceAccountVariable, lookup, showValue: true, out refusal);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        // A true bool gate means the pattern ".+": any non-empty value.
        string? bearerToken = null;
        if (settings.BearerTokenOverwriteAllowed)
        {
            var token = Scalar("bearer token", "", ".+", BearerTokenVariable, lookup, showValue: false, out refusal);
            if (refusal is not null)
            {
                return Refuse(refusal);
            }

            bearerToken = token.Length > 0 ? token : null;
        }

        var annotations = Annotations(settings, variables, lookup, out refusal);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        var nodeSelector = new Dictionary<string, string>(settings.NodeSelector, StringComparer.Ordinal);
        refusal = MapOverwrites("node selector", settings.NodeSelectorOverwriteAllowed, NodeSelectorPrefix, variables, lookup,
            (key, value) => nodeSelector[key] = value);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        var tolerations = settings.NodeTolerations.ToList();
        refusal = TolerationOverwrites(settings.NodeTolerationsOverwriteAllowed, variables, lookup, tolerations);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        var podLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        refusal = MapOverwrites("pod labels", settings.PodLabelsOverwriteAllowed, PodLabelsPrefix, variables, lookup,
            (key, value) => podLabels[key] = value);
        if (refusal is not null)
        {
            return Refuse(refusal);
        }

        return new OverwriteResult(
            new ResolvedOverwrites(ns, serviceAccount.Length > 0 ? serviceAccount : null, bearerToken, annotations!)
            {
                NodeSelector = nodeSelector,
                NodeTolerations = tolerations,
                PodLabels = podLabels,
            }, null);
    }

    /// <summary>
    /// <c>PREFIX*</c> job variables of the form <c>key=value</c>, in job order (a later one for the same key wins), as
    /// GitLab Runner's map overwrites: the allow-list pattern is matched UNANCHORED against the whole expanded
    /// <c>key=value</c>. The values end up in the pod spec, so masked or non-public values are refused and never printed.
    /// </summary>
    private static string? MapOverwrites(string field, string? pattern, string prefix, IReadOnlyList<JobVariable> variables,
        JobVariableLookup lookup, Action<string, string> set)
    {
        var allowed = AllowedValues(field, pattern, prefix, variables, lookup, out var refusal);
        foreach (var (variable, value) in allowed)
        {
            var equals = value.IndexOf('=');
            if (equals < 0)
            {
                return $"{field} overwrite {Shown(lookup.Find(variable)!, value, lookup)} (from {variable}) is malformed: expected key=value";
            }

            set(value[..equals], value[(equals + 1)..]);
        }

        return refusal;
    }

    /// <summary><c>KUBERNETES_NODE_TOLERATIONS_*</c> = <c>key[=value][:effect]</c> (kubectl taint syntax), split on the first
    /// <c>:</c> into the config form <c>"key[=value]" = "effect"</c>; an empty value tolerates every taint, as in GitLab Runner.</summary>
    private static string? TolerationOverwrites(string? pattern, IReadOnlyList<JobVariable> variables, JobVariableLookup lookup,
        List<KeyValuePair<string, string>> tolerations)
    {
        var allowed = AllowedValues("node tolerations", pattern, NodeTolerationsPrefix, variables, lookup, out var refusal);
        foreach (var (variable, value) in allowed)
        {
            var colon = value.IndexOf(':');
            var key = colon < 0 ? value : value[..colon];
            var effect = colon < 0 ? "" : value[(colon + 1)..];
            if (effect is not ("" or "NoSchedule" or "PreferNoSchedule" or "NoExecute"))
            {
                return IsPrintable(lookup.Find(variable)!, lookup)
                    ? $"node tolerations overwrite \"{value}\" (from {variable}) has the unsupported effect \"{effect}\"; "
                      + "use NoSchedule, PreferNoSchedule, NoExecute or none"
                    : $"node tolerations overwrite (from {variable}; {NotShown}) has an unsupported effect; "
                      + "use NoSchedule, PreferNoSchedule, NoExecute or none";
            }

            // A later definition of the same key wins, as with a map.
            tolerations.RemoveAll(t => t.Key == key);
            tolerations.Add(KeyValuePair.Create(key, effect));
        }

        return refusal;
    }

    /// <summary>The expanded values of the <paramref name="prefix"/> variables that the pattern allows, in job order;
    /// stops at the first refusal. No pattern: none (the overwrite is disabled).</summary>
    private static List<(string Variable, string Value)> AllowedValues(string field, string? pattern, string prefix,
        IReadOnlyList<JobVariable> variables, JobVariableLookup lookup, out string? refusal)
    {
        refusal = null;
        var result = new List<(string, string)>();
        if (string.IsNullOrEmpty(pattern))
        {
            return result;
        }

        foreach (var variable in variables.Where(v => v.Key.StartsWith(prefix, StringComparison.Ordinal)))
        {
            if (variable.Masked)
            {
                refusal = $"{variable.Key} is masked; a masked value never goes into the pod spec";
                return [];
            }

            if (variable.File)
            {
                refusal = $"{variable.Key} is a file variable; a file's content never goes into the pod spec";
                return [];
            }

            var value = lookup.ExpandShowable(variable.Value, out var hidden);
            if (hidden is not null)
            {
                refusal = $"{variable.Key} refers to the masked, non-public or file variable {hidden}; secrets never go into the pod spec";
                return [];
            }

            if (!Matches(pattern, value, out var error))
            {
                refusal = error is not null
                    ? $"{field} overwrite: the allow-list pattern \"{pattern}\" cannot be used: {error}"
                    : $"{field} overwrite {Shown(variable, value, lookup)} (from {variable.Key}) does not match the allowed pattern \"{pattern}\"";
                return [];
            }

            result.Add((variable.Key, value));
        }

        return result;
    }

    private static OverwriteResult Refuse(string reason) => new(null, reason);

    private const string NotShown = "value not shown: it is or refers to a masked, non-public or file variable";

    /// <summary>Whether a refusal may print the expanded value of <paramref name="variable"/>: only when it and every
    /// variable it refers to are public, unmasked and not files (a file variable's value is the file's content).</summary>
    internal static bool IsPrintable(JobVariable variable, JobVariableLookup lookup) =>
        variable is { IsShowable: true, File: false }
        && VariableExpander.References(variable.Value).All(name => lookup.Find(name) is null or { IsShowable: true, File: false });

    private static string Shown(JobVariable variable, string value, JobVariableLookup lookup) =>
        IsPrintable(variable, lookup) ? $"\"{value}\"" : $"({NotShown})";

    private static string Scalar(string field, string configValue, string? pattern, string variableName, JobVariableLookup lookup,
        bool showValue, out string? refusal)
    {
        refusal = null;
        if (string.IsNullOrEmpty(pattern))
        {
            return configValue;
        }

        var variable = lookup.Find(variableName);
        var value = variable is null ? "" : lookup.ExpandAll(variable.Value);
        if (value.Length == 0)
        {
            return configValue;
        }

        if (!Matches(pattern, value, out var error))
        {
            refusal = error is not null
                ? $"{field} overwrite: the allow-list pattern \"{pattern}\" cannot be used: {error}"
                : showValue && IsPrintable(variable!, lookup)
                    ? $"{field} overwrite \"{value}\" (from {variableName}) does not match the allowed pattern \"{pattern}\""
                    : $"{field} overwrite (from {variableName}; {NotShown}) does not match the allowed pattern \"{pattern}\"";
            return configValue;
        }

        return value;
    }

    private static IReadOnlyDictionary<string, string>? Annotations(KubernetesSettings settings, IReadOnlyList<JobVariable> variables,
        JobVariableLookup lookup, out string? refusal)
    {
        refusal = null;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in settings.PodAnnotations)
        {
            var expanded = lookup.ExpandShowable(value, out var hidden);
            if (hidden is not null)
            {
                refusal = $"pod_annotations \"{key}\" refers to the masked, non-public or file variable {hidden}; secrets never go into annotations";
                return null;
            }

            result[key] = expanded;
        }

        var pattern = settings.PodAnnotationsOverwriteAllowed;
        if (string.IsNullOrEmpty(pattern))
        {
            return result;
        }

        // Job variables in list order; a later one for the same annotation wins.
        foreach (var variable in variables)
        {
            if (!variable.Key.StartsWith(PodAnnotationsPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (variable.Masked)
            {
                refusal = $"{variable.Key} is masked; a masked value never goes into pod annotations";
                return null;
            }

            if (variable.File)
            {
                refusal = $"{variable.Key} is a file variable; a file's content never goes into pod annotations";
                return null;
            }

            var value = lookup.ExpandShowable(variable.Value, out var hidden);
            if (hidden is not null)
            {
                refusal = $"{variable.Key} refers to the masked, non-public or file variable {hidden}; secrets never go into annotations";
                return null;
            }

            if (!Matches(pattern, value, out var error))
            {
                refusal = error is not null
                    ? $"pod annotations overwrite: the allow-list pattern \"{pattern}\" cannot be used: {error}"
                    : $"pod annotations overwrite {Shown(variable, value, lookup)} (from {variable.Key}) does not match the allowed pattern \"{pattern}\"";
                return null;
            }

            var equals = value.IndexOf('=');
            if (equals < 0)
            {
                refusal = $"pod annotations overwrite {Shown(variable, value, lookup)} (from {variable.Key}) is malformed: expected key=value";
                return null;
            }

            result[value[..equals]] = value[(equals + 1)..];
        }

        return result;
    }

    /// <summary>Unanchored match, as Go's <c>regexp.MatchString</c>. <paramref name="error"/> is set when the pattern
    /// does not compile for the linear-time engine or the match times out.</summary>
    public static bool Matches(string pattern, string value, out string? error)
    {
        error = null;
        try
        {
            return new Regex(pattern, PatternOptions, MatchTimeout).IsMatch(value);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            error = ex.Message;
            return false;
        }
        catch (RegexMatchTimeoutException)
        {
            error = "matching timed out";
            return false;
        }
    }
}
