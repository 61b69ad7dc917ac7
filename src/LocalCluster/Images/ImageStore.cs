using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Text.Json;

namespace Scheduler.LocalCluster.Images;

/// <summary>An image on the node: pulled into the store and unpacked.</summary>
/// <param name="Reference">The name it was pulled or loaded as.</param>
/// <param name="ManifestDigest">The digest of its manifest (<c>sha256:…</c>).</param>
/// <param name="RootFs">Its unpacked tree, shared read-only by every container of the image.</param>
public sealed record LocalImage(ImageReference Reference, string ManifestDigest, ImageConfig Config, string RootFs)
{
    /// <summary><c>containerStatuses[].imageID</c>: the repository at the manifest digest, as containerd reports it.</summary>
    public string ImageId => $"{Reference.Name}@{ManifestDigest}";
}

/// <summary>Why a pull failed; the message is shown in the pod's events and waiting state.</summary>
public sealed class ImagePullException(string message) : Exception(message);

/// <summary>
/// The node's images, under <c>&lt;state&gt;/images</c>: one OCI layout (<c>oci/</c>) where skopeo puts every pulled or
/// loaded image, so layers are stored once by digest, and one unpacked tree per manifest digest (<c>rootfs/</c>) made by
/// umoci once and shared by all containers. Writes to the layout and unpacking are serialised by one lock; lookups of
/// images already known are lock-free. Tools run with a bounded time on the thread pool.
/// </summary>
public sealed class ImageStore
{
    private static readonly TimeSpan PullTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan UnpackTimeout = TimeSpan.FromMinutes(10);

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly ConcurrentDictionary<string, LocalImage> _known = new();
    private readonly bool _rootless;

    public ImageStore(string stateDir, bool runtimeIsRoot)
    {
        Root = Path.Combine(stateDir, "images");
        _rootless = !runtimeIsRoot;
    }

    public string Root { get; }
    private string Layout => Path.Combine(Root, "oci");
    private string Trees => Path.Combine(Root, "rootfs");

    private int _pulls;

    /// <summary>Pulls made so far (each one a <c>skopeo copy</c> from a registry).</summary>
    public int Pulls => Volatile.Read(ref _pulls);

    /// <summary>Whether skopeo and umoci are installed; without them only loaded images are missing too.</summary>
    public static string? MissingTools() =>
        new[] { "skopeo", "umoci" }.Where(tool => !ExternalTool.IsInstalled(tool)).ToList() is { Count: > 0 } missing
            ? $"{string.Join(" and ", missing)} not installed (apt-get install skopeo umoci)"
            : null;

