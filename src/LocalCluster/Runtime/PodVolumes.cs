using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>The pod's volumes on the node by name, or the first one that cannot be set up yet (FailedMount).</summary>
public sealed record VolumeSetup(IReadOnlyDictionary<string, string>? HostPaths, string? Error);

/// <summary>
/// Who owns the volumes of a pod: its uid and the group of its volumes (fsGroup, else its gid). <paramref name="FsGroup"/>:
/// the group came from fsGroup, so read-only files get group read as Kubernetes gives them.
/// </summary>
public sealed record VolumeOwner(long Uid, long Gid, bool FsGroup);

/// <summary>Sets up a pod's volumes under its node directory, as kubelet's volume manager does.</summary>
public static class PodVolumes
{
    private const int DefaultMode = 420; // 0644

    /// <summary>Where every pod's memory (emptyDir medium Memory) volumes live; containers see it empty.</summary>
    public const string MemoryRoot = "/dev/shm/scheduler-local-pods";

    public static string MemoryDir(string podUid) => Path.Combine(MemoryRoot, NodePaths.SafeSegment(podUid));

    public static string VolumeDir(string podDir, string volumeName) => Path.Combine(podDir, "volumes", NodePaths.SafeSegment(volumeName));

    public static string ClaimDir(string stateDir, string @namespace, string claim) => Path.Combine(stateDir, "pvc", NodePaths.SafeSegment(@namespace), NodePaths.SafeSegment(claim));

    /// <summary>
    /// Creates or refreshes every volume; idempotent, so a retry after a missing Secret simply runs again. With an
    /// <paramref name="owner"/> (a runtime running as root), the pod's volumes are its own: emptyDirs 2770, Secret,
    /// ConfigMap, downward API and projected directories 0750 with their files in their defaultMode, all owned by the pod's
    /// user and volume group, so that a non-root pod can use them (a defaultMode of 0400 included). Without one (a runtime
    /// that cannot chown: every pod runs as its user), emptyDirs are world-writable as kubelet makes them.
    /// </summary>
    public static VolumeSetup Prepare(V1Pod pod, IPodHost host, string podDir, string stateDir, VolumeOwner? owner = null)
    {
        var ns = pod.Metadata?.NamespaceProperty ?? "default";
        var uid = pod.Metadata?.Uid ?? "";
        var paths = new Dictionary<string, string>();
        foreach (var volume in pod.Spec?.Volumes ?? [])
        {
            string? error;
            string path;
            try
            {
                (path, error) = PrepareOne(pod, volume, host, ns, uid, podDir, stateDir, owner);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or FormatException)
            {
                (path, error) = ("", exception.Message);
            }
            if (error is not null) return new VolumeSetup(null, $"MountVolume.SetUp failed for volume \"{volume.Name}\" : {error}");
            paths[volume.Name] = path;
        }
        return new VolumeSetup(paths, null);
    }

