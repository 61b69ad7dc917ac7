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
                    KubernetesSettingsReader.EmptyAsNull(volume.String("host_path")))),
            Pvcs = Each(table, "pvc", ConfigKeys.PvcVolume, names,
                (_, common) => new PvcVolume(common.Name, common.MountPath, common.ReadOnly)),
            ConfigMaps = Each(table, "config_map", ConfigKeys.ItemsVolume, names,
                (volume, common) => new ConfigMapVolume(common.Name, common.MountPath, common.ReadOnly,
                    KubernetesSettingsReader.ToDictionary(volume.StringMap("items")))),
            Secrets = Each(table, "secret", ConfigKeys.ItemsVolume, names,
                (volume, common) => new SecretVolume(common.Name, common.MountPath, common.ReadOnly,
                    KubernetesSettingsReader.ToDictionary(volume.StringMap("items")))),
            EmptyDirs = Each(table, "empty_dir", ConfigKeys.EmptyDirVolume, names, EmptyDir),
        };
        table.ReportUnread(ConfigKeys.VolumeKinds, ConfigKeys.VolumeKindsUnsupported);
        return settings;
    }

    private static EmptyDirVolume EmptyDir(TableReader volume, CommonFields common)
    {
        var medium = volume.String("medium") ?? "";
        if (ConfigRules.EmptyDirMediumError(medium) is { } error)
        {
            volume.Diagnostics.Error(volume.ValuePosition("medium"), volume.KeyPath("medium"), error);
        }

        return new EmptyDirVolume(common.Name, common.MountPath, medium);
    }

    private static List<T> Each<T>(
        TableReader table, string kind, string[] keys, Dictionary<string, string> names, Func<TableReader, CommonFields, T> create)
    {
        var result = new List<T>();
        foreach (var volume in table.TableArray(kind) ?? [])
        {
            var common = Common(volume, names);
            var created = create(volume, common);
            volume.ReportUnread(keys, ConfigKeys.VolumeUnsupported);
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
