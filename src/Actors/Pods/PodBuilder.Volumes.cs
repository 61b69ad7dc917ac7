using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// Volumes and their mounts, and the config values expanded with job variables.
public static partial class PodBuilder
{
    /// <param name="expand">Expands a config value (its description, the value) with the job's public variables and the
    /// runner's own, as GitLab Runner expands PVC names, mount paths and sub paths.</param>
    private static (List<V1Volume> Volumes, List<V1VolumeMount> Mounts) Volumes(VolumesSettings settings, string buildsDir,
        Func<string, string, string> expand)
    {
        var volumes = new List<V1Volume>();
        var mounts = new List<V1VolumeMount>();
        var names = new HashSet<string>(StringComparer.Ordinal) { JobSecretLayout.VolumeName, StageCommands.RunVolumeName };

        var replacesBuildsDir = AllMountPaths(settings).Any(path => SamePath(expand("mount_path", path), buildsDir));
        if (!replacesBuildsDir)
        {
            names.Add(BuildsVolumeName);
            volumes.Add(new V1Volume { Name = BuildsVolumeName, EmptyDir = new V1EmptyDirVolumeSource() });
            mounts.Add(new V1VolumeMount { Name = BuildsVolumeName, MountPath = buildsDir });
        }

        foreach (var v in settings.HostPaths)
        {
            Add(v.Name, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume { HostPath = new V1HostPathVolumeSource { Path = string.IsNullOrEmpty(v.HostPath) ? v.MountPath : v.HostPath } });
        }

        foreach (var v in settings.Secrets)
        {
            Add(v.Name, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume { Secret = new V1SecretVolumeSource { SecretName = v.Name, Items = Items(v.Items) } });
        }

        foreach (var v in settings.Pvcs)
        {
            // The claim name may refer to job variables (pvc-$CI_CONCURRENT_ID: one claim per concurrent slot).
            var claim = expand("pvc name", v.Name);
            if (!KubernetesNames.IsDns1123Subdomain(claim))
            {
                throw Refuse($"pvc name \"{v.Name}\" expands to \"{claim}\", which is not a valid PersistentVolumeClaim name");
            }

            Add(claim, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume
                {
                    PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = claim, ReadOnlyProperty = v.ReadOnly ? true : null },
                });
        }

        foreach (var v in settings.ConfigMaps)
        {
            Add(v.Name, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume { ConfigMap = new V1ConfigMapVolumeSource { Name = v.Name, Items = Items(v.Items) } });
        }

        foreach (var v in settings.EmptyDirs)
        {
            ResourceQuantity? sizeLimit = null;
            if (v.SizeLimit is { } text)
            {
                sizeLimit = ResourceQuantities.TryParse(text, out var error)
                            ?? throw Refuse($"volume \"{v.Name}\": invalid size_limit \"{text}\": {error}");
            }

            Add(v.Name, v.MountPath, false, v.Mount,
                new V1Volume
                {
                    EmptyDir = new V1EmptyDirVolumeSource { Medium = string.IsNullOrEmpty(v.Medium) ? null : v.Medium, SizeLimit = sizeLimit },
                });
        }

        foreach (var v in settings.Nfs)
        {
            Add(v.Name, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume { Nfs = new V1NFSVolumeSource { Server = v.Server, Path = v.Path, ReadOnlyProperty = v.ReadOnly ? true : null } });
        }

        foreach (var v in settings.Csis)
        {
            Add(v.Name, v.MountPath, v.ReadOnly, v.Mount,
                new V1Volume
                {
                    Csi = new V1CSIVolumeSource
                    {
                        Driver = v.Driver,
                        FsType = v.FsType,
                        ReadOnlyProperty = v.ReadOnly ? true : null,
                        VolumeAttributes = v.VolumeAttributes.Count > 0 ? new Dictionary<string, string>(v.VolumeAttributes) : null,
                    },
                });
        }

        return (volumes, mounts);