    private static (string Path, string? Error) PrepareOne(V1Pod pod, V1Volume volume, IPodHost host, string ns, string uid, string podDir,
        string stateDir, VolumeOwner? owner)
    {
        var dir = VolumeDir(podDir, volume.Name);
        if (volume.EmptyDir is { } emptyDir)
        {
            if (emptyDir.Medium == "Memory")
            {
                // Only root may enter the memory root and the pod's part of it; the volume itself is bound by root.
                if (owner is not null)
                {
                    FileOwnership.MakePrivate(MemoryRoot);
                    FileOwnership.MakePrivate(MemoryDir(uid));
                }
                dir = Path.Combine(MemoryDir(uid), NodePaths.SafeSegment(volume.Name));
            }
            Directory.CreateDirectory(dir);
            if (owner is null)
            {
                // Like kubelet: world-writable, so a container running as any user can use it.
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
                return (dir, null);
            }
            // The pod's own: its uid and volume group (setgid, so what a container writes stays in the group), nobody else.
            FileOwnership.Change(dir, owner.Uid, owner.Gid);
            FileOwnership.SetMode(dir, (UnixFileMode)0x5F8); // 02770
            return (dir, null);
        }
        if (volume.HostPath is { } hostPath) return (hostPath.Path, PrepareHostPath(hostPath));
        if (volume.PersistentVolumeClaim is { } claim)
        {
            if (host.GetPersistentVolumeClaim(ns, claim.ClaimName) is null) return ("", $"persistentvolumeclaim \"{claim.ClaimName}\" not found");
            var claimDir = ClaimDir(stateDir, ns, claim.ClaimName);
            // A claim is shared by the pods that name it: world-writable when made, as a hostpath provisioner makes it.
            if (!Directory.Exists(claimDir) && owner is not null)
            {
                Directory.CreateDirectory(claimDir);
                FileOwnership.SetMode(claimDir, (UnixFileMode)0x1FF);
            }
            Directory.CreateDirectory(claimDir);
            return (claimDir, null);
        }
        if (volume.Secret is { } secretSource)
        {
            CreateFileVolume(dir, owner);
            var error = WriteSecret(dir, host, ns, secretSource.SecretName, secretSource.Items, secretSource.Optional, secretSource.DefaultMode);
            return (dir, error ?? Own(dir, owner));
        }
        if (volume.ConfigMap is { } configMapSource)
        {
            CreateFileVolume(dir, owner);
            var error = WriteConfigMap(dir, host, ns, configMapSource.Name, configMapSource.Items, configMapSource.Optional, configMapSource.DefaultMode);
            return (dir, error ?? Own(dir, owner));
        }
        if (volume.DownwardAPI is { } downward)
        {
            CreateFileVolume(dir, owner);
            return (dir, WriteDownward(dir, pod, downward.Items, downward.DefaultMode) ?? Own(dir, owner));
        }
        if (volume.Projected is { } projected)
        {
            CreateFileVolume(dir, owner);
            foreach (var source in projected.Sources ?? [])
            {
                var error = source switch
                {
                    { Secret: { } s } => WriteSecret(dir, host, ns, s.Name, s.Items, s.Optional, projected.DefaultMode),
                    { ConfigMap: { } c } => WriteConfigMap(dir, host, ns, c.Name, c.Items, c.Optional, projected.DefaultMode),
                    { DownwardAPI: { } d } => WriteDownward(dir, pod, d.Items, projected.DefaultMode),
                    // No token issuer in the local cluster: the file exists, empty, so readers do not fail on its absence.
                    { ServiceAccountToken: { } t } => WriteFile(dir, t.Path, [], projected.DefaultMode),
                    _ => null,
                };
                if (error is not null) return (dir, error);
            }
            return (dir, Own(dir, owner));
        }
        return ("", "volume type not supported by the local cluster (emptyDir, hostPath, secret, configMap, persistentVolumeClaim, downwardAPI and projected are)");
    }

    /// <summary>A Secret, ConfigMap, downward API or projected volume's directory: with an owner, only the runtime enters it until <see cref="Own"/>.</summary>
    private static void CreateFileVolume(string dir, VolumeOwner? owner)
    {
        Directory.CreateDirectory(dir);
        if (owner is not null) FileOwnership.SetMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// Hands a file volume to the pod once written: everything in it owned by the pod's uid and volume group, directories
    /// 0750, files in the mode they were written with, plus group read with fsGroup (kubelet's rule for read-only volumes).
    /// </summary>
    private static string? Own(string dir, VolumeOwner? owner)
    {
        if (owner is null) return null;
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Prepend(dir))
        {
            // The runtime writes no links here; one that is here was not made by it and is left alone.
            if (new FileInfo(entry).LinkTarget is not null) continue;
            FileOwnership.Change(entry, owner.Uid, owner.Gid);
            if (Directory.Exists(entry))
            {
                FileOwnership.SetMode(entry, (UnixFileMode)(owner.FsGroup ? 0x5E8 : 0x1E8)); // 02750 with fsGroup, else 0750
            }
            else if (owner.FsGroup)
            {
                FileOwnership.SetMode(entry, FileOwnership.GetMode(entry) | UnixFileMode.GroupRead | UnixFileMode.UserRead);
            }
        }
        return null;
    }

