using System.Text;
using System.Text.Json.Nodes;

namespace Scheduler.LocalCluster.Api;

/// <summary>
/// Decodes the few objects kubectl's typed commands send as <c>application/vnd.kubernetes.protobuf</c>
/// (<c>kubectl create namespace|secret|configmap|serviceaccount</c>) into their JSON form. The envelope is the
/// magic <c>k8s\0</c> and a runtime.Unknown {typeMeta, raw}; the field numbers are those of k8s.io/api's generated.proto.
/// </summary>
internal static class ProtobufObjects
{
    public const string ContentType = "application/vnd.kubernetes.protobuf";
    private static readonly byte[] Magic = "k8s\0"u8.ToArray();

    /// <summary>The object as JSON; FormatException when the bytes are not a supported protobuf object.</summary>
    public static JsonObject Decode(byte[] body)
    {
        if (body.Length < Magic.Length || !body.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new FormatException("missing the k8s protobuf envelope");
        string? apiVersion = null, kind = null;
        byte[]? raw = null;
        foreach (var (field, value) in Fields(body.AsMemory(Magic.Length)))
        {
            if (field == 1)
            {
                foreach (var (typeField, typeValue) in Fields(value))
                {
                    if (typeField == 1) apiVersion = Text(typeValue);
                    if (typeField == 2) kind = Text(typeValue);
                }
            }
            if (field == 2) raw = value.ToArray();
        }
        if (raw is null || kind is null) throw new FormatException("the protobuf envelope carries no object");
        var obj = kind switch
        {
            "Namespace" => MetadataOnly(raw),
            "Secret" => Secret(raw),
            "ConfigMap" => ConfigMap(raw),
            "ServiceAccount" => MetadataOnly(raw),
            _ => throw new FormatException($"{kind} objects are accepted as JSON only"),
        };
        obj["apiVersion"] = apiVersion ?? "v1";
        obj["kind"] = kind;
        return obj;
    }

    private static JsonObject MetadataOnly(byte[] raw)
    {
        var obj = new JsonObject();
        foreach (var (field, value) in Fields(raw))
            if (field == 1) obj["metadata"] = ObjectMeta(value);
        return obj;
    }

    private static JsonObject Secret(byte[] raw)
    {
        var obj = new JsonObject();
        JsonObject data = new(), stringData = new();
        foreach (var (field, value) in Fields(raw))
        {
            switch (field)
            {
                case 1: obj["metadata"] = ObjectMeta(value); break;
                case 2: AddMapEntry(data, value, bytes => Convert.ToBase64String(bytes.Span)); break;
                case 3 when value.Length > 0: obj["type"] = Text(value); break;
                case 4: AddMapEntry(stringData, value, bytes => Text(bytes)); break;
                case 5: obj["immutable"] = value.Length > 0 && value.Span[0] != 0; break;
            }
        }
        if (data.Count > 0) obj["data"] = data;
        if (stringData.Count > 0) obj["stringData"] = stringData;
        return obj;
    }

    private static JsonObject ConfigMap(byte[] raw)
    {
        var obj = new JsonObject();
        JsonObject data = new(), binary = new();
        foreach (var (field, value) in Fields(raw))
        {
            switch (field)
            {
                case 1: obj["metadata"] = ObjectMeta(value); break;
                case 2: AddMapEntry(data, value, bytes => Text(bytes)); break;
                case 3: AddMapEntry(binary, value, bytes => Convert.ToBase64String(bytes.Span)); break;
                case 4: obj["immutable"] = value.Length > 0 && value.Span[0] != 0; break;
            }
        }
        if (data.Count > 0) obj["data"] = data;
        if (binary.Count > 0) obj["binaryData"] = binary;
        return obj;
    }

    private static JsonObject ObjectMeta(ReadOnlyMemory<byte> raw)
    {
        var meta = new JsonObject();
        JsonObject labels = new(), annotations = new();
        var finalizers = new JsonArray();
        foreach (var (field, value) in Fields(raw))
        {
            switch (field)
            {
                // Go's generated protobuf writes empty strings; they mean "not set".
                case 1 when value.Length > 0: meta["name"] = Text(value); break;
                case 2 when value.Length > 0: meta["generateName"] = Text(value); break;
                case 3 when value.Length > 0: meta["namespace"] = Text(value); break;
                case 11: AddMapEntry(labels, value, bytes => Text(bytes)); break;
                case 12: AddMapEntry(annotations, value, bytes => Text(bytes)); break;
                case 14: finalizers.Add(Text(value)); break;
            }
        }
        if (labels.Count > 0) meta["labels"] = labels;
        if (annotations.Count > 0) meta["annotations"] = annotations;
        if (finalizers.Count > 0) meta["finalizers"] = finalizers;
        return meta;
    }

    private static void AddMapEntry(JsonObject map, ReadOnlyMemory<byte> entry, Func<ReadOnlyMemory<byte>, string> value)
    {
        string key = "";
        ReadOnlyMemory<byte> raw = ReadOnlyMemory<byte>.Empty;
        foreach (var (field, bytes) in Fields(entry))
        {
            if (field == 1) key = Text(bytes);
            if (field == 2) raw = bytes;
        }
        map[key] = value(raw);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>The fields of a message; varints come back as their little-endian bytes (enough for bools).</summary>
    private static IEnumerable<(int Field, ReadOnlyMemory<byte> Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var pos = 0;
        while (pos < message.Length)
        {
            var tag = ReadVarint(message.Span, ref pos);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    var v = ReadVarint(message.Span, ref pos);
                    yield return (field, BitConverter.GetBytes(v));
                    break;
                case 1:
                    Require(message, pos, 8);
                    yield return (field, message.Slice(pos, 8));
                    pos += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message.Span, ref pos);
                    Require(message, pos, length);
                    yield return (field, message.Slice(pos, length));
                    pos += length;
                    break;
                case 5:
                    Require(message, pos, 4);
                    yield return (field, message.Slice(pos, 4));
                    pos += 4;
                    break;
                default:
                    throw new FormatException($"unsupported protobuf wire type {tag & 7}");
            }
        }
    }

    private static void Require(ReadOnlyMemory<byte> message, int pos, int length)
    {
        if (length < 0 || pos + length > message.Length) throw new FormatException("truncated protobuf message");
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int pos)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= span.Length) throw new FormatException("truncated protobuf varint");
            var b = span[pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new FormatException("protobuf varint too long");
    }
}
