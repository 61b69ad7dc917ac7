using System.Text.Json;

namespace Scheduler.LocalCluster.Images;

/// <summary>The parts of an OCI image config that shape a container: <c>config.Entrypoint</c>, <c>Cmd</c>, <c>Env</c>,
/// <c>WorkingDir</c> and <c>User</c>.</summary>
public sealed record ImageConfig(
    IReadOnlyList<string> Entrypoint,
    IReadOnlyList<string> Cmd,
    IReadOnlyList<string> Env,
    string? WorkingDir,
    string? User)
{
    public static readonly ImageConfig Empty = new([], [], [], null, null);

    /// <summary>Reads an OCI (or Docker v2) image config document; missing fields are empty.</summary>
    public static ImageConfig Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object) return Empty;
        return new ImageConfig(
            Strings(config, "Entrypoint"),
            Strings(config, "Cmd"),
            Strings(config, "Env"),
            String(config, "WorkingDir"),
            String(config, "User"));
    }

    private static List<string> Strings(JsonElement config, string name) =>
        config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList()
            : [];

    private static string? String(JsonElement config, string name) =>
        config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : null;
}

/// <summary>Kubernetes' rules for a container started from an image. Pure.</summary>
public static class ImageRules
{
    /// <summary>
    /// The argv: <c>command</c> replaces the image's Entrypoint and <c>args</c> its Cmd; args alone run after the Entrypoint;
    /// neither runs Entrypoint + Cmd. Empty when there is nothing to run.
    /// </summary>
    public static IReadOnlyList<string> Command(IReadOnlyList<string>? command, IReadOnlyList<string>? args, ImageConfig image)
    {
        var hasCommand = command is { Count: > 0 };
        var hasArgs = args is { Count: > 0 };
        if (hasCommand) return [.. command!, .. args ?? []];
        if (hasArgs) return [.. image.Entrypoint, .. args!];
        return [.. image.Entrypoint, .. image.Cmd];
    }

    /// <summary>The image's Env as name → value (later entries win; entries without '=' are ignored).</summary>
    public static IReadOnlyDictionary<string, string> Environment(ImageConfig image)
    {
        var env = new Dictionary<string, string>();
        foreach (var entry in image.Env)
        {
            var eq = entry.IndexOf('=');
            if (eq > 0) env[entry[..eq]] = entry[(eq + 1)..];
        }
        return env;
    }

    /// <summary>
    /// The uid and gid of the image's <c>User</c> (<c>uid</c>, <c>uid:gid</c>, <c>name</c>, <c>name:group</c>), names looked
    /// up in the image's <c>/etc/passwd</c> and <c>/etc/group</c> text. A uid without a gid takes the user's primary group
    /// from passwd, else 0. Null uid: no User (root). Error when a name is not found.
    /// </summary>
    public static (long? Uid, long? Gid, string? Error) User(string? user, string? passwd, string? group)
    {
        if (string.IsNullOrEmpty(user)) return (null, null, null);
        var colon = user.IndexOf(':');
        var userPart = colon < 0 ? user : user[..colon];
        var groupPart = colon < 0 ? null : user[(colon + 1)..];
        var passwdEntries = Entries(passwd);
        long uid;
        long? primaryGid = null;
        if (long.TryParse(userPart, out var numeric) && numeric >= 0)
        {
            uid = numeric;
            var entry = passwdEntries.FirstOrDefault(e => e.Length > 3 && e[2] == userPart);
            if (entry is not null && long.TryParse(entry[3], out var g)) primaryGid = g;
        }
        else
        {
            var entry = passwdEntries.FirstOrDefault(e => e.Length > 3 && e[0] == userPart);
            if (entry is null || !long.TryParse(entry[2], out uid)) return (null, null, $"unable to find user {userPart}: no matching entries in passwd file");
            if (long.TryParse(entry[3], out var g)) primaryGid = g;
        }
        if (string.IsNullOrEmpty(groupPart)) return (uid, primaryGid ?? 0, null);
        if (long.TryParse(groupPart, out var gid) && gid >= 0) return (uid, gid, null);
        var groupEntry = Entries(group).FirstOrDefault(e => e.Length > 2 && e[0] == groupPart);
        return groupEntry is not null && long.TryParse(groupEntry[2], out gid)
            ? (uid, gid, null)
            : (null, null, $"unable to find group {groupPart}: no matching entries in group file");
    }

    private static List<string[]> Entries(string? text) =>
        (text ?? "").Split('\n').Where(line => line.Length > 0 && !line.StartsWith('#')).Select(line => line.Split(':')).ToList();
}
