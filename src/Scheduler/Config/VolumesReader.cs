using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads and validates <c>[runners.kubernetes.volumes]</c>: required fields, media, and names unique across kinds.</summary>
internal static class VolumesReader
{
    private sealed record CommonFields(string Name, string MountPath, bool ReadOnly);

    public static VolumesSettings Read(TableReader table)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var settings = new VolumesSettings
        {
            HostPaths = Each(table, "host_path", ConfigKeys.HostPathVolume, names,
                (volume, common) => new HostPathVolume(common.Name, common.MountPath, common.ReadOnly,
                    KubernetesSettingsReader.EmptyAsNull(volume.String("host_path"))) { Mount = Mount(volume, propagation: true) }),
            Pvcs = Each(table, "pvc", ConfigKeys.PvcVolume, names,
                (volume, common) => new PvcVolume(common.Name, common.MountPath, common.ReadOnly) { Mount = Mount(volume, propagation: true) }),
            ConfigMaps = Each(table, "config_map", ConfigKeys.ItemsVolume, names,
                (volume, common) => new ConfigMapVolume(common.Name, common.MountPath, common.ReadOnly,
                    KubernetesSettingsReader.ToDictionary(volume.StringMap("items"))) { Mount = Mount(volume, propagation: false) }),
            Secrets = Each(table, "secret", ConfigKeys.ItemsVolume, names,
                (volume, common) => new SecretVolume(common.Name, common.MountPath, common.ReadOnly,
                    KubernetesSettingsReader.ToDictionary(volume.StringMap("items"))) { Mount = Mount(volume, propagation: false) }),
            EmptyDirs = Each(table, "empty_dir", ConfigKeys.EmptyDirVolume, names, EmptyDir),
            Csis = Each(table, "csi", ConfigKeys.CsiVolume, names, Csi),
            Nfs = Each(table, "nfs", ConfigKeys.NfsVolume, names, Nfs),
        };
        table.ReportUnread(ConfigKeys.VolumeKinds, ConfigKeys.VolumeKindsNoEffect);
        return settings;
    }

    private static EmptyDirVolume EmptyDir(TableReader volume, CommonFields common)
    {
        var medium = volume.String("medium") ?? "";
        if (ConfigRules.EmptyDirMediumError(medium) is { } error)
        {
            volume.Diagnostics.Error(volume.ValuePosition("medium"), volume.KeyPath("medium"), error);
        }

        // GitLab Runner: a blank size_limit means no limit; an invalid one is an error here rather than a job-time warning.
        var sizeLimit = volume.String("size_limit")?.Trim();
        if (string.IsNullOrEmpty(sizeLimit))
        {
            sizeLimit = null;
        }
        else if (ConfigRules.QuantityError(sizeLimit) is { } sizeError)
        {
            volume.Diagnostics.Error(volume.ValuePosition("size_limit"), volume.KeyPath("size_limit"), sizeError);
            sizeLimit = null;
        }

        return new EmptyDirVolume(common.Name, common.MountPath, medium) { Mount = Mount(volume, propagation: true), SizeLimit = sizeLimit };
    }

    private static CsiVolume Csi(TableReader volume, CommonFields common)
    {
        var driver = volume.String("driver") ?? "";
        if (driver.Length == 0)
        {
            volume.Diagnostics.Error(volume.ValuePosition("driver"), volume.KeyPath("driver"), "a CSI volume needs a driver");
        }

        return new CsiVolume(common.Name, common.MountPath, common.ReadOnly, driver, KubernetesSettingsReader.EmptyAsNull(volume.String("fs_type")),
            KubernetesSettingsReader.ToDictionary(volume.StringMap("volume_attributes"))) { Mount = Mount(volume, propagation: false) };
    }

    private static NfsVolume Nfs(TableReader volume, CommonFields common)
    {
        var server = volume.String("server") ?? "";
        var path = volume.String("path") ?? "";
        foreach (var (key, value) in new[] { ("server", server), ("path", path) })
        {
            if (value.Length == 0)
            {
                volume.Diagnostics.Error(volume.ValuePosition(key), volume.KeyPath(key), $"an NFS volume needs a {key}");
            }
        }

        return new NfsVolume(common.Name, common.MountPath, common.ReadOnly, server, path) { Mount = Mount(volume, propagation: false) };
    }

    /// <summary><c>sub_path</c> on every kind; <c>mount_propagation</c> on the kinds GitLab Runner has it for.</summary>
    private static MountOptions Mount(TableReader volume, bool propagation)
    {
        var subPath = KubernetesSettingsReader.EmptyAsNull(volume.String("sub_path"));
        if (subPath is not null && (subPath.StartsWith('/') || subPath.Split('/').Contains("..")))
        {
            volume.Diagnostics.Error(volume.ValuePosition("sub_path"), volume.KeyPath("sub_path"),
                "sub_path must be a relative path without \"..\"");
        }

        string? mountPropagation = null;
        if (propagation)
        {
            mountPropagation = KubernetesSettingsReader.EmptyAsNull(volume.String("mount_propagation"));
            if (mountPropagation is not null && ConfigRules.MountPropagationError(mountPropagation) is { } error)
            {
                volume.Diagnostics.Error(volume.ValuePosition("mount_propagation"), volume.KeyPath("mount_propagation"), error);
            }
        }

        return subPath is null && mountPropagation is null ? MountOptions.None : new MountOptions(subPath, mountPropagation);
    }

    private static List<T> Each<T>(
        TableReader table, string kind, string[] keys, Dictionary<string, string> names, Func<TableReader, CommonFields, T> create)
    {
        var result = new List<T>();
        foreach (var volume in table.TableArray(kind) ?? [])
        {
            var common = Common(volume, names);
            var created = create(volume, common);
            volume.ReportUnread(keys, ConfigKeys.VolumeNoEffect);
            if (common.Name.Length > 0 && common.MountPath.Length > 0)
            {
                result.Add(created);
            }
        }

        return result;
    }

    private static CommonFields Common(TableReader volume, Dictionary<string, string> names)
    {
        var diagnostics = volume.Diagnostics;
        var name = volume.String("name") ?? "";
        var mountPath = volume.String("mount_path") ?? "";
        var readOnly = volume.Bool("read_only") ?? false;
        if (name.Length == 0)
        {
            diagnostics.Error(volume.ValuePosition("name"), volume.KeyPath("name"), "a volume needs a name");
        }
        else if (names.TryGetValue(name, out var firstPath))
        {
            diagnostics.Error(volume.ValuePosition("name"), volume.KeyPath("name"),
                $"volume name \"{name}\" is already used by {firstPath}; volume names must be unique within a runner");
        }
        else
        {
            names[name] = volume.Path;
        }

        if (mountPath.Length == 0)
        {
            diagnostics.Error(volume.ValuePosition("mount_path"), volume.KeyPath("mount_path"), "a volume needs a mount_path");
        }

        return new CommonFields(name, mountPath, readOnly);
    }
}
