using System.Text.Json;

namespace Scheduler.Fleet;

/// <summary>The <c>/fleet</c> document: <see cref="FleetStatus"/> as camel-case JSON, read back by <c>scheduler status</c>.</summary>
public static class FleetStatusJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static string Serialize(FleetStatus status) => JsonSerializer.Serialize(status, Options);

    /// <summary>The document, or null with the reason when it is not one (another service at that address, a truncated answer).</summary>
    public static FleetStatus? Parse(string json, out string? error)
    {
        try
        {
            var status = JsonSerializer.Deserialize<FleetStatus>(json, Options);
            error = status?.Nodes is null ? "the answer is not a fleet status document" : null;
            return error is null ? status : null;
        }
        catch (JsonException e)
        {
            error = $"the answer is not a fleet status document: {e.Message}";
            return null;
        }
    }
}
