using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using Scheduler.Messages.Fleet;

namespace Scheduler.Fleet;

/// <summary>
/// Serializes every <see cref="IFleetMessage"/> (bound in <c>Hosting/SchedulerAkka</c>) as System.Text.Json with the type's
/// name as manifest. Only the types in <see cref="KnownTypes"/> (an explicit allow-list) are ever built from the wire: an
/// unknown manifest is refused before anything is parsed, and System.Text.Json reads no type names from the payload.
/// </summary>
public sealed class FleetMessageSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4053;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public FleetMessageSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <summary>The allow-list: every fleet message type by its manifest. A new fleet message is added here (a test fails
    /// when an <see cref="IFleetMessage"/> is missing).</summary>
    public static FrozenDictionary<string, Type> KnownTypes { get; } = AllowList(
    [
        typeof(RequestSlot), typeof(SlotGranted), typeof(SlotRefused), typeof(ReleaseSlot), typeof(AdoptSlot),
        typeof(GetNodeStatus), typeof(NodeStatus),
        typeof(LeaseRequest), typeof(LeaseRelease), typeof(LeaseAdopt), typeof(LeaseReport),
    ]);

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => ManifestOf(o.GetType());

    public override byte[] ToBinary(object obj)
    {
        if (obj is not IFleetMessage || KnownTypes.GetValueOrDefault(ManifestOf(obj.GetType())) != obj.GetType())
        {
            throw new ArgumentException($"{obj.GetType()} is not an allowed fleet message and must not cross nodes", nameof(obj));
        }

        return JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!KnownTypes.TryGetValue(manifest, out var type))
        {
            throw new SerializationException(
                $"unknown fleet message \"{(manifest.Length <= 200 ? manifest : manifest[..200])}\" (a node of another version?)");
        }

        return JsonSerializer.Deserialize(bytes, type, Options)
               ?? throw new SerializationException($"fleet message \"{manifest}\" decoded to null");
    }

    public static string ManifestOf(Type type) => type.Name;

    private static FrozenDictionary<string, Type> AllowList(Type[] types)
    {
        var duplicate = types.GroupBy(ManifestOf).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"two fleet messages share the manifest \"{duplicate.Key}\"");
        }

        return types.ToFrozenDictionary(ManifestOf);
    }
}