        // The pod-level volume name must be an RFC 1123 label; GitLab's own examples use names such as "empty_dir", so an
        // invalid one is converted (the Secret, ConfigMap or PVC it refers to keeps the configured name).
        void Add(string configuredName, string configuredMountPath, bool readOnly, MountOptions options, V1Volume volume)
        {
            var mountPath = expand($"volume \"{configuredName}\" mount_path", configuredMountPath);
            var subPath = options.SubPath is null ? null : expand($"volume \"{configuredName}\" sub_path", options.SubPath);
            var name = KubernetesNames.IsDns1123Label(configuredName) ? configuredName : KubernetesNames.MakeRfc1123Compatible(configuredName);
            if (name.Length == 0)
            {
                throw Refuse($"volume name \"{configuredName}\" cannot be made a valid Kubernetes volume name (RFC 1123 label)");
            }

            if (!names.Add(name))
            {
                throw Refuse($"volume name \"{configuredName}\" is used twice or is reserved by the runner");
            }

            if (!mountPath.StartsWith('/'))
            {
                throw Refuse($"volume \"{configuredName}\": mount_path \"{mountPath}\" must be an absolute path");
            }

            volume.Name = name;
            volumes.Add(volume);
            mounts.Add(new V1VolumeMount
            {
                Name = name, MountPath = mountPath, ReadOnlyProperty = readOnly ? true : null, SubPath = subPath,
                MountPropagation = options.MountPropagation,
            });
        }
    }

    /// <summary>A PVC name with job variables and the runner's predefined ones expanded; it must name a claim.</summary>
    /// <summary>A config value with job variables and the runner's predefined ones expanded; a reference to a masked or
    /// non-public variable is a refusal (the value goes into the pod spec).</summary>
    private static string ExpandConfigValue(string what, string name, JobVariableLookup lookup, IReadOnlyDictionary<string, string> predefined)
    {
        if (!name.Contains('$'))
        {
            return name;
        }

        string? hidden = null;
        var expanded = VariableExpander.Expand(name, variable =>
        {
            if (lookup.Find(variable) is { } found)
            {
                if (found.IsShowable)
                {
                    return found.Value;
                }

                hidden ??= variable;
                return null;
            }

            return predefined.GetValueOrDefault(variable);
        });
        if (hidden is not null)
        {
            throw Refuse($"{what} \"{name}\" refers to the masked, non-public or file variable {hidden}; secrets never go into the pod spec");
        }

        return expanded;
    }

    /// <summary>The variables the runner defines itself (and its <c>environment</c>), for expanding config values.</summary>
    private static Dictionary<string, string> Predefined(RunnerEntry runner, int concurrentId, RunnerIdentity identity, string buildsDir)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in runner.Environment)
        {
            var equals = entry.IndexOf('=');
            values[equals < 0 ? entry : entry[..equals]] = equals < 0 ? "" : entry[(equals + 1)..];
        }

        values["CI_RUNNER_VERSION"] = identity.Version;
        values["CI_RUNNER_REVISION"] = identity.Revision;
        values["CI_RUNNER_EXECUTABLE_ARCH"] = identity.Architecture;
        values["CI_CONCURRENT_ID"] = concurrentId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        values["CI_BUILDS_DIR"] = buildsDir;
        return values;
    }

    private static IEnumerable<string> AllMountPaths(VolumesSettings s) =>
        s.HostPaths.Select(v => v.MountPath).Concat(s.Secrets.Select(v => v.MountPath)).Concat(s.Pvcs.Select(v => v.MountPath))
            .Concat(s.ConfigMaps.Select(v => v.MountPath)).Concat(s.EmptyDirs.Select(v => v.MountPath)).Concat(s.Csis.Select(v => v.MountPath))
            .Concat(s.Nfs.Select(v => v.MountPath));

    private static bool SamePath(string a, string b) =>
        string.Equals(a.Length > 1 ? a.TrimEnd('/') : a, b.Length > 1 ? b.TrimEnd('/') : b, StringComparison.Ordinal);

    private static List<V1KeyToPath>? Items(IReadOnlyDictionary<string, string> items) =>
        items.Count > 0 ? items.Select(item => new V1KeyToPath { Key = item.Key, Path = item.Value }).ToList() : null;
}
