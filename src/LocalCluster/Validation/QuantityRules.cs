using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Scheduler.LocalCluster.Validation;

/// <summary>resource.Quantity syntax (<c>500m</c>, <c>1Gi</c>, <c>1e3</c>) and the resources of a pod's containers.</summary>
public static partial class QuantityRules
{
    public const string QuantityMessage = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

    [GeneratedRegex(@"^(?<num>[+-]?(\d+(\.\d*)?|\.\d+))(?<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")]
    private static partial Regex Quantity();

    /// <summary>The quantity's value, or null when it is not a valid quantity.</summary>
    public static decimal? Parse(string text)
    {
        var m = Quantity().Match(text);
        if (!m.Success) return null;
        if (!decimal.TryParse(m.Groups["num"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)) return null;
        var suffix = m.Groups["suffix"].Value;
        try
        {
            return suffix switch
            {
                "" => number,
                "Ki" => number * 1024m, "Mi" => number * 1048576m, "Gi" => number * 1073741824m,
                "Ti" => number * 1099511627776m, "Pi" => number * 1125899906842624m, "Ei" => number * 1152921504606846976m,
                "n" => number / 1_000_000_000m, "u" => number / 1_000_000m, "m" => number / 1000m,
                "k" => number * 1e3m, "M" => number * 1e6m, "G" => number * 1e9m, "T" => number * 1e12m,
                "P" => number * 1e15m, "E" => number * 1e18m,
                _ => number * Pow10(int.Parse(suffix[1..], CultureInfo.InvariantCulture)),
            };
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    private static decimal Pow10(int exponent)
    {
        if (exponent is > 28 or < -28) throw new OverflowException();
        var result = 1m;
        for (var i = 0; i < Math.Abs(exponent); i++) result *= 10m;
        return exponent < 0 ? 1m / result : result;
    }

    /// <summary>
    /// Checks <c>resources.requests/limits</c> of every container in a raw pod (before it is parsed, since an invalid
    /// quantity cannot be parsed): syntax, non-negative, a request no larger than its limit.
    /// </summary>
    public static List<FieldError> ValidatePodResources(JsonObject rawPod)
    {
        var errors = new List<FieldError>();
        foreach (var listName in new[] { "initContainers", "containers" })
        {
            if (rawPod["spec"]?[listName] is not JsonArray containers) continue;
            for (var i = 0; i < containers.Count; i++)
            {
                if (containers[i]?["resources"] is not JsonObject resources) continue;
                var parsed = new Dictionary<string, Dictionary<string, decimal>>();
                foreach (var kind in new[] { "limits", "requests" })
                {
                    parsed[kind] = new Dictionary<string, decimal>();
                    if (resources[kind] is not JsonObject values) continue;
                    foreach (var (name, node) in values)
                    {
                        var field = $"spec.{listName}[{i}].resources.{kind}[{name}]";
                        var text = node is JsonValue v && v.TryGetValue<string>(out var s) ? s : node?.ToJsonString() ?? "";
                        var value = Parse(text);
                        if (value is null) errors.Add(FieldError.Invalid(field, text, QuantityMessage));
                        else if (value < 0) errors.Add(FieldError.Invalid(field, text, "must be greater than or equal to 0"));
                        else parsed[kind][name] = value.Value;
                    }
                }
                foreach (var (name, request) in parsed["requests"])
                    if (parsed["limits"].TryGetValue(name, out var limit) && request > limit)
                        errors.Add(FieldError.Invalid($"spec.{listName}[{i}].resources.requests", (string?)resources["requests"]?[name]?.ToString(),
                            $"must be less than or equal to {name} limit of {resources["limits"]?[name]}"));
            }
        }
        return errors;
    }
}
