using System.Text.Json.Nodes;
using k8s.Models;

namespace Scheduler.LocalCluster.Validation;

/// <summary>Pod validation as kube-apiserver's ValidatePodCreate / ValidatePodUpdate, for what a runner creates.</summary>
public static class PodValidation
{
    private static readonly string[] RestartPolicies = ["Always", "OnFailure", "Never"];
    private static readonly string[] PullPolicies = ["Always", "IfNotPresent", "Never"];
    private static readonly string[] DnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    private static readonly string[] TolerationOperators = ["Equal", "Exists"];
    private static readonly string[] TaintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    public const string UpdateForbiddenMessage =
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

    public static List<FieldError> ValidateCreate(V1Pod pod)
    {
        var errors = MetadataValidation.Validate(pod.Metadata, true, NameRule.Dns1123Subdomain);
        if (pod.Spec is null)
        {
            errors.Add(FieldError.Required("spec"));
            return errors;
        }
        errors.AddRange(ValidateSpec(pod.Spec));
        return errors;
    }

    public static List<FieldError> ValidateSpec(V1PodSpec spec)
    {
        var errors = new List<FieldError>();
        var volumeNames = ValidateVolumes(spec.Volumes, errors);

        if (spec.Containers is null || spec.Containers.Count == 0) errors.Add(FieldError.Required("spec.containers"));
        var containerNames = new HashSet<string>();
        ValidateContainers(spec.InitContainers, "spec.initContainers", volumeNames, containerNames, errors);
        ValidateContainers(spec.Containers, "spec.containers", volumeNames, containerNames, errors);

        if (spec.RestartPolicy is not null && !RestartPolicies.Contains(spec.RestartPolicy))
            errors.Add(FieldError.NotSupported("spec.restartPolicy", spec.RestartPolicy, RestartPolicies));
        if (spec.DnsPolicy is not null && !DnsPolicies.Contains(spec.DnsPolicy))
            errors.Add(FieldError.NotSupported("spec.dnsPolicy", spec.DnsPolicy, DnsPolicies));
        if (spec.ActiveDeadlineSeconds is { } deadline && deadline is < 1 or > int.MaxValue)
            errors.Add(FieldError.Invalid("spec.activeDeadlineSeconds", deadline.ToString(), "must be between 1 and 2147483647, inclusive"));
        if (spec.TerminationGracePeriodSeconds is < 0)
            errors.Add(FieldError.Invalid("spec.terminationGracePeriodSeconds", spec.TerminationGracePeriodSeconds.ToString(), "must be greater than or equal to 0"));
        if (!string.IsNullOrEmpty(spec.ServiceAccountName))
            errors.AddRange(MetadataValidation.ValidateName("spec.serviceAccountName", spec.ServiceAccountName, NameRule.Dns1123Subdomain));
        if (!string.IsNullOrEmpty(spec.Hostname))
            errors.AddRange(MetadataValidation.ValidateName("spec.hostname", spec.Hostname, NameRule.Dns1123Label));
        if (!string.IsNullOrEmpty(spec.Subdomain))
            errors.AddRange(MetadataValidation.ValidateName("spec.subdomain", spec.Subdomain, NameRule.Dns1123Label));
        errors.AddRange(MetadataValidation.ValidateLabels(spec.NodeSelector, "spec.nodeSelector"));
        errors.AddRange(ValidateTolerations(spec.Tolerations));
        return errors;
    }

    private static HashSet<string> ValidateVolumes(IList<V1Volume>? volumes, List<FieldError> errors)
    {
        var names = new HashSet<string>();
        for (var i = 0; i < (volumes?.Count ?? 0); i++)
        {
            var v = volumes![i];
            var field = $"spec.volumes[{i}]";
            if (string.IsNullOrEmpty(v.Name)) errors.Add(FieldError.Required($"{field}.name"));
            else if (!NameRules.IsDns1123Label(v.Name)) errors.Add(FieldError.Invalid($"{field}.name", v.Name, NameRules.Dns1123LabelMessage));
            else if (!names.Add(v.Name)) errors.Add(FieldError.Duplicate($"{field}.name", v.Name));
            var sources = new object?[]
            {
                v.EmptyDir, v.HostPath, v.Secret, v.ConfigMap, v.PersistentVolumeClaim, v.Projected, v.DownwardAPI,
                v.Csi, v.Ephemeral, v.Nfs, v.Image,
            }.Count(s => s is not null);
            if (sources > 1) errors.Add(FieldError.Forbidden(field, "may not specify more than 1 volume type"));
            if (v.Secret is { SecretName: null or "" }) errors.Add(FieldError.Required($"{field}.secret.secretName"));
            if (v.ConfigMap is { Name: null or "" }) errors.Add(FieldError.Required($"{field}.configMap.name"));
            if (v.PersistentVolumeClaim is { ClaimName: null or "" }) errors.Add(FieldError.Required($"{field}.persistentVolumeClaim.claimName"));
            if (v.HostPath is { Path: null or "" }) errors.Add(FieldError.Required($"{field}.hostPath.path"));
        }
        return names;
    }

