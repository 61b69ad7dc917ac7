using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// Pod spec parts: resources, tolerations, pod_spec patches and the pod security context.
public static partial class PodBuilder
{
    /// <summary><c>"key=value" = "Effect"</c> (Equal; split on the first <c>=</c>, as GitLab Runner does now) or
    /// <c>"key" = "Effect"</c> (Exists). An empty effect matches every effect: the field is left out, as GitLab Runner's
    /// <c>omitempty</c> does.</summary>
    private static List<V1Toleration>? Tolerations(IReadOnlyList<KeyValuePair<string, string>> configured)
    {
        if (configured.Count == 0)
        {
            return null;
        }

        return configured.Select(entry =>
        {
            var effect = string.IsNullOrEmpty(entry.Value) ? null : entry.Value;
            var equals = entry.Key.IndexOf('=');
            return equals < 0
                ? new V1Toleration { Key = entry.Key.Length > 0 ? entry.Key : null, OperatorProperty = "Exists", Effect = effect }
                : new V1Toleration
                {
                    Key = entry.Key[..equals], OperatorProperty = "Equal", Value = entry.Key[(equals + 1)..], Effect = effect,
                };
        }).ToList();
    }

    /// <summary>The PodSpec after the <c>pod_spec</c> patches. A patch that fails, or that removes what the runner needs
    /// to run the job (the build and helper containers, the job Secret and run volumes and their mounts in build and helper,
    /// <c>restartPolicy: Never</c>), or that sets a field PodSpec does not have, is a refusal naming the patch.</summary>
    private static V1PodSpec PatchedSpec(V1PodSpec spec, IReadOnlyList<PodSpecPatchSettings> patches, bool hasRunVolume)
    {
        var original = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(k8s.KubernetesJson.Serialize(spec))!;
        System.Text.Json.Nodes.JsonObject patched;
        try
        {
            patched = PodSpecPatches.Apply(original, patches);
        }
        catch (FormatException error)
        {
            throw Refuse(error.Message);
        }

        var names = string.Join(", ", patches.Select(p => $"\"{p.Name}\""));
        V1PodSpec result;
        try
        {
            result = k8s.KubernetesJson.Deserialize<V1PodSpec>(patched.ToJsonString());
        }
        catch (JsonException error)
        {
            throw Refuse($"pod_spec patches {names} give a PodSpec with a value of the wrong type: {error.Message}");
        }

        var roundTrip = System.Text.Json.Nodes.JsonNode.Parse(k8s.KubernetesJson.Serialize(result));
        if (UnknownField(patched, roundTrip, "") is { } unknown)
        {
            throw Refuse($"pod_spec patches {names} set \"{unknown}\", which is not a PodSpec field");
        }

        foreach (var name in new[] { BuildContainer, HelperContainer })
        {
            var container = result.Containers?.FirstOrDefault(c => c.Name == name);
            if (container is null)
            {
                throw Refuse($"pod_spec patches {names} remove the {name} container, which the runner runs the job in");
            }

            foreach (var volume in hasRunVolume ? new[] { JobSecretLayout.VolumeName, StageCommands.RunVolumeName } : [JobSecretLayout.VolumeName])
            {
                if (container.VolumeMounts?.Any(m => m.Name == volume) != true || result.Volumes?.Any(v => v.Name == volume) != true)
                {
                    throw Refuse($"pod_spec patches {names} remove the runner's volume \"{volume}\" or its mount in the {name} container");
                }
            }
        }

        if (result.RestartPolicy != "Never")
        {
            throw Refuse($"pod_spec patches {names} change restartPolicy; a job pod must not restart its containers");
        }

        return result;
    }

    /// <summary>The first field path of <paramref name="patched"/> that did not survive deserialization, or null.</summary>
    private static string? UnknownField(System.Text.Json.Nodes.JsonNode? patched, System.Text.Json.Nodes.JsonNode? roundTrip, string path)
    {
        switch (patched)
        {
            case System.Text.Json.Nodes.JsonObject patchedObject:
                foreach (var (key, value) in patchedObject)
                {
                    var other = roundTrip is System.Text.Json.Nodes.JsonObject o && o.TryGetPropertyValue(key, out var v) ? v : null;
                    var isEmpty = value is null || value is System.Text.Json.Nodes.JsonObject { Count: 0 } || value is System.Text.Json.Nodes.JsonArray { Count: 0 };
                    if (other is null && !isEmpty)
                    {
                        return path + key;
                    }

                    if (UnknownField(value, other, path + key + ".") is { } nested)
                    {
                        return nested;
                    }
                }

                return null;
            case System.Text.Json.Nodes.JsonArray patchedArray when roundTrip is System.Text.Json.Nodes.JsonArray otherArray:
                for (var i = 0; i < patchedArray.Count && i < otherArray.Count; i++)
                {
                    if (UnknownField(patchedArray[i], otherArray[i], $"{path.TrimEnd('.')}[{i}].") is { } nested)
                    {
                        return nested;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static V1PodSecurityContext? PodSecurityContext(PodSecurityContextSettings settings) =>
        settings.IsEmpty
            ? null
            : new V1PodSecurityContext
            {
                FsGroup = settings.FsGroup,
                RunAsGroup = settings.RunAsGroup,
                RunAsNonRoot = settings.RunAsNonRoot,
                RunAsUser = settings.RunAsUser,
                SupplementalGroups = settings.SupplementalGroups.Count > 0 ? settings.SupplementalGroups.Select(g => (long?)g).ToList() : null,
                SeLinuxOptions = settings.SeLinuxType is { } type ? new V1SELinuxOptions { Type = type } : null,
            };
}