    private static string? PrepareHostPath(V1HostPathVolumeSource hostPath)
    {
        var path = hostPath.Path;
        switch (hostPath.Type ?? "")
        {
            case "" or "DirectoryOrCreate":
                if (!File.Exists(path)) Directory.CreateDirectory(path);
                return null;
            case "Directory":
                return Directory.Exists(path) ? null : $"hostPath type check failed: {path} is not a directory";
            case "FileOrCreate":
                if (!File.Exists(path))
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllBytes(path, []);
                }
                return null;
            case "File":
                return File.Exists(path) ? null : $"hostPath type check failed: {path} is not a file";
            default:
                return File.Exists(path) || Directory.Exists(path) ? null : $"hostPath type check failed: {path} does not exist";
        }
    }

    private static string? WriteSecret(string dir, IPodHost host, string ns, string? name, IList<V1KeyToPath>? items, bool? optional, int? defaultMode)
    {
        var secret = host.GetSecret(ns, name ?? "");
        if (secret is null) return optional == true ? null : $"secret \"{name}\" not found";
        var data = new Dictionary<string, byte[]>(secret.Data ?? new Dictionary<string, byte[]>());
        foreach (var (key, value) in secret.StringData ?? new Dictionary<string, string>()) data.TryAdd(key, Encoding.UTF8.GetBytes(value));
        return WriteData(dir, data, items, optional, defaultMode, "secret");
    }

    private static string? WriteConfigMap(string dir, IPodHost host, string ns, string? name, IList<V1KeyToPath>? items, bool? optional, int? defaultMode)
    {
        var configMap = host.GetConfigMap(ns, name ?? "");
        if (configMap is null) return optional == true ? null : $"configmap \"{name}\" not found";
        var data = new Dictionary<string, byte[]>();
        foreach (var (key, value) in configMap.Data ?? new Dictionary<string, string>()) data[key] = Encoding.UTF8.GetBytes(value);
        foreach (var (key, value) in configMap.BinaryData ?? new Dictionary<string, byte[]>()) data[key] = value;
        return WriteData(dir, data, items, optional, defaultMode, "configmap");
    }

    // With items, only the listed keys are written, each at its path; a listed key that is missing fails (unless optional).
    private static string? WriteData(string dir, Dictionary<string, byte[]> data, IList<V1KeyToPath>? items, bool? optional, int? defaultMode, string kind)
    {
        if (items is null || items.Count == 0)
        {
            foreach (var (key, value) in data)
            {
                if (WriteFile(dir, key, value, defaultMode) is { } error) return error;
            }
            return null;
        }
        foreach (var item in items)
        {
            if (!data.TryGetValue(item.Key, out var value))
            {
                if (optional == true) continue;
                return $"{kind} references non-existent {(kind == "secret" ? "secret" : "config")} key: {item.Key}";
            }
            if (WriteFile(dir, item.Path, value, item.Mode ?? defaultMode) is { } error) return error;
        }
        return null;
    }

    private static string? WriteDownward(string dir, V1Pod pod, IList<V1DownwardAPIVolumeFile>? items, int? defaultMode)
    {
        foreach (var item in items ?? [])
        {
            var value = item.FieldRef is { } fieldRef ? ContainerEnvironment.FieldValue(pod, fieldRef.FieldPath) : "";
            if (value is null) return $"unsupported fieldPath: {item.FieldRef!.FieldPath}";
            if (WriteFile(dir, item.Path, Encoding.UTF8.GetBytes(value), item.Mode ?? defaultMode) is { } error) return error;
        }
        return null;
    }

    /// <summary>Writes one projected file; the relative path may nest but may not leave the volume.</summary>
    public static string? WriteFile(string dir, string relativePath, byte[] content, int? mode)
    {
        if (!NodePaths.IsContainedRelativePath(relativePath))
        {
            return $"invalid path {relativePath}: must be relative and may not contain '..'";
        }
        var path = Path.Combine(dir, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)((mode ?? DefaultMode) & 0x1FF));
        return null;
    }
}
