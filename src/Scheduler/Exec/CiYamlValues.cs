using YamlDotNet.RepresentationModel;

namespace Scheduler.Exec;

/// <summary>Reads the scalar shapes of a .gitlab-ci.yml (strings, booleans, lists, scripts, variables, durations); every
/// problem becomes a diagnostic, never an exception.</summary>
internal static class CiYamlValues
{
    internal static string? Scalar(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }

        diagnostics.Error(node, key, "must be a string");
        return null;
    }

    internal static bool Bool(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        var text = Scalar(node, key, diagnostics);
        switch (text)
        {
            case "true": return true;
            case "false": return false;
            case null: return false;
            default:
                diagnostics.Error(node, key, $"must be true or false, got \"{text}\"");
                return false;
        }
    }

    internal static string OneOf(YamlNode node, string key, CiDiagnosticList diagnostics, params string[] allowed)
    {
        var text = Scalar(node, key, diagnostics);
        if (text is not null && !allowed.Contains(text))
        {
            diagnostics.Error(node, key, $"must be one of {string.Join(", ", allowed)}, got \"{text}\"");
        }
        return text ?? allowed[0];
    }

    /// <summary>A string or a list of strings.</summary>
    internal static IReadOnlyList<string> StringList(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                return [scalar.Value ?? ""];
            case YamlSequenceNode sequence:
                var items = new List<string>();
                foreach (var item in sequence.Children)
                {
                    if (Scalar(item, key, diagnostics) is { } value)
                    {
                        items.Add(value);
                    }
                }
                return items;
            default:
                diagnostics.Error(node, key, "must be a string or a list of strings");
                return [];
        }
    }

    /// <summary>A script: a string, or a list whose nested lists are flattened (what YAML anchors of lists produce).</summary>
    internal static IReadOnlyList<string> Script(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        var lines = new List<string>();
        AddScript(node, key, diagnostics, lines, depth: 0);
        return lines;
    }

    private static void AddScript(YamlNode node, string key, CiDiagnosticList diagnostics, List<string> lines, int depth)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                lines.Add(scalar.Value ?? "");
                break;
            case YamlSequenceNode sequence when depth < 10:
                foreach (var item in sequence.Children)
                {
                    AddScript(item, key, diagnostics, lines, depth + 1);
                }
                break;
            default:
                diagnostics.Error(node, key, "a script must be a string or a list of strings");
                break;
        }
    }

    internal static IReadOnlyList<CiVariable> Variables(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        if (node is not YamlMappingNode mapping)
        {
            diagnostics.Error(node, key, "variables must be a mapping of names to values");
            return [];
        }

        var variables = new List<CiVariable>();
        foreach (var (k, value) in mapping.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            var path = $"{key}:{name}";
            if (name.Length == 0)
            {
                diagnostics.Error(k, key, "a variable name must be a non-empty string");
                continue;
            }

            switch (value)
            {
                case YamlScalarNode scalar:
                    variables.Add(new CiVariable(name, scalar.Value ?? ""));
                    break;
                case YamlMappingNode detailed when detailed.Children.TryGetValue(new YamlScalarNode("value"), out var inner):
                    if (Scalar(inner, $"{path}:value", diagnostics) is { } text)
                    {
                        variables.Add(new CiVariable(name, text));
                    }
                    break;
                default:
                    diagnostics.Error(value, path, "a variable must be a string, a number, or a mapping with a value");
                    break;
            }
        }
        return variables;
    }

    internal static int? Timeout(YamlNode node, string key, CiDiagnosticList diagnostics)
    {
        var text = Scalar(node, key, diagnostics);
        if (text is null)
        {
            return null;
        }

        if (DurationText.TryParseSeconds(text, out var seconds) && seconds > 0)
        {
            return seconds;
        }

        diagnostics.Error(node, key, $"\"{text}\" is not a duration (e.g. \"1h 30m\", \"90 minutes\", \"3600\")");
        return null;
    }
}
