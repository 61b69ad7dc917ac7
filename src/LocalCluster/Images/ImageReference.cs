using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.LocalCluster.Images;

/// <summary>
/// An image name as the container runtimes read it (distribution/reference): <c>[host[:port]/]path[:tag][@digest]</c>.
/// A first component with a '.' or ':' (or <c>localhost</c>) is a registry host; otherwise the registry is Docker Hub
/// (<c>docker.io</c>) and a one-component path gets the <c>library/</c> prefix. No tag and no digest means <c>latest</c>.
/// </summary>
public sealed partial record ImageReference(string Registry, string Repository, string? Tag, string? Digest)
{
    public const string DockerHub = "docker.io";

    // The grammar of distribution/reference: lowercase path components separated by '/', each of alphanumerics
    // joined by '.', '_', '__' or dashes; tags of up to 128 word characters, '.', '-'.
    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")]
    private static partial Regex PathComponent();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial Regex DigestPattern();

    [GeneratedRegex("^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$")]
    private static partial Regex HostPattern();

    /// <summary>The reference with the defaults filled in: <c>docker.io/library/alpine:latest</c>.</summary>
    public string Canonical => $"{Registry}/{Repository}" + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>The name without tag or digest: <c>docker.io/library/alpine</c>.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>A name usable as a file name and as an OCI layout's ref name: unique per canonical reference.</summary>
    public string StoreKey
    {
        get
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical)))[..16];
            var readable = Regex.Replace(Repository, "[^a-z0-9]+", "-");
            return $"{(readable.Length > 40 ? readable[..40] : readable)}-{hash}";
        }
    }

    /// <summary>Whether the registry is on this machine's loopback (the only place plain HTTP is allowed).</summary>
    public bool IsLoopbackRegistry
    {
        get
        {
            var host = Registry;
            if (host.StartsWith('['))
            {
                host = host[1..host.IndexOf(']')];
            }
            else if (host.LastIndexOf(':') is var colon and > 0)
            {
                host = host[..colon];
            }
            return host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
        }
    }

    /// <summary>Parses <paramref name="image"/>; null with <paramref name="error"/> set when it is not a valid reference.</summary>
    public static ImageReference? Parse(string? image, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(image) || image.Length > 4096 || image.Trim() != image)
        {
            error = "invalid reference format";
            return null;
        }
        string? digest = null;
        var rest = image;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!DigestPattern().IsMatch(digest))
            {
                error = "invalid reference format: the digest must be sha256: and 64 lowercase hex digits";
                return null;
            }
        }
        string? tag = null;
        var lastSlash = rest.LastIndexOf('/');
        var lastColon = rest.LastIndexOf(':');
        if (lastColon > lastSlash)
        {
            tag = rest[(lastColon + 1)..];
            rest = rest[..lastColon];
            if (!TagPattern().IsMatch(tag))
            {
                error = "invalid reference format: bad tag";
                return null;
            }
        }
        var registry = DockerHub;
        var firstSlash = rest.IndexOf('/');
        if (firstSlash > 0)
        {
            var first = rest[..firstSlash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost" || first.StartsWith('['))
            {
                if (!HostPattern().IsMatch(first))
                {
                    error = "invalid reference format: bad registry host";
                    return null;
                }
                registry = first;
                rest = rest[(firstSlash + 1)..];
            }
        }
        var components = rest.Split('/');
        if (rest.Length == 0 || components.Any(c => !PathComponent().IsMatch(c)))
        {
            error = rest.Any(char.IsUpper)
                ? "invalid reference format: repository name must be lowercase"
                : "invalid reference format";
            return null;
        }
        if (registry is DockerHub or "index.docker.io")
        {
            registry = DockerHub;
            if (components.Length == 1) rest = "library/" + rest;
        }
        if (tag is null && digest is null) tag = "latest";
        return new ImageReference(registry, rest, tag, digest);
    }

    /// <summary>The argument skopeo reads for the registry transport; a digest wins over a tag (skopeo takes one, not both).</summary>
    public string SkopeoSource => "docker://" + Name + (Digest is null ? ":" + Tag : "@" + Digest);
}
