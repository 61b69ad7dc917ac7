using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>Builds a job's pod and Secrets from the runner's config and the job payload. Pure: no I/O; the only
/// nondeterminism, the name suffix, is passed in. This file assembles the plan; its parts are in PodBuilder.Images.cs,
/// .Spec.cs, .Volumes.cs, .Containers.cs, .Secrets.cs and .Metadata.cs.</summary>
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
public static partial class PodBuilder
{
    /// <summary>The name of the pod's registry Secret (its imagePullSecret with the job's registry credentials).</summary>
    public static string RegistrySecretNameOf(string podName) => podName + "-registry";

    public const string DefaultBuildsDir = JobContainers.DefaultBuildsDir;
    public const string DefaultNamespace = "default";
    public const string BuildsVolumeName = "repo";
    public const string BuildContainer = JobContainers.Build;
    public const string HelperContainer = JobContainers.Helper;
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

    /// <summary>The job's user for one container; a disallowed one is a refusal (its warnings go to the trace from the
    /// stage scripts, <see cref="JobUser.Warnings"/>).</summary>
    private static JobUserChoice UserChoice(string requested, JobVariableLookup lookup, KubernetesSettings settings,
        ContainerSecurityContextSettings? container, string what)
    {
        var choice = JobUser.Resolve(requested, lookup, settings, container, what);
        return choice.Refusal is { } refusal ? throw Refuse(refusal) : choice;
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
        // namespace_per_job: GitLab Runner's ci-job-<job id>, whatever namespace and its overwrite say.
        var ns = k8sSettings.NamespacePerJob ? $"ci-job-{job.Id}"
            : overwrites.Namespace.Length > 0 ? overwrites.Namespace : DefaultNamespace;
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
        var registrySecretName = RegistrySecretNameOf(podName);

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
        var (resources, resourceRefusal) = ContainerResources.Resolve(k8sSettings, serviceDefinitions, lookup);
        if (resources is null)
        {
            throw Refuse(resourceRefusal!);
        }

        // image:kubernetes:user; the helper never takes it (GitLab Runner MR 5724).
        var buildUser = UserChoice(job.Image?.ExecutorOpts.Kubernetes.User ?? "", lookup, k8sSettings, k8sSettings.BuildContainerSecurityContext, "image");
        var build = new V1Container
        {
            Name = BuildContainer,
            Image = image,
            Command = ["sh", "-c", KeepAliveScript],
            Env = env.Count > 0 ? env : null,
            Ports = Ports(job.Image?.Ports ?? [], BuildContainer),
            Resources = resources.Build,
            VolumeMounts = [.. mounts, .. stageMounts],
            ImagePullPolicy = PullPolicy(k8sSettings, job.Image?.PullPolicy ?? [], "image"),
            SecurityContext = JobUser.Apply(ContainerSecurity.For(k8sSettings, k8sSettings.BuildContainerSecurityContext), buildUser),
            Lifecycle = lifecycle,
        };
        var helper = new V1Container
        {
            Name = HelperContainer,
            Image = HelperImage(k8sSettings.HelperImage, identity),
            Command = ["sh", "-c", KeepAliveScript],
            Resources = resources.Helper,
            VolumeMounts = [.. mounts, .. stageMounts],
            ImagePullPolicy = helperPullPolicy,
            SecurityContext = ContainerSecurity.For(k8sSettings, k8sSettings.HelperContainerSecurityContext),
            Lifecycle = lifecycle,
        };
        var services = Services(serviceDefinitions, lookup, env, resources, mounts,
            service => PullPolicy(k8sSettings, service.PullPolicy, $"service \"{service.Name}\""),
            service => JobUser.Apply(ContainerSecurity.For(k8sSettings, k8sSettings.ServiceContainerSecurityContext),
                UserChoice(service.ExecutorOpts.Kubernetes.User, lookup, k8sSettings, k8sSettings.ServiceContainerSecurityContext,
                    $"service \"{service.Name}\"")),
            lifecycle, jobSecretName);
        // Names are derived from the image the container runs: `$REGISTRY/postgres:15` answers as postgres once expanded.
        var (hostAliases, hostAliasRefusal) = PodSpecSettings.HostAliases(
            serviceDefinitions.Select((service, i) => service with { Name = services[i].Image }), k8sSettings.HostAliases);
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
                // Pod-level requests and limits (pod_cpu_*, pod_memory_*), as GitLab Runner sets them.
                Resources = resources.Pod,
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
}
