using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>Builds a job's pod and Secrets from the runner's config and the job payload. Pure: no I/O; the only
/// nondeterminism, the name suffix, is passed in.</summary>
/// <remarks>
/// Choices (see the behaviour reference): containers <c>build</c>, <c>helper</c>, <c>svc-N</c>; build and helper run a
/// keep-alive shell so stage scripts can be exec'd into them detached (the build image's entrypoint and command are not
/// used, as in GitLab Runner without FF_KUBERNETES_HONOR_ENTRYPOINT); only public, unmasked, non-file variables go into
/// the env (every <c>$</c> doubled, so the kubelet's <c>$(VAR)</c> expansion leaves values as they are); the job token and
/// every other variable go into the job Secret, mounted read-only in build and helper only; the helper gets no env
/// (as GitLab Runner since 14.8); every container gets a securityContext (<see cref="ContainerSecurity"/>: NET_RAW
/// dropped by default); a job image, service or pull policy outside the allow-lists is a refusal (<see cref="ImagePolicy"/>);
/// activeDeadlineSeconds is the job timeout plus <see cref="ActiveDeadlineMarginSeconds"/> so the job timeout fires
/// first and the pod cannot outlive a lost runner; label and annotation values may refer only to public, unmasked,
/// non-file variables (a reference to another one is a refusal);
/// volume names that are not RFC 1123 labels (GitLab's own example uses <c>empty_dir</c>) are converted for the pod.
/// </remarks>
public static class PodBuilder
{
    public const string DefaultBuildsDir = "/builds";
    public const string DefaultNamespace = "default";
    public const string BuildsVolumeName = "repo";
    public const string BuildContainer = "build";
    public const string HelperContainer = "helper";
    /// <summary>Margin on top of the job timeout for activeDeadlineSeconds: time for after_script, artifacts and cleanup.</summary>
    public const int ActiveDeadlineMarginSeconds = 300;

    /// <summary>Keeps a container alive until the pod is deleted; exits 0 on SIGTERM; one sleep per hour, not per second.</summary>
    public const string KeepAliveScript = "trap 'kill $! 2>/dev/null; exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

    /// <summary>One image is both runner and helper.</summary>
    public static string DefaultHelperImage(string version) => "scheduler:" + version;

    public static PodBuildResult Build(RunnerEntry runner, JobPayload job, int concurrentId, RunnerIdentity identity,
        Func<string>? nameSuffix = null) => Build(runner, job, concurrentId, identity, scripts: null, nameSuffix);

    /// <summary>The pod for running <paramref name="scripts"/>: each stage script goes into the job Secret as
    /// <c>stage.&lt;name&gt;.sh</c>, and build and helper share the run directory (<see cref="StageCommands.RunDir"/>, an
    /// emptyDir) where stages write their output log and exit markers. Without scripts, neither is added.</summary>
    public static PodBuildResult Build(RunnerEntry runner, JobPayload job, int concurrentId, RunnerIdentity identity,
        JobScriptPlan? scripts, Func<string>? nameSuffix = null)
    {
        try
        {
            return new PodBuildResult(BuildPlan(runner, job, concurrentId, identity, nameSuffix ?? PodNaming.RandomSuffix, scripts), null);
        }
        catch (PodRefusedException refused)
        {
            return new PodBuildResult(null, refused.Message);
        }
    }

    // Refusals are raised deep in the helpers and caught only in Build, which turns them into a result.
    private sealed class PodRefusedException(string reason) : Exception(reason);

    private static PodRefusedException Refuse(string reason) => new(reason);

