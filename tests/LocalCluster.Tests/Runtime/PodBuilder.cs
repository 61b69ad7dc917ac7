using k8s.Models;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>Small pods for the runtime tests.</summary>
internal static class PodBuilder
{
    public static V1Pod Pod(string name, params V1Container[] containers) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ci", Uid = Guid.NewGuid().ToString() },
        Spec = new V1PodSpec { Containers = containers, RestartPolicy = "Never", TerminationGracePeriodSeconds = 2 },
    };

    public static V1Container Shell(string name, string script, params V1VolumeMount[] mounts) => new()
    {
        Name = name,
        Image = "alpine:3",
        Command = ["sh", "-c", script],
        VolumeMounts = mounts,
    };

    public static V1VolumeMount Mount(string volume, string path, bool readOnly = false) =>
        new() { Name = volume, MountPath = path, ReadOnlyProperty = readOnly };

    public static V1Pod WithVolumes(this V1Pod pod, params V1Volume[] volumes)
    {
        pod.Spec.Volumes = volumes;
        return pod;
    }

    public static string Phase(this V1PodStatus status) => status.Phase;

    public static V1ContainerStatus Container(this V1PodStatus status, string name) =>
        status.ContainerStatuses?.FirstOrDefault(c => c.Name == name) ?? throw new InvalidOperationException($"no status for {name}");
}
