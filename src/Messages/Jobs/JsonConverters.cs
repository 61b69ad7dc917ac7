using System.Text.Json;
using System.Text.Json.Serialization;

namespace Scheduler.Messages.Jobs;

/// <summary>Reads <c>["a","b"]</c>, a single string (GitLab's own fixtures send <c>"sleep 30"</c>, split on whitespace
/// like a command line without quoting) or null (empty).</summary>
internal sealed class StringOrArrayConverter : JsonConverter<IReadOnlyList<string>>
{
    public override bool HandleNull => true;

    public override IReadOnlyList<string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return [];
            case JsonTokenType.String:
                return (reader.GetString() ?? "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            case JsonTokenType.StartArray:
                var items = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new JsonException($"expected a string in the array, found {Describe(reader.TokenType)}");
                    }

                    items.Add(reader.GetString() ?? "");
                }

                return items;
            default:
                throw new JsonException($"expected a string or an array of strings, found {Describe(reader.TokenType)}");
        }
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<string> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var item in value)
        {
            writer.WriteStringValue(item);
        }

        writer.WriteEndArray();
    }

    internal static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}

/// <summary>JSON null for a string reads as "": GitLab sends null for many optional strings.</summary>
internal sealed class NullAsEmptyStringConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Null => "",
            JsonTokenType.String => reader.GetString() ?? "",
            _ => throw new JsonException($"expected a string, found {StringOrArrayConverter.Describe(reader.TokenType)}"),
        };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>A string, an integer (written back as its decimal text, as GitLab Runner's <c>StringOrInt64</c>) or null ("").</summary>
internal sealed class StringOrIntegerConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Null => "",
            JsonTokenType.String => reader.GetString() ?? "",
            JsonTokenType.Number when reader.TryGetInt64(out var number) => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new JsonException($"expected a string or an integer, found {StringOrArrayConverter.Describe(reader.TokenType)}"),
        };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
