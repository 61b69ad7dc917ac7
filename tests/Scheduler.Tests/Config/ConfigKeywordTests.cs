using System.Globalization;
using Scheduler.Config;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>Every keyword of config.toml is read into the settings records, one row per keyword.</summary>
public sealed class ConfigKeywordTests
{
    private static readonly Dictionary<string, Func<GlobalSettings, object?>> Accessors = WithResourceKeys(new()
    {
        ["concurrent"] = s => s.Concurrent,
        ["check_interval"] = s => s.CheckInterval,
        ["log_level"] = s => s.LogLevel,
        ["log_format"] = s => s.LogFormat,
        ["listen_address"] = s => s.ListenAddress,
        ["shutdown_timeout"] = s => s.ShutdownTimeout,
        ["kubernetes_api_rate"] = s => s.KubernetesApiRate,
        ["kubernetes_api_burst"] = s => s.KubernetesApiBurst,
        ["name"] = s => s.Runners[0].Name,
        ["url"] = s => s.Runners[0].Url,
        ["token"] = s => s.Runners[0].Token,
        ["executor"] = s => s.Runners[0].Executor,
        ["limit"] = s => s.Runners[0].Limit,
        ["request_concurrency"] = s => s.Runners[0].RequestConcurrency,
        ["unhealthy_requests_limit"] = s => s.Runners[0].UnhealthyRequestsLimit,
        ["unhealthy_interval"] = s => s.Runners[0].UnhealthyInterval,
        ["connection_max_age"] = s => s.ConnectionMaxAge,
        ["job_status_final_update_retry_limit"] = s => s.Runners[0].JobStatusFinalUpdateRetryLimit,
        ["environment"] = s => s.Runners[0].Environment,
        ["builds_dir"] = s => s.Runners[0].BuildsDir,
        ["cache_dir"] = s => s.Runners[0].CacheDir,
        ["output_limit"] = s => s.Runners[0].OutputLimit,
        ["host"] = s => K(s).Host,
        ["cert_file"] = s => K(s).CertFile,
        ["key_file"] = s => K(s).KeyFile,
        ["ca_file"] = s => K(s).CaFile,
        ["bearer_token"] = s => K(s).BearerToken,
        ["bearer_token_overwrite_allowed"] = s => K(s).BearerTokenOverwriteAllowed,
        ["image"] = s => K(s).Image,
        ["namespace"] = s => K(s).Namespace,
        ["namespace_overwrite_allowed"] = s => K(s).NamespaceOverwriteAllowed,
        ["privileged"] = s => K(s).Privileged,
        ["cpu_limit"] = s => K(s).CpuLimit,
        ["memory_limit"] = s => K(s).MemoryLimit,
        ["service_cpu_limit"] = s => K(s).ServiceCpuLimit,
        ["service_memory_limit"] = s => K(s).ServiceMemoryLimit,
        ["helper_cpu_limit"] = s => K(s).HelperCpuLimit,
        ["helper_memory_limit"] = s => K(s).HelperMemoryLimit,
        ["cpu_request"] = s => K(s).CpuRequest,
        ["memory_request"] = s => K(s).MemoryRequest,
        ["service_cpu_request"] = s => K(s).ServiceCpuRequest,
        ["service_memory_request"] = s => K(s).ServiceMemoryRequest,
        ["helper_cpu_request"] = s => K(s).HelperCpuRequest,
        ["helper_memory_request"] = s => K(s).HelperMemoryRequest,
        ["pull_policy"] = s => K(s).PullPolicy,
        ["node_selector"] = s => K(s).NodeSelector,
        ["node_tolerations"] = s => K(s).NodeTolerations,
        ["image_pull_secrets"] = s => K(s).ImagePullSecrets,
        ["helper_image"] = s => K(s).HelperImage,
        ["terminationGracePeriodSeconds"] = s => K(s).TerminationGracePeriodSeconds,
        ["poll_interval"] = s => K(s).PollInterval,
        ["poll_timeout"] = s => K(s).PollTimeout,
        ["pod_labels"] = s => K(s).PodLabels,
        ["pod_annotations"] = s => K(s).PodAnnotations,
        ["pod_annotations_overwrite_allowed"] = s => K(s).PodAnnotationsOverwriteAllowed,
        ["pod_security_context"] = s => K(s).PodSecurityContext,
        ["service_account"] = s => K(s).ServiceAccount,
        ["service_account_overwrite_allowed"] = s => K(s).ServiceAccountOverwriteAllowed,
        ["volumes.host_path"] = s => K(s).Volumes.HostPaths,
        ["volumes.pvc"] = s => K(s).Volumes.Pvcs,
        ["volumes.config_map"] = s => K(s).Volumes.ConfigMaps,
        ["volumes.secret"] = s => K(s).Volumes.Secrets,
        ["volumes.empty_dir"] = s => K(s).Volumes.EmptyDirs,
        ["services"] = s => K(s).Services,
        ["shell"] = s => s.Runners[0].Shell,
        ["debug_trace_disabled"] = s => s.Runners[0].DebugTraceDisabled,
        ["clone_url"] = s => s.Runners[0].CloneUrl,
        ["custom_build_dir.enabled"] = s => s.Runners[0].CustomBuildDirEnabled,
        ["safe_directory_checkout"] = s => s.Runners[0].SafeDirectoryCheckout,
        ["clean_git_config"] = s => s.Runners[0].CleanGitConfig,
        ["pre_clone_script"] = s => s.Runners[0].PreGetSourcesScript,
        ["post_clone_script"] = s => s.Runners[0].PostGetSourcesScript,
        ["pre_get_sources_script"] = s => s.Runners[0].PreGetSourcesScript,
        ["post_get_sources_script"] = s => s.Runners[0].PostGetSourcesScript,
        ["pre_build_script"] = s => s.Runners[0].PreBuildScript,
        ["post_build_script"] = s => s.Runners[0].PostBuildScript,
        ["tls-ca-file"] = s => s.Runners[0].TlsCaFile, // read from a real file in GitLabCaTests
        ["tls-cert-file"] = s => s.Runners[0].TlsCertFile, // read from real files in GitLabClientCertificateTests
        ["tls-key-file"] = s => s.Runners[0].TlsKeyFile,
        ["feature_flags"] = s => s.Runners[0].FeatureFlags,
        ["cache"] = s => s.Runners[0].Cache,
        ["affinity"] = s => K(s).Affinity,
        ["priority_class_name"] = s => K(s).PriorityClassName,
        ["scheduler_name"] = s => K(s).SchedulerName,
        ["node_selector_overwrite_allowed"] = s => K(s).NodeSelectorOverwriteAllowed,
        ["node_tolerations_overwrite_allowed"] = s => K(s).NodeTolerationsOverwriteAllowed,
        ["pod_labels_overwrite_allowed"] = s => K(s).PodLabelsOverwriteAllowed,
        ["dns_policy"] = s => K(s).DnsPolicy,
        ["dns_config"] = s => K(s).DnsConfig,
        ["host_aliases"] = s => K(s).HostAliases,
        ["pod_spec"] = s => K(s).PodSpecPatches,
        ["pod_termination_grace_period_seconds"] = s => K(s).PodTerminationGracePeriodSeconds,
        ["cleanup_grace_period_seconds"] = s => K(s).CleanupGracePeriodSeconds,
        ["cleanup_resources_timeout"] = s => K(s).CleanupResourcesTimeout,
        ["print_pod_warning_events"] = s => K(s).PrintPodWarningEvents,
        ["pod_disruption_budget"] = s => K(s).PodDisruptionBudget,
        ["retry_limits"] = s => K(s).RetryLimits,
        ["resource_availability_check_max_attempts"] = s => K(s).ResourceAvailabilityCheckMaxAttempts,
        ["namespace_per_job"] = s => K(s).NamespacePerJob,
        ["context"] = s => K(s).Context,
        ["retry_limit"] = s => K(s).RetryLimit,
        ["retry_backoff_max"] = s => K(s).RetryBackoffMax,
        ["container_lifecycle"] = s => K(s).ContainerLifecycle,
        ["use_service_account_image_pull_secrets"] = s => K(s).UseServiceAccountImagePullSecrets,
        ["volumes.csi"] = s => K(s).Volumes.Csis,
        ["allowed_images"] = s => K(s).AllowedImages,
        ["allowed_services"] = s => K(s).AllowedServices,
        ["allowed_pull_policies"] = s => K(s).AllowedPullPolicies,
        ["allowed_users"] = s => K(s).AllowedUsers,
        ["allowed_groups"] = s => K(s).AllowedGroups,
        ["cap_add"] = s => K(s).CapAdd,
        ["cap_drop"] = s => K(s).CapDrop,
        ["allow_privilege_escalation"] = s => K(s).AllowPrivilegeEscalation,
        ["build_container_security_context"] = s => K(s).BuildContainerSecurityContext,
        ["helper_container_security_context"] = s => K(s).HelperContainerSecurityContext,
        ["service_container_security_context"] = s => K(s).ServiceContainerSecurityContext,
        ["automount_service_account_token"] = s => K(s).AutomountServiceAccountToken,
        ["runtime_class_name"] = s => K(s).RuntimeClassName,
    });

