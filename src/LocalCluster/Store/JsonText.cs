using System.Text.Json.Nodes;

namespace Scheduler.LocalCluster.Store;

/// <summary>Reads strings out of untrusted JSON: a value of another type reads as null instead of throwing.</summary>
internal static class JsonText
{
    public static string? Str(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
