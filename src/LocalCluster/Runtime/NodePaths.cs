using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// Turns names from pod specs into single path segments on the node. Kubernetes names are already safe; anything
/// else (a "../" from an unvalidated object) is replaced by a hash, so node directories stay inside the state dir —
/// they are deleted recursively when the pod goes.
/// </summary>
public static partial class NodePaths
{
    public static string SafeSegment(string? name)
    {
        if (!string.IsNullOrEmpty(name) && name != "." && name != ".." && SafePattern().IsMatch(name)) return name;
        return "h" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name ?? "")))[..32];
    }

    /// <summary>A relative path that stays inside its base (no root, no ".."), as Kubernetes requires of subPath and item paths.</summary>
    public static bool IsContainedRelativePath(string? path) =>
        !string.IsNullOrEmpty(path) && !Path.IsPathRooted(path) && !path.Split('/').Contains("..");

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")]
    private static partial Regex SafePattern();
}