    private static JobPodPlan BuildPlan(RunnerEntry runner, JobPayload job, int concurrentId, RunnerIdentity identity,
        Func<string> nameSuffix, JobScriptPlan? scripts)
    {
        var k8sSettings = runner.Kubernetes;
        var lookup = new JobVariableLookup(job.Variables);

        var overwriteResult = Overwrites.Resolve(k8sSettings, job.Variables);
        if (overwriteResult.Refusal is not null)
        {
            throw Refuse(overwriteResult.Refusal);
        }

        var overwrites = overwriteResult.Overwrites!;
        var ns = overwrites.Namespace.Length > 0 ? overwrites.Namespace : DefaultNamespace;
        if (!KubernetesNames.IsDns1123Label(ns))
        {
            throw Refuse($"namespace \"{ns}\" is not a valid Kubernetes namespace name (RFC 1123 label)");
        }

        if (overwrites.ServiceAccount is { } sa && !KubernetesNames.IsDns1123Subdomain(sa))
        {
            throw Refuse($"service account \"{sa}\" is not a valid Kubernetes name");
        }

        var prefix = PodNaming.Prefix(runner.Token, job.JobInfo.ProjectId, concurrentId);
        var podName = PodNaming.PodName(prefix, nameSuffix());
        var jobSecretName = podName + "-job";
        var registrySecretName = podName + "-registry";

        var buildsDir = string.IsNullOrEmpty(runner.BuildsDir) ? DefaultBuildsDir : runner.BuildsDir;
        var helperPullPolicy = PullPolicy(k8sSettings, [], "helper image");
        var predefined = Predefined(runner, concurrentId, identity, buildsDir);
        var (volumes, mounts) = Volumes(k8sSettings.Volumes, buildsDir, (what, value) => ExpandConfigValue(what, value, lookup, predefined));
        var lifecycle = PodSpecSettings.Lifecycle(k8sSettings.ContainerLifecycle);
        var jobSecretMount = new V1VolumeMount { Name = JobSecretLayout.VolumeName, MountPath = JobSecretLayout.MountPath, ReadOnlyProperty = true };
        volumes.Add(new V1Volume
        {
            Name = JobSecretLayout.VolumeName,
            // The default file mode: the job may run as any user, and the Secret is the job's own.
            Secret = new V1SecretVolumeSource { SecretName = jobSecretName },
        });
        List<V1VolumeMount> stageMounts = [jobSecretMount];
        if (scripts is not null)
        {
            volumes.Add(new V1Volume { Name = StageCommands.RunVolumeName, EmptyDir = new V1EmptyDirVolumeSource() });
            stageMounts.Add(new V1VolumeMount { Name = StageCommands.RunVolumeName, MountPath = StageCommands.RunDir });
        }

        var env = Env(runner, job, concurrentId, identity, buildsDir);

        var image = BuildImage(job, k8sSettings, lookup);
        var serviceDefinitions = ServiceDefinitions(k8sSettings, job);
        CheckAllowedImages(job, k8sSettings, image, serviceDefinitions.Skip(ConfiguredServiceCount(k8sSettings)), lookup);
        var build = new V1Container
        {
            Name = BuildContainer,
            Image = image,
            Command = ["sh", "-c", KeepAliveScript],
            Env = env.Count > 0 ? env : null,
            Ports = Ports(job.Image?.Ports ?? [], BuildContainer),
            Resources = Resources("", k8sSettings.CpuLimit, k8sSettings.MemoryLimit, k8sSettings.CpuRequest, k8sSettings.MemoryRequest),
            VolumeMounts = [.. mounts, .. stageMounts],
            ImagePullPolicy = PullPolicy(k8sSettings, job.Image?.PullPolicy ?? [], "image"),
            SecurityContext = ContainerSecurity.For(k8sSettings, k8sSettings.BuildContainerSecurityContext),
            Lifecycle = lifecycle,
        };
        var helper = new V1Container
        {
            Name = HelperContainer,
            Image = HelperImage(k8sSettings.HelperImage, identity),
            Command = ["sh", "-c", KeepAliveScript],
            Resources = Resources("helper_", k8sSettings.HelperCpuLimit, k8sSettings.HelperMemoryLimit,
                k8sSettings.HelperCpuRequest, k8sSettings.HelperMemoryRequest),
            VolumeMounts = [.. mounts, .. stageMounts],
            ImagePullPolicy = helperPullPolicy,
            SecurityContext = ContainerSecurity.For(k8sSettings, k8sSettings.HelperContainerSecurityContext),
            Lifecycle = lifecycle,
        };
        var serviceResources = Resources("service_", k8sSettings.ServiceCpuLimit, k8sSettings.ServiceMemoryLimit,
            k8sSettings.ServiceCpuRequest, k8sSettings.ServiceMemoryRequest);
        var services = Services(serviceDefinitions, lookup, env, serviceResources, mounts,
            service => PullPolicy(k8sSettings, service.PullPolicy, $"service \"{service.Name}\""),
            () => ContainerSecurity.For(k8sSettings, k8sSettings.ServiceContainerSecurityContext), lifecycle, jobSecretName);
        var (hostAliases, hostAliasRefusal) = PodSpecSettings.HostAliases(serviceDefinitions, k8sSettings.HostAliases);
        if (hostAliasRefusal is not null)
        {
            throw Refuse(hostAliasRefusal);
        }

        var (jobSecretData, _) = JobSecretData(job, scripts);
        var systemLabels = SystemLabels(runner, job, concurrentId);
        // use_service_account_image_pull_secrets: the pod names no pull secret, so the service account's apply (GitLab
        // Runner then leaves the job's registry credentials unused too; they are not even created here).
        var useServiceAccountSecrets = k8sSettings.UseServiceAccountImagePullSecrets;
        var registrySecret = useServiceAccountSecrets ? null : RegistrySecret(job, registrySecretName, ns, systemLabels);

        var pullSecrets = useServiceAccountSecrets
            ? []
            : k8sSettings.ImagePullSecrets.Select(name => new V1LocalObjectReference { Name = name }).ToList();
        if (registrySecret is not null)
        {
            pullSecrets.Add(new V1LocalObjectReference { Name = registrySecretName });
        }

        var pod = new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = podName,
                NamespaceProperty = ns,
                Labels = PodLabels(k8sSettings, overwrites.PodLabels, lookup, prefix, systemLabels),
                Annotations = PodAnnotations(overwrites, runner, job, jobSecretName),
            },
            Spec = new V1PodSpec
            {
                Containers = [build, helper, .. services],
                Volumes = volumes,
                RestartPolicy = "Never",
                ServiceAccountName = overwrites.ServiceAccount,
                NodeSelector = overwrites.NodeSelector.Count > 0 ? new Dictionary<string, string>(overwrites.NodeSelector) : null,
                Tolerations = Tolerations(overwrites.NodeTolerations),
                ImagePullSecrets = pullSecrets.Count > 0 ? pullSecrets : null,
                SecurityContext = PodSecurityContext(k8sSettings.PodSecurityContext),
                // The deprecated key wins when both are set, as in GitLab Runner.
                TerminationGracePeriodSeconds = k8sSettings.TerminationGracePeriodSeconds ?? k8sSettings.PodTerminationGracePeriodSeconds,
                ActiveDeadlineSeconds = job.RunnerInfo.EffectiveTimeoutSeconds + (long)ActiveDeadlineMarginSeconds,
                Affinity = PodSpecSettings.Affinity(k8sSettings.Affinity),
                PriorityClassName = k8sSettings.PriorityClassName,
                SchedulerName = k8sSettings.SchedulerName,
                DnsPolicy = PodSpecSettings.DnsPolicy(k8sSettings.DnsPolicy),
                DnsConfig = PodSpecSettings.DnsConfig(k8sSettings.DnsConfig),
                HostAliases = hostAliases,
                AutomountServiceAccountToken = k8sSettings.AutomountServiceAccountToken,
                RuntimeClassName = k8sSettings.RuntimeClassName,
            },
        };

        if (k8sSettings.PodSpecPatches.Count > 0
            && PodSpecSettings.IsFeatureFlagOn(PodSpecSettings.AdvancedPodSpecFeatureFlag, runner, job.Variables))
        {
            pod.Spec = PatchedSpec(pod.Spec, k8sSettings.PodSpecPatches, scripts is not null);
        }

        var jobSecret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "Opaque",
            Metadata = new V1ObjectMeta { Name = jobSecretName, NamespaceProperty = ns, Labels = new Dictionary<string, string>(systemLabels) },
            Data = jobSecretData,
        };

        return new JobPodPlan(pod, jobSecret, registrySecret, overwrites);
    }

    private static string BuildImage(JobPayload job, KubernetesSettings settings, JobVariableLookup lookup)
    {
        var name = job.Image?.Name;
        if (string.IsNullOrWhiteSpace(name))
        {
            name = settings.Image;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            throw Refuse("no image specified and no default set in config");
        }

        return ExpandImage(name, lookup, "image");
    }

    private static string ExpandImage(string name, JobVariableLookup lookup, string what)
    {
        var image = lookup.ExpandShowable(name, out var hidden);
        if (hidden is not null)
        {
            throw Refuse($"{what} \"{name}\" refers to the masked, non-public or file variable {hidden}; secrets never go into the pod spec");
        }

        if (string.IsNullOrWhiteSpace(image))
        {
            throw Refuse($"{what} \"{name}\" expands to an empty image name");
        }

        if (image.Trim() != image)
        {
            throw Refuse($"{what} \"{image}\" has leading or trailing whitespace");
        }

        return image;
    }

    private static string HelperImage(string? configured, RunnerIdentity identity)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return DefaultHelperImage(identity.Version);
        }

        var image = VariableExpander.Expand(configured, name => name switch
        {
            "CI_RUNNER_VERSION" => identity.Version,
            "CI_RUNNER_REVISION" => identity.Revision,
            "CI_RUNNER_EXECUTABLE_ARCH" => identity.Architecture,
            _ => null,
        });
        return string.IsNullOrWhiteSpace(image) ? throw Refuse($"helper_image \"{configured}\" expands to an empty image name") : image;
    }

    /// <summary>The imagePullPolicy of one container: the first policy that <c>allowed_pull_policies</c> allows (see
    /// <see cref="ImagePolicy.EffectivePullPolicies"/>); retrying a failed pull with the next one is not implemented.</summary>
    private static string? PullPolicy(KubernetesSettings settings, IReadOnlyList<string> fromJob, string what)
    {
        var unknown = settings.PullPolicy.Concat(settings.AllowedPullPolicies).FirstOrDefault(p => !ImagePolicy.PullPolicies.Contains(p));
        if (unknown is not null)
        {
            throw Refuse($"unsupported pull_policy \"{unknown}\": use always, never or if-not-present");
        }

        var (policies, refusal) = ImagePolicy.EffectivePullPolicies(fromJob, settings.PullPolicy, settings.AllowedPullPolicies);
        return refusal is not null
            ? throw Refuse($"{what}: {refusal}")
            : ImagePolicy.KubernetesPullPolicy(policies.FirstOrDefault());
    }

    /// <summary><c>allowed_images</c> and <c>allowed_services</c> bound what the job asks for; the config's own image and
    /// services are always allowed (GitLab Runner's "internal images").</summary>
    private static void CheckAllowedImages(JobPayload job, KubernetesSettings settings, string image, IEnumerable<JobService> jobServices,
        JobVariableLookup lookup)
    {
        if (!string.IsNullOrWhiteSpace(job.Image?.Name) && image != settings.Image && !ImagePolicy.IsAllowed(image, settings.AllowedImages))
        {
            throw Refuse(ImagePolicy.NotAllowed("image", image, "allowed_images", settings.AllowedImages));
        }

        foreach (var service in jobServices)
        {
            var name = ExpandImage(service.Name, lookup, $"service \"{service.Name}\" image");
            if (!ImagePolicy.IsAllowed(name, settings.AllowedServices))
            {
                throw Refuse(ImagePolicy.NotAllowed("service image", name, "allowed_services", settings.AllowedServices));
            }
        }
    }

    private static int ConfiguredServiceCount(KubernetesSettings settings) => settings.Services.Count(s => !string.IsNullOrWhiteSpace(s.Name));

    private static V1ResourceRequirements? Resources(string keyPrefix, string? cpuLimit, string? memoryLimit, string? cpuRequest,
        string? memoryRequest)
    {
        var limits = ResourceList(keyPrefix, "limit", cpuLimit, memoryLimit);
        var requests = ResourceList(keyPrefix, "request", cpuRequest, memoryRequest);
        return limits is null && requests is null ? null : new V1ResourceRequirements { Limits = limits, Requests = requests };
    }

    private static Dictionary<string, ResourceQuantity>? ResourceList(string keyPrefix, string kind, string? cpu, string? memory)
    {
        var list = new Dictionary<string, ResourceQuantity>();
        Add("cpu", cpu);
        Add("memory", memory);
        return list.Count > 0 ? list : null;

        void Add(string resource, string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return;
            }

            var quantity = ResourceQuantities.TryParse(text, out var error)
                           ?? throw Refuse($"invalid {keyPrefix}{resource}_{kind} \"{text}\": {error}");
            list[resource] = quantity;
        }
    }

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
            };

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

    private static List<V1ContainerPort>? Ports(IReadOnlyList<JobPort> ports, string container)
    {
        if (ports.Count == 0)
        {
            return null;
        }

        return ports.Select(port => port.Number is >= 1 and <= 65535
            ? new V1ContainerPort { ContainerPort = port.Number }
            : throw Refuse($"container {container}: port {port.Number} is out of range 1-65535")).ToList();
    }

    /// <summary>Config services first, then the job's; empty names are skipped before numbering. A config service's
    /// <c>environment</c> entries (<c>NAME=value</c>) become its variables.</summary>
    private static List<JobService> ServiceDefinitions(KubernetesSettings settings, JobPayload job) =>
        settings.Services.Where(s => !string.IsNullOrWhiteSpace(s.Name))
            .Select(s => new JobService
            {
                Name = s.Name,
                Alias = s.Alias,
                Command = s.Command,
                Entrypoint = s.Entrypoint,
                Variables = s.Environment.Select(entry =>
                {
                    var equals = entry.IndexOf('=');
                    return new JobServiceVariable { Key = equals < 0 ? entry : entry[..equals], Value = equals < 0 ? "" : entry[(equals + 1)..] };
                }).ToList(),
            })
            .Concat(job.Services.Where(s => !string.IsNullOrWhiteSpace(s.Name)))
            .ToList();

    private static List<V1Container> Services(List<JobService> definitions, JobVariableLookup lookup,
        List<V1EnvVar> env, V1ResourceRequirements? resources, List<V1VolumeMount> mounts, Func<JobService, string?> pullPolicyOf,
        Func<V1SecurityContext> securityContextOf, V1Lifecycle? lifecycle, string jobSecretName)
    {
        var containers = new List<V1Container>();
        for (var i = 0; i < definitions.Count; i++)
        {
            var service = definitions[i];
            var name = $"svc-{i}";
            var serviceEnv = new List<V1EnvVar>(env);
            foreach (var variable in service.Variables)
            {
                if (!IsVariableName(variable.Key))
                {
                    throw Refuse($"service \"{service.Name}\": variable name \"{variable.Key}\" is not a valid environment variable name");
                }

                var value = lookup.ExpandShowable(variable.Value, out var hidden);
                if (hidden is null)
                {
                    serviceEnv.Add(new V1EnvVar { Name = variable.Key, Value = EscapeForKubelet(value) });
                    continue;
                }

                // "$DB_PASSWORD" alone: the kubelet reads the value from the job Secret, so it never appears in the pod.
                if (SecretReference(variable.Value, lookup) is { } secretKey)
                {
                    serviceEnv.Add(new V1EnvVar
                    {
                        Name = variable.Key,
                        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = jobSecretName, Key = secretKey } },
                    });
                    continue;
                }

                throw Refuse($"service \"{service.Name}\": variable {variable.Key} mixes the masked, non-public or file variable {hidden} " +
                             "with other text; secrets never go into container env literals (use the variable alone: ${hidden})");
            }

            containers.Add(new V1Container
            {
                Name = name,
                Image = ExpandImage(service.Name, lookup, $"service {name} image"),
                Command = service.Entrypoint.Count > 0 ? service.Entrypoint.ToList() : null,
                Args = service.Command.Count > 0 ? service.Command.ToList() : null,
                Env = serviceEnv.Count > 0 ? serviceEnv : null,
                Ports = Ports(service.Ports, name),
                Resources = resources,
                VolumeMounts = mounts.ToList(),
                ImagePullPolicy = pullPolicyOf(service),
                SecurityContext = securityContextOf(),
                Lifecycle = lifecycle,
            });
        }

        return containers;
    }

    /// <summary>The job Secret key of a value that is exactly one reference (<c>$X</c> or <c>${X}</c>) to a non-file
    /// variable kept in the job Secret; otherwise null.</summary>
    private static string? SecretReference(string value, JobVariableLookup lookup)
    {
        var name = value.StartsWith("${", StringComparison.Ordinal) && value.EndsWith('}') ? value[2..^1]
            : value.StartsWith('$') ? value[1..] : null;
        if (name is null || !IsVariableName(name) || lookup.Find(name) is not { IsShowable: false, File: false })
        {
            return null;
        }

        return JobSecretLayout.VariablePrefix + name;
    }

    /// <summary>The container env: runner <c>environment</c>, a few predefined public variables, then the job's public,
    /// unmasked, non-file variables. A repeated name keeps its first position and its last value.</summary>
    private static List<V1EnvVar> Env(RunnerEntry runner, JobPayload job, int concurrentId, RunnerIdentity identity, string buildsDir)
    {
        var ordered = new List<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var entry in runner.Environment)
        {
            var equals = entry.IndexOf('=');
            Set(equals < 0 ? entry : entry[..equals], equals < 0 ? "" : entry[(equals + 1)..], "runner environment");
        }

        Set("CI_RUNNER_VERSION", identity.Version, "");
        Set("CI_RUNNER_REVISION", identity.Revision, "");
        Set("CI_RUNNER_EXECUTABLE_ARCH", identity.Architecture, "");
        Set("CI_CONCURRENT_ID", concurrentId.ToString(System.Globalization.CultureInfo.InvariantCulture), "");
        Set("CI_BUILDS_DIR", buildsDir, "");

        foreach (var variable in job.Variables)
        {
            if (variable.IsShowable && !variable.File)
            {
                Set(variable.Key, variable.Value, "job variable");
            }
        }

        return ordered.Select(name => new V1EnvVar { Name = name, Value = EscapeForKubelet(values[name]) }).ToList();

        void Set(string name, string value, string source)
        {
            if (!IsVariableName(name))
            {
                throw Refuse($"{source} name \"{name}\" is not a valid environment variable name");
            }

            if (!values.ContainsKey(name))
            {
                ordered.Add(name);
            }

            values[name] = value;
        }
    }

    /// <summary>The kubelet expands <c>$(VAR)</c> in env values and turns <c>$$</c> into <c>$</c>: doubling every
    /// <c>$</c> makes the container see the value as it was sent.</summary>
    public static string EscapeForKubelet(string value) => value.Replace("$", "$$", StringComparison.Ordinal);

    private static bool IsVariableName(string name) =>
        name.Length > 0 && name.All(c => c is '_' or (>= '0' and <= '9') or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z'));

    /// <summary>The job token and every variable that may not go into the env, with a manifest that keeps job order.</summary>
    private static (Dictionary<string, byte[]> Data, int Count) JobSecretData(JobPayload job, JobScriptPlan? scripts)
    {
        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [JobSecretLayout.TokenKey] = Encoding.UTF8.GetBytes(job.Token) };
        var manifest = new List<string>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var variable in job.Variables)
        {
            if (variable.IsShowable && !variable.File)
            {
                continue;
            }

            if (!IsVariableName(variable.Key))
            {
                throw Refuse($"job variable name \"{variable.Key}\" is not a valid variable name ([A-Za-z0-9_])");
            }

            var kind = variable.File ? "file" : "var";
            var line = $"{variable.Key}\t{kind}\t{(variable.Raw ? "raw" : "expand")}\t{(variable.Masked ? "masked" : "plain")}";
            if (lines.TryGetValue(variable.Key, out var index))
            {
                // A repeated key keeps its first position and its last definition.
                data.Remove(JobSecretLayout.VariablePrefix + variable.Key);
                data.Remove(JobSecretLayout.FilePrefix + variable.Key);
                manifest[index] = line;
            }
            else
            {
                lines[variable.Key] = manifest.Count;
                manifest.Add(line);
            }

            var prefix = variable.File ? JobSecretLayout.FilePrefix : JobSecretLayout.VariablePrefix;
            data[prefix + variable.Key] = Encoding.UTF8.GetBytes(variable.Value);
        }

        data[JobSecretLayout.ManifestKey] = Encoding.UTF8.GetBytes(string.Join('\n', manifest) + (manifest.Count > 0 ? "\n" : ""));
        // Another node that adopts the job rebuilds it from here; the job can read this Secret, so it holds none of the
        // payload's other secrets (registry passwords, dependency tokens): an adopter reads the pod, never creates it.
        data[JobSecretLayout.PayloadKey] = Encoding.UTF8.GetBytes(JobPayloadParser.ToJson(job.WithoutForeignSecrets()));
        if (scripts is { VariablesScript.Length: > 0 })
        {
            // Sourced by every stage script: the variables are stored once, not once per stage.
            data[JobSecretLayout.VariablesScriptKey] = Encoding.UTF8.GetBytes(scripts.VariablesScript);
        }

        foreach (var stage in scripts?.Stages ?? [])
        {
            if (!StageCommands.IsValidStageName(stage.Name) || !data.TryAdd(stage.SecretKey, Encoding.UTF8.GetBytes(stage.Script)))
            {
                throw Refuse($"stage name \"{stage.Name}\" is invalid or used twice");
            }
        }

        // The API server refuses Secrets over 1 MiB.
        if (data.Sum(entry => entry.Key.Length + (long)entry.Value.Length) > 1024 * 1024)
        {
            throw Refuse("the job's variables and scripts exceed the 1 MiB a Kubernetes Secret can hold");
        }

        return (data, manifest.Count);
    }

    private static V1Secret? RegistrySecret(JobPayload job, string name, string ns, IReadOnlyDictionary<string, string> labels)
    {
        var auths = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var credential in job.Credentials.Where(c => c.IsRegistry && c.Url.Length > 0))
        {
            auths[credential.Url] = new Dictionary<string, string>
            {
                ["username"] = credential.Username,
                ["password"] = credential.Password,
                ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")),
            };
        }

        if (auths.Count == 0)
        {
            return null;
        }

        return new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "kubernetes.io/dockerconfigjson",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = new Dictionary<string, string>(labels) },
            Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = JsonSerializer.SerializeToUtf8Bytes(new { auths }) },
        };
    }

    private static Dictionary<string, string> SystemLabels(RunnerEntry runner, JobPayload job, int concurrentId) => new(StringComparer.Ordinal)
    {
        [PodMetadata.JobIdLabel] = job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [PodMetadata.ProjectIdLabel] = job.JobInfo.ProjectId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [PodMetadata.RunnerLabel] = RunnerLabelValue(runner.Name),
        [PodMetadata.ConcurrentIdLabel] = concurrentId.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The runner's name as a label value (<c>unnamed</c> when it has none): identifies the runner's pods.</summary>
    public static string RunnerLabelValue(string runnerName)
    {
        var value = KubernetesNames.ToRfc1123(runnerName);
        return value.Length > 0 ? value : "unnamed";
    }

    /// <summary>The <c>pod</c> label, config <c>pod_labels</c> (values expanded), the job's allowed
    /// <c>KUBERNETES_POD_LABELS_*</c> (already expanded), then the runner's own labels, which win.</summary>
    private static Dictionary<string, string> PodLabels(KubernetesSettings settings, IReadOnlyDictionary<string, string> jobLabels,
        JobVariableLookup lookup, string prefix, IReadOnlyDictionary<string, string> systemLabels)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal) { [PodMetadata.PodLabel] = prefix };
        foreach (var (key, value) in jobLabels)
        {
            if (!KubernetesNames.IsQualifiedName(key) || !KubernetesNames.IsLabelValue(value))
            {
                throw Refuse($"pod labels overwrite \"{key}={value}\" is not a valid label (key [prefix/]name, value at most 63 "
                             + "characters of [A-Za-z0-9-_.], starting and ending with a letter or digit)");
            }
        }

        foreach (var (key, raw) in settings.PodLabels)
        {
            if (!KubernetesNames.IsQualifiedName(key))
            {
                throw Refuse($"pod_labels key \"{key}\" is not a valid label key");
            }

            var value = lookup.ExpandShowable(raw, out var hidden);
            if (hidden is not null)
            {
                throw Refuse($"pod_labels \"{key}\" refers to the masked, non-public or file variable {hidden}; secrets never go into labels");
            }

            if (!KubernetesNames.IsLabelValue(value))
            {
                throw Refuse($"pod_labels \"{key}\" = \"{raw}\" gives \"{value}\", which is not a valid label value " +
                             "(at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit)");
            }

            labels[key] = value;
        }

        foreach (var (key, value) in jobLabels)
        {
            labels[key] = value;
        }

        // The runner's own labels win: adoption depends on them.
        foreach (var (key, value) in systemLabels)
        {
            labels[key] = value;
        }

        return labels;
    }

    private static Dictionary<string, string> PodAnnotations(ResolvedOverwrites overwrites, RunnerEntry runner, JobPayload job,
        string jobSecretName)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in overwrites.PodAnnotations)
        {
            if (!KubernetesNames.IsQualifiedName(key))
            {
                throw Refuse($"pod annotation key \"{key}\" is not a valid annotation key");
            }

            annotations[key] = value;
        }

        var info = job.JobInfo;
        annotations[PodMetadata.JobIdLabel] = job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.JobNameAnnotation] = info.Name;
        annotations[PodMetadata.JobStageAnnotation] = info.Stage;
        annotations[PodMetadata.PipelineIdAnnotation] = info.PipelineId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.ProjectIdLabel] = info.ProjectId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.ProjectNameAnnotation] = info.ProjectName;
        annotations[PodMetadata.ProjectPathAnnotation] = info.ProjectFullPath;
        annotations[PodMetadata.RefAnnotation] = job.GitInfo.Ref;
        annotations[PodMetadata.ShaAnnotation] = job.GitInfo.Sha;
        annotations[PodMetadata.RunnerNameAnnotation] = runner.Name;
        annotations[PodMetadata.TimeoutAnnotation] = job.RunnerInfo.EffectiveTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.JobSecretAnnotation] = jobSecretName;
        return annotations;
    }
}
