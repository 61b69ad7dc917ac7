using System.Text.Json.Nodes;

namespace Scheduler.LocalCluster.Store;

/// <summary>A parsed field selector (<c>metadata.name=x,status.phase!=Failed</c>) over a resource's supported field labels.</summary>
public sealed class FieldSelector
{
    private sealed record Requirement(string Field, bool Equal, string Value);

    private readonly IReadOnlyList<Requirement> _requirements;

    private FieldSelector(IReadOnlyList<Requirement> requirements) => _requirements = requirements;

    public static FieldSelector Everything { get; } = new([]);

    /// <summary>Parses; throws FormatException for bad syntax or a field the resource does not support.</summary>
    public static FieldSelector Parse(string? text, IReadOnlyCollection<string> supportedFields)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var requirements = new List<Requirement>();
        foreach (var part in text.Split(','))
        {
            var term = part.Trim();
            if (term.Length == 0) continue;
            string field, value;
            bool equal;
            int at;
            if ((at = term.IndexOf("!=", StringComparison.Ordinal)) >= 0) { field = term[..at]; value = term[(at + 2)..]; equal = false; }
            else if ((at = term.IndexOf("==", StringComparison.Ordinal)) >= 0) { field = term[..at]; value = term[(at + 2)..]; equal = true; }
            else if ((at = term.IndexOf('=')) >= 0) { field = term[..at]; value = term[(at + 1)..]; equal = true; }
            else throw new FormatException($"invalid selector: '{text}'; can't understand '{term}'");
            field = field.Trim();
            if (!supportedFields.Contains(field)) throw new FormatException($"field label not supported: {field}");
            requirements.Add(new Requirement(field, equal, value.Trim()));
        }
        return new FieldSelector(requirements);
    }

    public bool Matches(JsonObject obj) =>
        _requirements.All(r => (FieldValue(obj, r.Field) == r.Value) == r.Equal);

    /// <summary>The string value of a field label; absent fields read as empty, as kube's field sets.</summary>
    public static string FieldValue(JsonObject obj, string field)
    {
        if (field == "source") field = "source.component";
        JsonNode? node = obj;
        foreach (var part in field.Split('.'))
        {
            node = node is JsonObject o ? o[part] : null;
            if (node is null) return "";
        }
        return node is JsonValue v ? (v.TryGetValue<string>(out var s) ? s : v.ToJsonString()) : "";
    }
}