    /// <summary>The image when it is on the node (pulled or loaded before, possibly by an earlier run), else null.</summary>
    public async Task<LocalImage?> FindAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        if (_known.TryGetValue(reference.StoreKey, out var known)) return known;
        if (!File.Exists(Path.Combine(Layout, "index.json"))) return null;
        await _lock.WaitAsync(cancellationToken);
        try
        {
            return await ReadAndUnpackAsync(reference, cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Pulls the image from its registry (again, even when present) and unpacks it unless already unpacked.</summary>
    /// <param name="authFile">A containers-auth.json document (see <see cref="RegistryAuth"/>), or null.</param>
    /// <param name="ifNotPresent">Pull only when the image is still missing once the store is free (IfNotPresent: a pull of
    /// the same image by another container may have just finished).</param>
    public async Task<LocalImage> PullAsync(ImageReference reference, string? authFile, bool ifNotPresent, CancellationToken cancellationToken)
    {
        if (MissingTools() is { } missing) throw new ImagePullException(missing);
        await _lock.WaitAsync(cancellationToken);
        string? authPath = null;
        try
        {
            if (ifNotPresent && await ReadAndUnpackAsync(reference, cancellationToken) is { } present) return present;
            Directory.CreateDirectory(Layout);
            var arguments = new List<string> { "copy", "--quiet", "--retry-times", "0" };
            if (reference.IsLoopbackRegistry) arguments.Add("--src-tls-verify=false");
            // Always an auth file of the pod's credentials (maybe none), never the runtime user's own (~/.docker,
            // $XDG_RUNTIME_DIR/containers). It lives only for the copy, readable only by this user, inside the state dir.
            var authDir = Directory.CreateDirectory(Path.Combine(Root, "auth")).FullName;
            authPath = Path.Combine(authDir, Guid.NewGuid().ToString("N") + ".json");
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using (var stream = new FileStream(authPath, options))
            {
                await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(authFile ?? "{\"auths\":{}}"), cancellationToken);
            }
            arguments.AddRange(["--src-authfile", authPath]);
            arguments.AddRange([reference.SkopeoSource, $"oci:{Layout}:{reference.StoreKey}"]);
            Interlocked.Increment(ref _pulls);
            var result = await ExternalTool.RunAsync("skopeo", arguments, PullTimeout, cancellationToken);
            if (!result.Succeeded) throw new ImagePullException(PullError(result.Summary("skopeo")));
            _known.TryRemove(reference.StoreKey, out _);
            return await ReadAndUnpackAsync(reference, cancellationToken)
                   ?? throw new ImagePullException($"the image was copied but is not in the store's index ({reference.StoreKey})");
        }
        finally
        {
            if (authPath is not null) File.Delete(authPath);
            _lock.Release();
        }
    }

    /// <summary>
    /// Adds an image from a file or directory (an OCI layout, an OCI archive, or a <c>docker save</c> archive) under
    /// <paramref name="name"/>, or under the name the archive carries when <paramref name="name"/> is null.
    /// </summary>
    public async Task<LocalImage> LoadAsync(string path, string? name, CancellationToken cancellationToken)
    {
        if (MissingTools() is { } missing) throw new ImagePullException(missing);
        var (source, archiveName) = DescribeArchive(path);
        name ??= archiveName ?? throw new ImagePullException(
            $"{path} does not name its image (no RepoTags or org.opencontainers.image.ref.name): load it as NAME=FILE");
        var reference = ImageReference.Parse(name, out var error) ?? throw new ImagePullException($"\"{name}\": {error}");
        await _lock.WaitAsync(cancellationToken);
        try
        {
            Directory.CreateDirectory(Layout);
            var result = await ExternalTool.RunAsync("skopeo", ["copy", "--quiet", source, $"oci:{Layout}:{reference.StoreKey}"],
                PullTimeout, cancellationToken);
            if (!result.Succeeded) throw new ImagePullException($"cannot load {path}: {result.Summary("skopeo")}");
            _known.TryRemove(reference.StoreKey, out _);
            return await ReadAndUnpackAsync(reference, cancellationToken)
                   ?? throw new ImagePullException($"{path} was copied but is not in the store's index");
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The skopeo transport for <paramref name="path"/> and the image name the archive carries, if any.</summary>
    internal static (string Source, string? Name) DescribeArchive(string path)
    {
        if (Directory.Exists(path))
        {
            if (!File.Exists(Path.Combine(path, "index.json"))) throw new ImagePullException($"{path} is not an OCI layout (no index.json)");
            var refName = OciRefName(File.ReadAllText(Path.Combine(path, "index.json")));
            return (refName is null ? $"oci:{path}" : $"oci:{path}:{refName}", QualifiedOrNull(refName));
        }
        if (!File.Exists(path)) throw new ImagePullException($"{path}: no such file or directory");
        string? manifest = null;
        string? index = null;
        using (var stream = File.OpenRead(path))
        using (var reader = new TarReader(stream))
        {
            try
            {
                while (reader.GetNextEntry() is { } entry)
                {
                    var entryName = entry.Name.TrimStart('.', '/');
                    if (entryName is "manifest.json" or "index.json" && entry.DataStream is { } data && entry.Length < 1 << 20)
                    {
                        var text = new StreamReader(data).ReadToEnd();
                        if (entryName == "manifest.json") manifest = text;
                        else index = text;
                    }
                }
            }
            catch (Exception exception) when (exception is InvalidDataException or FormatException or EndOfStreamException)
            {
                throw new ImagePullException($"{path} is not a tar archive: {exception.Message}");
            }
        }
        if (manifest is not null)
        {
            using var document = JsonDocument.Parse(manifest);
            var tag = document.RootElement.ValueKind == JsonValueKind.Array
                      && document.RootElement.EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } first
                      && first.TryGetProperty("RepoTags", out var tags) && tags.ValueKind == JsonValueKind.Array
                      && tags.EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.String } t
                ? t.GetString()
                : null;
            return ($"docker-archive:{path}", tag);
        }
        if (index is not null) return ($"oci-archive:{path}", QualifiedOrNull(OciRefName(index)));
        throw new ImagePullException($"{path} is neither an OCI archive nor a docker save archive");
    }

    // An OCI ref name is often only a tag ("latest"): a name only when it has a repository.
    private static string? QualifiedOrNull(string? refName) => refName is not null && refName.Contains('/') ? refName : null;

    private static string? OciRefName(string indexJson)
    {
        using var document = JsonDocument.Parse(indexJson);
        if (!document.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array) return null;
        foreach (var manifest in manifests.EnumerateArray())
        {
            if (manifest.TryGetProperty("annotations", out var annotations) && annotations.ValueKind == JsonValueKind.Object
                && annotations.TryGetProperty("org.opencontainers.image.ref.name", out var name) && name.ValueKind == JsonValueKind.String)
            {
                return name.GetString();
            }
        }
        return null;
    }

    // Under _lock.
    private async Task<LocalImage?> ReadAndUnpackAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        var indexPath = Path.Combine(Layout, "index.json");
        if (!File.Exists(indexPath)) return null;
        string? manifestDigest = null;
        using (var index = JsonDocument.Parse(await File.ReadAllTextAsync(indexPath, cancellationToken)))
        {
            foreach (var manifest in index.RootElement.GetProperty("manifests").EnumerateArray())
            {
                if (manifest.TryGetProperty("annotations", out var annotations)
                    && annotations.TryGetProperty("org.opencontainers.image.ref.name", out var name) && name.GetString() == reference.StoreKey)
                {
                    manifestDigest = manifest.GetProperty("digest").GetString();
                }
            }
        }
        if (manifestDigest is null || !IsDigest(manifestDigest)) return null;
        using var manifestDocument = JsonDocument.Parse(await File.ReadAllTextAsync(BlobPath(manifestDigest), cancellationToken));
        var configDigest = manifestDocument.RootElement.GetProperty("config").GetProperty("digest").GetString() ?? "";
        if (!IsDigest(configDigest)) throw new ImagePullException($"the manifest {manifestDigest} names a malformed config digest");
        var config = ImageConfig.Parse(await File.ReadAllTextAsync(BlobPath(configDigest), cancellationToken));

        var tree = Path.Combine(Trees, manifestDigest["sha256:".Length..]);
        if (!Directory.Exists(tree))
        {
            // Unpacked beside and renamed into place, so a tree that exists is always complete.
            Directory.CreateDirectory(Trees);
            var partial = tree + ".partial";
            if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
            var arguments = new List<string> { "raw", "unpack" };
            if (_rootless) arguments.Add("--rootless");
            arguments.AddRange(["--image", $"{Layout}:{reference.StoreKey}", partial]);
            var result = await ExternalTool.RunAsync("umoci", arguments, UnpackTimeout, cancellationToken);
            if (!result.Succeeded) throw new ImagePullException($"cannot unpack the image: {result.Summary("umoci")}");
            Directory.Move(partial, tree);
        }
        var image = new LocalImage(reference, manifestDigest, config, tree);
        _known[reference.StoreKey] = image;
        return image;
    }

    private static bool IsDigest(string digest) =>
        digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length == 71 && digest[7..].All(char.IsAsciiHexDigitLower);

    private string BlobPath(string digest) => Path.Combine(Layout, "blobs", "sha256", digest[7..]);

    /// <summary>skopeo's messages reworded as kubelet's: what went wrong, without the tool's internals.</summary>
    internal static string PullError(string skopeo)
    {
        // skopeo logs as logrus: time="…" level=fatal msg="…"; the message is what matters.
        var logged = System.Text.RegularExpressions.Regex.Match(skopeo, "msg=\"((?:[^\"\\\\]|\\\\.)*)\"");
        if (logged.Success) skopeo = logged.Groups[1].Value.Replace("\\\"", "\"");
        if (skopeo.Contains("manifest unknown", StringComparison.OrdinalIgnoreCase)
            || skopeo.Contains("name unknown", StringComparison.OrdinalIgnoreCase))
            return $"not found: {skopeo}";
        if (skopeo.Contains("unauthorized", StringComparison.OrdinalIgnoreCase)
            || skopeo.Contains("authentication required", StringComparison.OrdinalIgnoreCase))
            return $"pull access denied, repository does not exist or may require authorization: {skopeo}";
        return skopeo;
    }
}
