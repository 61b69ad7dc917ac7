using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using Scheduler.Messages.Fleet;

namespace Scheduler.Fleet;

/// <summary>
/// Serializes every <see cref="IFleetMessage"/> (bound in <c>hocon/cluster.hocon</c>) as System.Text.Json with the type's
/// name as manifest. The known types are found by reflection over the Messages assembly and this one, so a new fleet
/// message needs no registration here; an unknown manifest (a newer node) is a clear error, not a guess.
/// </summary>
public sealed class FleetMessageSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4053;

    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public FleetMessageSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <summary>Every concrete fleet message type by its manifest.</summary>
    public static FrozenDictionary<string, Type> KnownTypes { get; } = FindMessageTypes();

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => ManifestOf(o.GetType());

    public override byte[] ToBinary(object obj)
    {
        if (obj is not IFleetMessage)
        {
            throw new ArgumentException($"{obj.GetType()} is not a fleet message and must not cross nodes", nameof(obj));
        }

        return JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!KnownTypes.TryGetValue(manifest, out var type))
        {
            throw new SerializationException($"unknown fleet message \"{manifest}\" (a node of another version?)");
        }

        return JsonSerializer.Deserialize(bytes, type, Options)
               ?? throw new SerializationException($"fleet message \"{manifest}\" decoded to null");
    }

    public static string ManifestOf(Type type) => type.Name;

    private static FrozenDictionary<string, Type> FindMessageTypes()
    {
        var types = new[] { typeof(IFleetMessage).Assembly, typeof(FleetMessageSerializer).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => typeof(IFleetMessage).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .ToList();
        var duplicate = types.GroupBy(ManifestOf).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"two fleet messages share the manifest \"{duplicate.Key}\"");
        }

        return types.ToFrozenDictionary(ManifestOf);
    }
}