    private static void ValidateContainers(IList<V1Container>? containers, string listField, HashSet<string> volumeNames,
        HashSet<string> containerNames, List<FieldError> errors)
    {
        for (var i = 0; i < (containers?.Count ?? 0); i++)
        {
            var c = containers![i];
            var field = $"{listField}[{i}]";
            if (string.IsNullOrEmpty(c.Name)) errors.Add(FieldError.Required($"{field}.name"));
            else if (!NameRules.IsDns1123Label(c.Name)) errors.Add(FieldError.Invalid($"{field}.name", c.Name, NameRules.Dns1123LabelMessage));
            else if (!containerNames.Add(c.Name)) errors.Add(FieldError.Duplicate($"{field}.name", c.Name));
            if (string.IsNullOrWhiteSpace(c.Image)) errors.Add(FieldError.Required($"{field}.image"));
            if (c.ImagePullPolicy is not null && !PullPolicies.Contains(c.ImagePullPolicy))
                errors.Add(FieldError.NotSupported($"{field}.imagePullPolicy", c.ImagePullPolicy, PullPolicies));

            var mountPaths = new HashSet<string>();
            for (var m = 0; m < (c.VolumeMounts?.Count ?? 0); m++)
            {
                var mount = c.VolumeMounts![m];
                var mountField = $"{field}.volumeMounts[{m}]";
                if (string.IsNullOrEmpty(mount.Name)) errors.Add(FieldError.Required($"{mountField}.name"));
                else if (!volumeNames.Contains(mount.Name)) errors.Add(FieldError.NotFound($"{mountField}.name", mount.Name));
                if (string.IsNullOrEmpty(mount.MountPath)) errors.Add(FieldError.Required($"{mountField}.mountPath"));
                else if (!mountPaths.Add(mount.MountPath))
                    errors.Add(FieldError.Invalid($"{mountField}.mountPath", mount.MountPath, "must be unique"));
            }

            for (var e = 0; e < (c.Env?.Count ?? 0); e++)
            {
                var env = c.Env![e];
                var envField = $"{field}.env[{e}]";
                if (string.IsNullOrEmpty(env.Name)) errors.Add(FieldError.Required($"{envField}.name"));
                else if (!NameRules.IsEnvVarName(env.Name)) errors.Add(FieldError.Invalid($"{envField}.name", env.Name, NameRules.EnvVarNameMessage));
                if (env.ValueFrom is not null && !string.IsNullOrEmpty(env.Value))
                    errors.Add(FieldError.Invalid($"{envField}.valueFrom", "", "may not be specified when `value` is not empty"));
            }
        }
    }

    public static IEnumerable<FieldError> ValidateTolerations(IList<V1Toleration>? tolerations)
    {
        for (var i = 0; i < (tolerations?.Count ?? 0); i++)
        {
            var t = tolerations![i];
            var field = $"spec.tolerations[{i}]";
            var op = string.IsNullOrEmpty(t.OperatorProperty) ? "Equal" : t.OperatorProperty;
            if (!string.IsNullOrEmpty(t.Key))
                foreach (var message in NameRules.QualifiedNameErrors(t.Key)) yield return FieldError.Invalid($"{field}.key", t.Key, message);
            if (string.IsNullOrEmpty(t.Key) && op != "Exists")
                yield return FieldError.Invalid($"{field}.operator", op, "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
            if (!TolerationOperators.Contains(op))
                yield return FieldError.NotSupported($"{field}.operator", op, TolerationOperators);
            else if (op == "Exists" && !string.IsNullOrEmpty(t.Value))
                yield return FieldError.Invalid($"{field}.operator", t.Value, "value must be empty when `operator` is 'Exists'");
            else if (op == "Equal" && !NameRules.IsLabelValue(t.Value ?? ""))
                yield return FieldError.Invalid($"{field}.value", t.Value, NameRules.LabelValueMessage);
            if (!string.IsNullOrEmpty(t.Effect) && !TaintEffects.Contains(t.Effect))
                yield return FieldError.NotSupported($"{field}.effect", t.Effect, TaintEffects);
            if (t.TolerationSeconds is not null && t.Effect != "NoExecute")
                yield return FieldError.Invalid($"{field}.effect", t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set");
        }
    }

    /// <summary>
    /// Which spec changes an update may make: only images, activeDeadlineSeconds and added tolerations
    /// (the spec is compared as JSON with those fields taken out, as kube does).
    /// </summary>
    public static List<FieldError> ValidateUpdate(JsonObject oldSpec, JsonObject newSpec)
    {
        var errors = new List<FieldError>();
        var oldTolerations = oldSpec["tolerations"] as JsonArray ?? [];
        var newTolerations = newSpec["tolerations"] as JsonArray ?? [];
        var removed = oldTolerations.Where(o => !newTolerations.Any(n => JsonNode.DeepEquals(o, n))).ToList();
        if (removed.Count > 0)
            errors.Add(FieldError.Forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"));

        if (newSpec["activeDeadlineSeconds"] is null && oldSpec["activeDeadlineSeconds"] is not null)
            errors.Add(FieldError.Invalid("spec.activeDeadlineSeconds", "", "must not update activeDeadlineSeconds to nil"));

        if (!JsonNode.DeepEquals(Comparable(oldSpec), Comparable(newSpec)))
            errors.Add(FieldError.Forbidden("spec", UpdateForbiddenMessage));
        return errors;
    }

    private static JsonObject Comparable(JsonObject spec)
    {
        var copy = spec.DeepClone().AsObject();
        copy.Remove("activeDeadlineSeconds");
        copy.Remove("tolerations");
        foreach (var list in new[] { "containers", "initContainers" })
            if (copy[list] is JsonArray containers)
                foreach (var c in containers.OfType<JsonObject>())
                    c.Remove("image");
        return copy;
    }
}
