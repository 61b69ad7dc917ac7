using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace Scheduler.Fleet;

/// <summary>
/// Takes the place of Akka's default <c>json</c> serializer (Newtonsoft, id 1) on a fleet node (registered in <c>Hosting/SchedulerAkka</c>).
/// Newtonsoft builds whatever type a payload's manifest names, so a peer could make a node instantiate any type it
/// can load; this serializer owns id 1 and the <c>System.Object</c> fallback and refuses both ways: a message without its
/// own serializer never leaves the node, and a payload that names id 1 is dropped without looking at its manifest.
/// </summary>
public sealed class RefusingSerializer : SerializerWithStringManifest
{
    /// <summary>The id of Akka's Newtonsoft serializer, which this one replaces.</summary>
    public const int SerializerId = 1;

    public RefusingSerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <summary>Akka builds the serializer named <c>json</c> with its <c>serialization-settings.json</c> section.</summary>
    public RefusingSerializer(ExtendedActorSystem system, Akka.Configuration.Config settings) : base(system)
    {
    }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => throw Refused(o.GetType().FullName ?? o.GetType().Name);

    public override byte[] ToBinary(object obj) =>
        throw new ArgumentException($"{obj.GetType()} has no serializer of its own and must not cross nodes", nameof(obj));

    public override object FromBinary(byte[] bytes, string manifest) => throw Refused(manifest);

    private static SerializationException Refused(string type) =>
        new($"refused a payload for the generic JSON serializer (type \"{Truncate(type)}\"): only fleet messages cross nodes");

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "…";
}
