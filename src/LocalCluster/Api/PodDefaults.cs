using k8s.Models;

namespace Scheduler.LocalCluster.Api;

/// <summary>The defaults kube-apiserver fills into a new pod (SetDefaults_Pod and friends).</summary>
internal static class PodDefaults
{
    public static void Apply(V1Pod pod)
    {
        var spec = pod.Spec;
        if (spec is null) return;
        spec.RestartPolicy ??= "Always";
        spec.DnsPolicy ??= "ClusterFirst";
        spec.TerminationGracePeriodSeconds ??= 30;
        spec.SchedulerName ??= "default-scheduler";
        spec.ServiceAccountName ??= spec.ServiceAccount ?? "default";
        spec.ServiceAccount ??= spec.ServiceAccountName;
        spec.SecurityContext ??= new V1PodSecurityContext();
        spec.EnableServiceLinks ??= true;
        spec.Priority ??= 0;
        spec.PreemptionPolicy ??= "PreemptLowerPriority";
        foreach (var volume in spec.Volumes ?? [])
        {
            if (volume.EmptyDir is null && volume.HostPath is null && volume.Secret is null && volume.ConfigMap is null
                && volume.PersistentVolumeClaim is null && volume.Projected is null && volume.DownwardAPI is null
                && volume.Csi is null && volume.Ephemeral is null && volume.Nfs is null && volume.Image is null)
                volume.EmptyDir = new V1EmptyDirVolumeSource();
            if (volume.Secret is not null) volume.Secret.DefaultMode ??= 420;
            if (volume.ConfigMap is not null) volume.ConfigMap.DefaultMode ??= 420;
        }
        foreach (var container in (spec.InitContainers ?? []).Concat(spec.Containers ?? []))
        {
            container.ImagePullPolicy ??= DefaultPullPolicy(container.Image);
            container.TerminationMessagePath ??= "/dev/termination-log";
            container.TerminationMessagePolicy ??= "File";
            container.Resources ??= new V1ResourceRequirements();
            // A limit without a request requests the limit, as kube.
            if (container.Resources.Limits is { Count: > 0 } limits)
            {
                container.Resources.Requests ??= new Dictionary<string, ResourceQuantity>();
                foreach (var (name, limit) in limits) container.Resources.Requests.TryAdd(name, limit);
            }
        }
    }

    private static string DefaultPullPolicy(string? image)
    {
        if (string.IsNullOrEmpty(image)) return "IfNotPresent";
        if (image.Contains('@')) return "IfNotPresent";
        var lastSlash = image.LastIndexOf('/');
        var colon = image.LastIndexOf(':');
        var tag = colon > lastSlash ? image[(colon + 1)..] : "";
        return tag is "" or "latest" ? "Always" : "IfNotPresent";
    }

    public static string QosClass(V1Pod pod)
    {
        var containers = (pod.Spec?.InitContainers ?? []).Concat(pod.Spec?.Containers ?? []).ToList();
        var anySet = containers.Any(c => c.Resources?.Requests is { Count: > 0 } || c.Resources?.Limits is { Count: > 0 });
        if (!anySet) return "BestEffort";
        var guaranteed = containers.All(c =>
            c.Resources?.Limits is { } limits && limits.ContainsKey("cpu") && limits.ContainsKey("memory")
            && (c.Resources.Requests ?? new Dictionary<string, ResourceQuantity>())
                .All(r => !limits.TryGetValue(r.Key, out var l) || l.ToString() == r.Value.ToString()));
        return guaranteed ? "Guaranteed" : "Burstable";
    }
}
