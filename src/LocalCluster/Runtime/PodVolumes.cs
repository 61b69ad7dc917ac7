using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>The pod's volumes on the node by name, or the first one that cannot be set up yet (FailedMount).</summary>
public sealed record VolumeSetup(IReadOnlyDictionary<string, string>? HostPaths, string? Error);

/// <summary>Sets up a pod's volumes under its node directory, as kubelet's volume manager does.</summary>
public static class PodVolumes
{
    private const int DefaultMode = 420; // 0644

    /// <summary>Where a memory-backed emptyDir lives: tmpfs, per pod.</summary>
    /// <summary>Where every pod's memory (emptyDir medium Memory) volumes live; containers see it empty.</summary>
    public const string MemoryRoot = "/dev/shm/scheduler-local-pods";

    public static string MemoryDir(string podUid) => Path.Combine(MemoryRoot, NodePaths.SafeSegment(podUid));

    public static string VolumeDir(string podDir, string volumeName) => Path.Combine(podDir, "volumes", NodePaths.SafeSegment(volumeName));

    public static string ClaimDir(string stateDir, string @namespace, string claim) => Path.Combine(stateDir, "pvc", NodePaths.SafeSegment(@namespace), NodePaths.SafeSegment(claim));

    /// <summary>Creates or refreshes every volume; idempotent, so a retry after a missing Secret simply runs again.</summary>
    public static VolumeSetup Prepare(V1Pod pod, IPodHost host, string podDir, string stateDir)
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
                (path, error) = PrepareOne(pod, volume, host, ns, uid, podDir, stateDir);
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

    private static (string Path, string? Error) PrepareOne(V1Pod pod, V1Volume volume, IPodHost host, string ns, string uid, string podDir, string stateDir)
    {
        var dir = VolumeDir(podDir, volume.Name);
        if (volume.EmptyDir is { } emptyDir)
        {
            if (emptyDir.Medium == "Memory") dir = Path.Combine(MemoryDir(uid), NodePaths.SafeSegment(volume.Name));
            Directory.CreateDirectory(dir);
            // Like kubelet: world-writable, so a container running as any user can use it.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            return (dir, null);
        }
        if (volume.HostPath is { } hostPath) return (hostPath.Path, PrepareHostPath(hostPath));
        if (volume.PersistentVolumeClaim is { } claim)
        {
            if (host.GetPersistentVolumeClaim(ns, claim.ClaimName) is null) return ("", $"persistentvolumeclaim \"{claim.ClaimName}\" not found");
            var claimDir = ClaimDir(stateDir, ns, claim.ClaimName);
            Directory.CreateDirectory(claimDir);
            return (claimDir, null);
        }
        if (volume.Secret is { } secretSource)
        {
            Directory.CreateDirectory(dir);
            var error = WriteSecret(dir, host, ns, secretSource.SecretName, secretSource.Items, secretSource.Optional, secretSource.DefaultMode);
            return (dir, error);
        }
        if (volume.ConfigMap is { } configMapSource)
        {
            Directory.CreateDirectory(dir);
            var error = WriteConfigMap(dir, host, ns, configMapSource.Name, configMapSource.Items, configMapSource.Optional, configMapSource.DefaultMode);
            return (dir, error);
        }
        if (volume.DownwardAPI is { } downward)
        {
            Directory.CreateDirectory(dir);
            return (dir, WriteDownward(dir, pod, downward.Items, downward.DefaultMode));
        }
        if (volume.Projected is { } projected)
        {
            Directory.CreateDirectory(dir);
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
            return (dir, null);
        }
        return ("", "volume type not supported by the local cluster (emptyDir, hostPath, secret, configMap, persistentVolumeClaim, downwardAPI and projected are)");
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