    private static KubernetesSettings K(GlobalSettings settings) => settings.Runners[0].Kubernetes;

    // ephemeral_storage_*, pod_cpu_*/pod_memory_* and every *_overwrite_max_allowed: KubernetesSettings.Resources by key.
    private static Dictionary<string, Func<GlobalSettings, object?>> WithResourceKeys(Dictionary<string, Func<GlobalSettings, object?>> accessors)
    {
        foreach (var key in global::Scheduler.Actors.Pods.ContainerResources.ConfigKeys)
        {
            accessors[key] = s => K(s).Resources.GetValueOrDefault(key);
        }

        return accessors;
    }

    [Theory]
    [InlineData("concurrent", "global", "concurrent = 7", "7")]
    [InlineData("check_interval", "global", "check_interval = 10", "10")]
    [InlineData("log_level", "global", "log_level = \"debug\"", "debug")]
    [InlineData("log_format", "global", "log_format = \"json\"", "json")]
    [InlineData("listen_address", "global", "listen_address = \":9252\"", ":9252")]
    [InlineData("shutdown_timeout", "global", "shutdown_timeout = 60", "60")]
    [InlineData("kubernetes_api_rate", "global", "kubernetes_api_rate = 500", "500")]
    [InlineData("kubernetes_api_burst", "global", "kubernetes_api_burst = 1000", "1000")]
    [InlineData("name", "runner", "name = \"Kubernetes Runner\"", "Kubernetes Runner")]
    [InlineData("url", "runner", "url = \"https://gitlab.example.com/\"", "https://gitlab.example.com/")]
    [InlineData("token", "runner", "token = \"glrt-abc\"", "glrt-abc")]
    [InlineData("executor", "runner", "executor = \"kubernetes\"", "kubernetes")]
    [InlineData("limit", "runner", "limit = 3", "3")]
    [InlineData("request_concurrency", "runner", "request_concurrency = 2", "2")]
    [InlineData("unhealthy_requests_limit", "runner", "unhealthy_requests_limit = 5", "5")]
    [InlineData("unhealthy_requests_limit", "runner", "unhealthy_requests_limit = 0", "3")]
    [InlineData("unhealthy_interval", "runner", "unhealthy_interval = \"90s\"", "00:01:30")]
    [InlineData("connection_max_age", "global", "connection_max_age = \"1h\"", "01:00:00")]
    [InlineData("job_status_final_update_retry_limit", "runner", "job_status_final_update_retry_limit = 4", "4")]
    [InlineData("job_status_final_update_retry_limit", "runner", "job_status_final_update_retry_limit = 0", "10")]
    [InlineData("environment", "runner", "environment = [\"A=1\", \"B=two words\"]", "[A=1, B=two words]")]
    [InlineData("builds_dir", "runner", "builds_dir = \"/work\"", "/work")]
    [InlineData("cache_dir", "runner", "cache_dir = \"/mnt/cache\"", "/mnt/cache")]
    [InlineData("output_limit", "runner", "output_limit = 8192", "8192")]
    [InlineData("host", "kubernetes", "host = \"https://10.1.2.3:6443\"", "https://10.1.2.3:6443")]
    [InlineData("cert_file", "kubernetes", "cert_file = \"/c.crt\"\nkey_file = \"/c.key\"\nca_file = \"/ca.crt\"", "/c.crt")]
    [InlineData("key_file", "kubernetes", "key_file = \"/c.key\"", "/c.key")]
    [InlineData("ca_file", "kubernetes", "ca_file = \"/ca.crt\"", "/ca.crt")]
    [InlineData("bearer_token", "kubernetes", "bearer_token = \"tok\"", "tok")]
    [InlineData("bearer_token_overwrite_allowed", "kubernetes", "bearer_token_overwrite_allowed = true", "True")]
    [InlineData("image", "kubernetes", "image = \"ruby:3.3\"", "ruby:3.3")]
    [InlineData("namespace", "kubernetes", "namespace = \"gitlab\"", "gitlab")]
    [InlineData("namespace_overwrite_allowed", "kubernetes", "namespace_overwrite_allowed = \"^ci-.*$\"", "^ci-.*$")]
    [InlineData("privileged", "kubernetes", "privileged = true", "True")]
    [InlineData("cpu_limit", "kubernetes", "cpu_limit = \"1\"", "1")]
    [InlineData("memory_limit", "kubernetes", "memory_limit = \"1Gi\"", "1Gi")]
    [InlineData("service_cpu_limit", "kubernetes", "service_cpu_limit = \"2\"", "2")]
    [InlineData("service_memory_limit", "kubernetes", "service_memory_limit = \"2Gi\"", "2Gi")]
    [InlineData("helper_cpu_limit", "kubernetes", "helper_cpu_limit = \"500m\"", "500m")]
    [InlineData("helper_memory_limit", "kubernetes", "helper_memory_limit = \"100Mi\"", "100Mi")]
    [InlineData("cpu_request", "kubernetes", "cpu_request = \"1.5\"", "1.5")]
    [InlineData("memory_request", "kubernetes", "memory_request = \"512Mi\"", "512Mi")]
    [InlineData("service_cpu_request", "kubernetes", "service_cpu_request = \"250m\"", "250m")]
    [InlineData("service_memory_request", "kubernetes", "service_memory_request = \"256Mi\"", "256Mi")]
    [InlineData("helper_cpu_request", "kubernetes", "helper_cpu_request = \"100m\"", "100m")]
    [InlineData("helper_memory_request", "kubernetes", "helper_memory_request = \"64Mi\"", "64Mi")]
    [InlineData("pull_policy", "kubernetes", "pull_policy = \"if-not-present\"", "[if-not-present]")]
    [InlineData("pull_policy", "kubernetes", "pull_policy = [\"always\"]", "[always]")]
    [InlineData("allowed_images", "kubernetes", "allowed_images = [\"ruby:*\", \"registry.example.com/**\"]", "[ruby:*, registry.example.com/**]")]
    [InlineData("allowed_services", "kubernetes", "allowed_services = [\"postgres:*\"]", "[postgres:*]")]
    [InlineData("allowed_pull_policies", "kubernetes", "allowed_pull_policies = [\"never\", \"if-not-present\"]", "[never, if-not-present]")]
    [InlineData("allowed_users", "kubernetes", "allowed_users = [\"1000\", \"65534\"]", "[1000, 65534]")]
    [InlineData("allowed_groups", "kubernetes", "allowed_groups = [\"1000\"]", "[1000]")]
    [InlineData("cap_add", "kubernetes", "cap_add = [\"SYS_TIME\"]", "[SYS_TIME]")]
    [InlineData("cap_drop", "kubernetes", "cap_drop = [\"ALL\"]", "[ALL]")]
    [InlineData("allow_privilege_escalation", "kubernetes", "allow_privilege_escalation = false", "False")]
    [InlineData("build_container_security_context", "kubernetes",
        "[runners.kubernetes.build_container_security_context]\nprivileged = false\nallow_privilege_escalation = false\nrun_as_user = 1\n"
        + "run_as_group = 2\nrun_as_non_root = true\nread_only_root_filesystem = true\nselinux_type = \"container_t\"\nproc_mount = \"unmasked\"\n"
        + "[runners.kubernetes.build_container_security_context.capabilities]\nadd = [\"NET_ADMIN\"]\ndrop = [\"ALL\"]",
        "{\"Privileged\":false,\"AllowPrivilegeEscalation\":false,\"RunAsUser\":1,\"RunAsGroup\":2,\"RunAsNonRoot\":true,\"ReadOnlyRootFilesystem\":true,\"CapAdd\":[\"NET_ADMIN\"],\"CapDrop\":[\"ALL\"],\"SeLinuxType\":\"container_t\",\"ProcMount\":\"Unmasked\"}")]
    [InlineData("helper_container_security_context", "kubernetes", "[runners.kubernetes.helper_container_security_context]\nrun_as_user = 1000",
        "{\"Privileged\":null,\"AllowPrivilegeEscalation\":null,\"RunAsUser\":1000,\"RunAsGroup\":null,\"RunAsNonRoot\":null,\"ReadOnlyRootFilesystem\":null,\"CapAdd\":null,\"CapDrop\":null,\"SeLinuxType\":null,\"ProcMount\":null}")]
    [InlineData("service_container_security_context", "kubernetes", "[runners.kubernetes.service_container_security_context]\nrun_as_non_root = true",
        "{\"Privileged\":null,\"AllowPrivilegeEscalation\":null,\"RunAsUser\":null,\"RunAsGroup\":null,\"RunAsNonRoot\":true,\"ReadOnlyRootFilesystem\":null,\"CapAdd\":null,\"CapDrop\":null,\"SeLinuxType\":null,\"ProcMount\":null}")]
    [InlineData("automount_service_account_token", "kubernetes", "automount_service_account_token = false", "False")]
    [InlineData("runtime_class_name", "kubernetes", "runtime_class_name = \"gvisor\"", "gvisor")]
    [InlineData("ephemeral_storage_limit", "kubernetes", "ephemeral_storage_limit = \"2Gi\"", "2Gi")]
    [InlineData("helper_cpu_limit_overwrite_max_allowed", "kubernetes", "helper_cpu_limit_overwrite_max_allowed = \"500m\"", "500m")]
    [InlineData("pod_memory_request", "kubernetes", "pod_memory_request = \"1Gi\"", "1Gi")]
    [InlineData("cleanup_resources_timeout", "kubernetes", "cleanup_resources_timeout = \"1h30m\"", "01:30:00")]
    [InlineData("cleanup_resources_timeout", "kubernetes", "cleanup_resources_timeout = \"0\"", "00:05:00")]
    [InlineData("print_pod_warning_events", "kubernetes", "print_pod_warning_events = false", "False")]
    [InlineData("pod_disruption_budget", "kubernetes", "pod_disruption_budget = true", "True")]
    [InlineData("retry_limits", "kubernetes", "[runners.kubernetes.retry_limits]\n\"exceeded quota\" = 20\n\"connection refused\" = 3",
        "[[exceeded quota, 20], [connection refused, 3]]")]
    [InlineData("resource_availability_check_max_attempts", "kubernetes", "resource_availability_check_max_attempts = 2", "2")]
    [InlineData("resource_availability_check_max_attempts", "kubernetes", "resource_availability_check_max_attempts = 0", "5")]
    [InlineData("namespace_per_job", "kubernetes", "namespace_per_job = true", "True")]
    [InlineData("context", "kubernetes", "context = \"ci-cluster\"", "ci-cluster")]
    [InlineData("node_selector", "kubernetes", "[runners.kubernetes.node_selector]\ngitlab = \"true\"\n\"kubernetes.io/arch\" = \"amd64\"",
        "{gitlab=true, kubernetes.io/arch=amd64}")]
    [InlineData("node_tolerations", "kubernetes",
        "[runners.kubernetes.node_tolerations]\n\"z-last=first\" = \"NoSchedule\"\n\"onlyKey\" = \"\"\n\"a=b\" = \"NoExecute\"",
        "[z-last=first=NoSchedule, onlyKey=, a=b=NoExecute]")]
    [InlineData("image_pull_secrets", "kubernetes", "image_pull_secrets = [\"one\", \"two\"]", "[one, two]")]
    [InlineData("helper_image", "kubernetes", "helper_image = \"registry/ci/scheduler:1\"", "registry/ci/scheduler:1")]
    [InlineData("terminationGracePeriodSeconds", "kubernetes", "terminationGracePeriodSeconds = 45", "45")]
    [InlineData("poll_interval", "kubernetes", "poll_interval = 5", "5")]
    [InlineData("poll_timeout", "kubernetes", "poll_timeout = 3600", "3600")]
    [InlineData("pod_labels", "kubernetes", "pod_labels = { team = \"ci\", sha = \"$CI_COMMIT_SHA\" }", "{sha=$CI_COMMIT_SHA, team=ci}")]
    [InlineData("pod_annotations", "kubernetes", "[runners.kubernetes.pod_annotations]\n\"example.com/a\" = \"1\"", "{example.com/a=1}")]
    [InlineData("pod_annotations_overwrite_allowed", "kubernetes", "pod_annotations_overwrite_allowed = \"^a=.*$\"", "^a=.*$")]
    [InlineData("pod_security_context", "kubernetes",
        "[runners.kubernetes.pod_security_context]\nfs_group = 1\nrun_as_group = 2\nrun_as_non_root = true\nrun_as_user = 3\nsupplemental_groups = [4, 5]",
        "fs_group=1 run_as_group=2 run_as_non_root=True run_as_user=3 supplemental_groups=[4, 5]")]
    [InlineData("service_account", "kubernetes", "service_account = \"ci\"", "ci")]
    [InlineData("service_account_overwrite_allowed", "kubernetes", "service_account_overwrite_allowed = \"^ci-.*$\"", "^ci-.*$")]
    [InlineData("volumes.host_path", "kubernetes",
        "[[runners.kubernetes.volumes.host_path]]\nname = \"h1\"\nmount_path = \"/m1\"\nread_only = true\nhost_path = \"/h1\"\n"
        + "[[runners.kubernetes.volumes.host_path]]\nname = \"h2\"\nmount_path = \"/m2\"",
        "[HostPathVolume { Name = h1, MountPath = /m1, ReadOnly = True, HostPath = /h1, Mount = MountOptions { SubPath = , MountPropagation =  } }, HostPathVolume { Name = h2, MountPath = /m2, ReadOnly = False, HostPath = , Mount = MountOptions { SubPath = , MountPropagation =  } }]")]
    [InlineData("volumes.pvc", "kubernetes", "volumes = { pvc = [{ name = \"p\", mount_path = \"/p\", read_only = true }] }",
        "[PvcVolume { Name = p, MountPath = /p, ReadOnly = True, Mount = MountOptions { SubPath = , MountPropagation =  } }]")]
    [InlineData("volumes.config_map", "kubernetes",
        "[[runners.kubernetes.volumes.config_map]]\nname = \"cm\"\nmount_path = \"/cm\"\n[runners.kubernetes.volumes.config_map.items]\n\"key_1\" = \"path/one\"",
        "cm /cm False {key_1=path/one}")]
    [InlineData("volumes.secret", "kubernetes",
        "[[runners.kubernetes.volumes.secret]]\nname = \"s\"\nmount_path = \"/s\"\nread_only = true\nitems = { secret_1 = \"file\" }",
        "s /s True {secret_1=file}")]
    [InlineData("volumes.empty_dir", "kubernetes",
        "[[runners.kubernetes.volumes.empty_dir]]\nname = \"e\"\nmount_path = \"/e\"\nmedium = \"Memory\"",
        "[EmptyDirVolume { Name = e, MountPath = /e, Medium = Memory, Mount = MountOptions { SubPath = , MountPropagation =  }, SizeLimit =  }]")]
    [InlineData("services", "kubernetes", "[[runners.kubernetes.services]]\nname = \"postgres:12\"\n[[runners.kubernetes.services]]\nname = \"redis\"\nalias = \"cache,db\"\ncommand = [\"--x\"]\nentrypoint = [\"/e\"]\nenvironment = [\"A=1\"]",
        "[postgres:12 alias= command=[] entrypoint=[] environment=[], redis alias=cache,db command=[--x] entrypoint=[/e] environment=[A=1]]")]
    [InlineData("shell", "runner", "shell = \"sh\"", "sh")]
    [InlineData("debug_trace_disabled", "runner", "debug_trace_disabled = true", "True")]
    [InlineData("clone_url", "runner", "clone_url = \"https://internal.example\"", "https://internal.example")]
    [InlineData("custom_build_dir.enabled", "runner", "[runners.custom_build_dir]\nenabled = false", "False")]
    [InlineData("safe_directory_checkout", "runner", "safe_directory_checkout = false", "False")]
    [InlineData("clean_git_config", "runner", "clean_git_config = false", "False")]
    [InlineData("pre_clone_script", "runner", "pre_clone_script = \"echo old\"", "echo old")]
    [InlineData("post_clone_script", "runner", "post_clone_script = \"echo old\"", "echo old")]
    [InlineData("pre_get_sources_script", "runner", "pre_get_sources_script = \"echo new\"\npre_clone_script = \"echo old\"", "echo new")]
    [InlineData("post_get_sources_script", "runner", "post_get_sources_script = \"echo new\"\npost_clone_script = \"echo old\"", "echo new")]
    [InlineData("pre_build_script", "runner", "pre_build_script = \"echo pre\"", "echo pre")]
    [InlineData("post_build_script", "runner", "post_build_script = \"echo post\"", "echo post")]
    [InlineData("feature_flags", "runner", "[runners.feature_flags]\nFF_USE_ADVANCED_POD_SPEC_CONFIGURATION = true",
        "{\"FF_USE_ADVANCED_POD_SPEC_CONFIGURATION\":true}")]
    [InlineData("affinity", "kubernetes",
        "[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution]\n"
        + "[[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms]]\n"
        + "[[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.match_expressions]]\n"
        + "key = \"kubernetes.io/e2e-az-name\"\noperator = \"In\"\nvalues = [\"e2e-az1\"]\n"
        + "[[runners.kubernetes.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution]]\nweight = 100\n"
        + "[runners.kubernetes.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution.pod_affinity_term]\n"
        + "topology_key = \"kubernetes.io/hostname\"\nnamespaces = [\"a\"]\n"
        + "[runners.kubernetes.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution.pod_affinity_term.label_selector]\n"
        + "match_labels = { app = \"web\" }",
        "{\"NodeAffinity\":{\"Required\":[{\"MatchExpressions\":[{\"Key\":\"kubernetes.io/e2e-az-name\",\"Operator\":\"In\",\"Values\":[\"e2e-az1\"]}],\"MatchFields\":[]}],\"Preferred\":[]},"
        + "\"PodAffinity\":null,\"PodAntiAffinity\":{\"Required\":[],\"Preferred\":[{\"Weight\":100,\"Term\":{\"LabelSelector\":{\"MatchLabels\":{\"app\":\"web\"},\"MatchExpressions\":[]},"
        + "\"Namespaces\":[\"a\"],\"TopologyKey\":\"kubernetes.io/hostname\",\"NamespaceSelector\":null}}]}}")]
    [InlineData("cache", "runner", "[runners.cache]\nType = \"s3\"\nShared = true\n[runners.cache.s3]\nBucketName = \"b\"\nSecretKey = \"sk\"\nAccessKey = \"ak\"",
        "CacheSettings { Type = s3, Path = , Shared = True, MaxUploadedArchiveSize = 0, S3 = S3CacheSettings { ServerAddress = , AccessKey = ak, "
        + "SecretKey = [MASKED], BucketName = b, BucketLocation = , Insecure = False }, UsesS3 = True }")]
    [InlineData("priority_class_name", "kubernetes", "priority_class_name = \"high\"", "high")]
    [InlineData("scheduler_name", "kubernetes", "scheduler_name = \"my-scheduler\"", "my-scheduler")]
    [InlineData("node_selector_overwrite_allowed", "kubernetes", "node_selector_overwrite_allowed = \"^a=.*$\"", "^a=.*$")]
    [InlineData("node_tolerations_overwrite_allowed", "kubernetes", "node_tolerations_overwrite_allowed = \"^a.*$\"", "^a.*$")]
    [InlineData("pod_labels_overwrite_allowed", "kubernetes", "pod_labels_overwrite_allowed = \"^a=.*$\"", "^a=.*$")]
    [InlineData("dns_policy", "kubernetes", "dns_policy = \"cluster-first-with-host-net\"", "cluster-first-with-host-net")]
    [InlineData("dns_config", "kubernetes",
        "[runners.kubernetes.dns_config]\nnameservers = [\"1.2.3.4\"]\nsearches = [\"a.example\"]\n[[runners.kubernetes.dns_config.options]]\nname = \"ndots\"\nvalue = \"2\"\n"
        + "[[runners.kubernetes.dns_config.options]]\nname = \"edns0\"",
        "{\"Nameservers\":[\"1.2.3.4\"],\"Searches\":[\"a.example\"],\"Options\":[{\"Name\":\"ndots\",\"Value\":\"2\"},{\"Name\":\"edns0\",\"Value\":null}]}")]
    [InlineData("host_aliases", "kubernetes", "[[runners.kubernetes.host_aliases]]\nip = \"127.0.0.1\"\nhostnames = [\"web1\", \"web2\"]",
        "[{\"Ip\":\"127.0.0.1\",\"Hostnames\":[\"web1\",\"web2\"]}]")]
    [InlineData("pod_spec", "kubernetes",
        "[runners.feature_flags]\nFF_USE_ADVANCED_POD_SPEC_CONFIGURATION = true\n[[runners.kubernetes.pod_spec]]\nname = \"hostname\"\npatch = \"hostname: x\"\npatch_type = \"merge\"\n[[runners.kubernetes.pod_spec]]\npatch = \"subdomain: y\"",
        "[{\"Name\":\"hostname\",\"Patch\":\"hostname: x\",\"PatchType\":\"merge\"},{\"Name\":\"pod_spec[1]\",\"Patch\":\"subdomain: y\",\"PatchType\":\"strategic\"}]")]
    [InlineData("pod_termination_grace_period_seconds", "kubernetes", "pod_termination_grace_period_seconds = 30", "30")]
    [InlineData("retry_limit", "kubernetes", "retry_limit = 5", "5")]
    [InlineData("retry_backoff_max", "kubernetes", "retry_backoff_max = 2000", "2000")]
    [InlineData("container_lifecycle", "kubernetes",
        "[runners.kubernetes.container_lifecycle.post_start.exec]\ncommand = [\"touch\", \"/x\"]\n[runners.kubernetes.container_lifecycle.pre_stop.tcp_socket]\nport = 80",
        "{\"PostStart\":{\"ExecCommand\":[\"touch\",\"/x\"],\"HttpGet\":null,\"TcpSocket\":null},\"PreStop\":{\"ExecCommand\":null,\"HttpGet\":null,\"TcpSocket\":{\"Host\":null,\"Port\":80}}}")]
    [InlineData("use_service_account_image_pull_secrets", "kubernetes", "use_service_account_image_pull_secrets = true", "True")]
    [InlineData("volumes.csi", "kubernetes",
        "[[runners.kubernetes.volumes.csi]]\nname = \"c\"\nmount_path = \"/c\"\ndriver = \"d\"\nfs_type = \"ext4\"\nsub_path = \"s\"\nvolume_attributes = { k = \"v\" }",
        "[CsiVolume { Name = c, MountPath = /c, ReadOnly = False, Driver = d, FsType = ext4, VolumeAttributes = System.Collections.Generic.Dictionary`2[System.String,System.String], Mount = MountOptions { SubPath = s, MountPropagation =  } }]")]
    public void Keyword_is_read(string keyword, string section, string toml, string expected)
    {
        var text = section switch
        {
            "global" => $"{toml}\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n",
            "runner" => $"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n{toml}\n",
            _ => $"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\n{toml}\n",
        };
        if (keyword == "url" || keyword == "token")
        {
            text = $"[[runners]]\n{toml}\n{(keyword == "url" ? "token = \"t\"" : "url = \"u\"")}\n";
        }

        var result = ConfigLoader.LoadText(text, "config.toml");

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(expected, Render(Accessors[keyword](result.Settings!)));
    }

    [Fact]
    public void Every_spec_keyword_has_a_row()
    {
        // Guards the table above: a keyword added to the supported list must get a row.
        var covered = Accessors.Keys.Select(key => key.Split('.')[0]).ToHashSet();
        var keywords = ConfigKeys.Global.Concat(ConfigKeys.Runner).Concat(ConfigKeys.Kubernetes).Except(["runners", "kubernetes"]);
        Assert.All(keywords, keyword => Assert.Contains(keyword, covered));
    }

    [Fact]
    public void Defaults_apply_when_keys_are_absent()
    {
        var result = ConfigLoader.LoadText("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", "config.toml");

        var settings = result.Settings!;
        var runner = settings.Runners.Single();
        var kubernetes = runner.Kubernetes;
        Assert.True(result.IsValid);
        Assert.Equal((1, 3, 30), (settings.Concurrent, settings.CheckInterval, settings.ShutdownTimeout));
        Assert.Equal(("kubernetes", 0, 1, 4096), (runner.Executor, runner.Limit, runner.RequestConcurrency, runner.OutputLimit));
        Assert.Equal((3, 180), (kubernetes.PollInterval, kubernetes.PollTimeout));
        Assert.Null(kubernetes.TerminationGracePeriodSeconds);
        Assert.Empty(kubernetes.PullPolicy);
        Assert.Null(kubernetes.Namespace);
        Assert.False(kubernetes.Privileged);
        Assert.True(kubernetes.PodSecurityContext.IsEmpty);
        Assert.Empty(kubernetes.NodeTolerations);
        Assert.Empty(kubernetes.Services);
    }

    [Theory]
    [InlineData("poll_interval = 0", 3, 180)]
    [InlineData("poll_timeout = 0", 3, 180)]
    [InlineData("poll_interval = 1\npoll_timeout = 10", 1, 10)]
    public void Zero_poll_values_mean_the_defaults(string toml, int interval, int timeout)
    {
        var result = ConfigLoader.LoadText($"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\n{toml}\n", "config.toml");

        Assert.True(result.IsValid);
        Assert.Equal((interval, timeout), (result.Settings!.Runners[0].Kubernetes.PollInterval, result.Settings.Runners[0].Kubernetes.PollTimeout));
    }

    [Theory]
    [InlineData("cpu_limit = \"\"")]
    [InlineData("pull_policy = \"\"")]
    [InlineData("namespace_overwrite_allowed = \"\"")]
    public void Empty_strings_mean_not_set(string toml)
    {
        var result = ConfigLoader.LoadText($"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\n{toml}\n", "config.toml");

        var kubernetes = result.Settings!.Runners[0].Kubernetes;
        Assert.True(result.IsValid);
        Assert.Null(kubernetes.CpuLimit);
        Assert.Empty(kubernetes.PullPolicy);
        Assert.Null(kubernetes.NamespaceOverwriteAllowed);
    }

    [Fact]
    public void Keys_match_case_insensitively_like_gitlab_runner()
    {
        var result = ConfigLoader.LoadText("Concurrent = 5\n[[runners]]\nURL = \"u\"\ntoken = \"t\"\n", "config.toml");

        Assert.Empty(result.Warnings);
        Assert.Equal(5, result.Settings!.Concurrent);
        Assert.Equal("u", result.Settings.Runners[0].Url);
    }

    [Fact]
    public void File_path_is_recorded_and_diagnostics_name_it()
    {
        using var directory = new TemporaryDirectory();
        var invalid = directory.Write("invalid.toml", "concurrent = \"x\"\n");
        var valid = directory.Write("valid.toml", "[[runners]]\nurl = \"u\"\ntoken = \"t\"\n");

        Assert.Equal(invalid, Assert.Single(ConfigLoader.LoadFile(invalid).Errors).File);
        Assert.Equal(valid, ConfigLoader.LoadFile(valid).Settings!.SourcePath);
    }

    private static string Render(object? value) => value switch
    {
        null => "",
        string text => text,
        bool flag => flag.ToString(),
        IReadOnlyDictionary<string, string> map => "{" + string.Join(", ", map.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")) + "}",
        IReadOnlyList<KeyValuePair<string, string>> pairs => "[" + string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}")) + "]",
        IReadOnlyList<ConfigMapVolume> maps => string.Join("; ", maps.Select(v => $"{v.Name} {v.MountPath} {v.ReadOnly} {Render(v.Items)}")),
        IReadOnlyList<SecretVolume> secrets => string.Join("; ", secrets.Select(v => $"{v.Name} {v.MountPath} {v.ReadOnly} {Render(v.Items)}")),
        ServiceSettings sv =>
            $"{sv.Name} alias={sv.Alias} command={Render(sv.Command)} entrypoint={Render(sv.Entrypoint)} environment={Render(sv.Environment)}",
        AffinitySettings or DnsConfigSettings or ContainerLifecycleSettings or ContainerSecurityContextSettings or IReadOnlyList<HostAliasSettings> or IReadOnlyList<PodSpecPatchSettings>
            or IReadOnlyDictionary<string, bool> => System.Text.Json.JsonSerializer.Serialize(value),
        PodSecurityContextSettings c =>
            $"fs_group={c.FsGroup} run_as_group={c.RunAsGroup} run_as_non_root={c.RunAsNonRoot} run_as_user={c.RunAsUser} supplemental_groups={Render(c.SupplementalGroups)}",
        System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(Render)) + "]",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
