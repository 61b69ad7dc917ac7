namespace Scheduler.Config;

/// <summary>
/// The keys of each config.toml table: those this runner reads, and those GitLab Runner knows but this runner does not
/// implement (a warning, never an error, so that a user's existing config.toml loads unchanged).
/// </summary>
internal static class ConfigKeys
{
    public static readonly string[] Global =
        ["concurrent", "check_interval", "log_level", "log_format", "listen_address", "shutdown_timeout", "runners", "connection_max_age"];

    /// <summary>Top-level tables of this runner's own, beyond GitLab Runner's keywords.</summary>
    public static readonly string[] GlobalOwn = ["cluster", "kubernetes_api_rate", "kubernetes_api_burst"];

    /// <summary>The <c>[cluster]</c> table (this runner's own: GitLab Runner has no fleet).</summary>
    public static readonly string[] Cluster =
    [
        "hostname", "bind_host", "port", "seed_nodes", "roles", "discovery", "discovery_label_selector", "management_port",
        "stable_after", "orphan_scan_interval", "claim_delay", "tls_certificate", "tls_key", "tls_ca",
    ];

    /// <summary>Why a key GitLab Runner knows has no effect here. <paramref name="Yet"/>: it may take effect in a later
    /// version of this runner (another issue); otherwise it does not apply to this runner at all.</summary>
    public sealed record NoEffect(string Reason, bool Yet)
    {
        public string Message => Yet ? $"has no effect here yet: {Reason}" : $"has no effect here: {Reason}";
    }

    private const string Fleet = "this runner has no such server";
    private const string Labels = "runner labels are not sent with job requests here yet (GitLab does not use them yet either)";
    private const string SecurityProfiles = "GitLab Runner has no such key to follow; set seccompProfile, appArmorProfile or sysctls "
                                            + "with a pod_spec patch (FF_USE_ADVANCED_POD_SPEC_CONFIGURATION)";
    private const string OtherExecutor = "it configures another executor; this runner only runs the kubernetes executor";
    private const string GitLabHelper = "it selects GitLab's helper image; this runner's helper is its own image (helper_image still overrides it)";

    private static NoEffect NotYet(string reason) => new(reason, true);
    private static NoEffect Never(string reason) => new(reason, false);

    public static readonly IReadOnlyDictionary<string, NoEffect> GlobalNoEffect = new Dictionary<string, NoEffect>
    {
        ["user"] = Never("the runner does not switch users; run it as the user it should be"),
        ["sentry_dsn"] = Never("this runner does not report to Sentry"),
        ["labels"] = NotYet(Labels),
        ["session_server"] = NotYet("interactive web terminals are not supported yet; " + Fleet),
        ["metrics_server"] = Never("use listen_address for the metrics endpoint"),
        ["prometheus_address"] = Never("use listen_address for the metrics endpoint"),
        ["experimental"] = Never("GitLab Runner's experimental settings do not apply to this runner"),
        ["shutdown_timeout_seconds"] = Never("use shutdown_timeout"),
    };

    public static readonly string[] Runner =
        ["name", "url", "token", "executor", "limit", "request_concurrency", "environment", "builds_dir", "cache_dir", "output_limit", "kubernetes",
         "shell", "feature_flags", "debug_trace_disabled", "clone_url", "pre_clone_script", "post_clone_script", "pre_get_sources_script",
         "post_get_sources_script", "pre_build_script", "post_build_script", "tls-ca-file", "tls-cert-file", "tls-key-file", "cache", "unhealthy_requests_limit",
         "unhealthy_interval", "job_status_final_update_retry_limit", "custom_build_dir", "safe_directory_checkout", "clean_git_config"];

    public static readonly IReadOnlyDictionary<string, NoEffect> RunnerNoEffect = new Dictionary<string, NoEffect>
    {
        ["id"] = Never("GitLab's runner id is not needed by this runner"),
        ["labels"] = NotYet(Labels),
        ["token_obtained_at"] = Never("token expiry is not tracked by this runner"),
        ["token_expires_at"] = Never("token expiry is not tracked by this runner"),
        ["referees"] = Never("referees collect Docker-executor metrics"),
        ["graceful_kill_timeout"] = Never("GitLab Runner does not read it from config.toml either"),
        ["force_kill_timeout"] = Never("GitLab Runner does not read it from config.toml either"),
        ["system_id"] = Never("this runner identifies its nodes itself"),
        ["monitoring"] = Never("use listen_address for the metrics endpoint"),
        ["step_runner_image"] = NotYet("CI steps are not supported yet"),
        ["docker"] = Never(OtherExecutor),
        ["parallels"] = Never(OtherExecutor),
        ["ssh"] = Never(OtherExecutor),
        ["virtualbox"] = Never(OtherExecutor),
        ["machine"] = Never(OtherExecutor),
        ["custom"] = Never(OtherExecutor),
        ["autoscaler"] = Never(OtherExecutor),
        ["instance"] = Never(OtherExecutor),
    };

    public static readonly string[] Kubernetes =
    [
        "host", "cert_file", "key_file", "ca_file", "bearer_token", "bearer_token_overwrite_allowed", "image", "namespace",
        "namespace_overwrite_allowed", "privileged", "cpu_limit", "memory_limit", "service_cpu_limit", "service_memory_limit",
        "helper_cpu_limit", "helper_memory_limit", "cpu_request", "memory_request", "service_cpu_request", "service_memory_request",
        "helper_cpu_request", "helper_memory_request", "pull_policy", "node_selector", "node_tolerations", "image_pull_secrets",
        "helper_image", "terminationGracePeriodSeconds", "poll_interval", "poll_timeout", "pod_labels", "pod_annotations",
        "pod_annotations_overwrite_allowed", "pod_security_context", "service_account", "service_account_overwrite_allowed",
        "volumes", "services",
        // Added by GitLab Runner after 12.5, implemented here.
        "affinity", "priority_class_name", "scheduler_name", "node_selector_overwrite_allowed", "node_tolerations_overwrite_allowed",
        "pod_labels_overwrite_allowed", "dns_policy", "dns_config", "host_aliases", "pod_spec", "pod_termination_grace_period_seconds",
        "cleanup_grace_period_seconds", "container_lifecycle", "use_service_account_image_pull_secrets", "retry_limit",
        "retry_backoff_max", "cleanup_resources_timeout", "print_pod_warning_events", "retry_limits",
        "resource_availability_check_max_attempts", "namespace_per_job", "context", "pod_disruption_budget",
        // The hardening keys.
        "allowed_images", "allowed_services", "allowed_pull_policies", "allowed_users", "allowed_groups", "cap_add", "cap_drop", "allow_privilege_escalation",
        "build_container_security_context", "helper_container_security_context", "service_container_security_context",
        "automount_service_account_token", "runtime_class_name",
        // Per-job resource overwrites: ephemeral_storage_*, pod_cpu_*/pod_memory_* and every *_overwrite_max_allowed.
        .. Scheduler.Actors.Pods.ContainerResources.ConfigKeys,
    ];

    /// <summary>Keys of GitLab Runner's current <c>[runners.kubernetes]</c> that are accepted without effect, with why.</summary>
    public static readonly IReadOnlyDictionary<string, NoEffect> KubernetesNoEffect = BuildKubernetesNoEffect();

    private static Dictionary<string, NoEffect> BuildKubernetesNoEffect()
    {
        var keys = new Dictionary<string, NoEffect>();
        keys["init_permissions_container_security_context"] = Never("this runner starts no init-permissions container");
        keys["host_network"] = Never("job pods never use the host's network namespace");
        keys["user"] = Never("GitLab Runner's current Kubernetes executor has no section-wide user; a job asks with image:kubernetes:user "
                             + "(limited by allowed_users/allowed_groups), the administrator sets build_container_security_context.run_as_user");

        keys["helper_image_flavor"] = Never(GitLabHelper);
        keys["helper_image_autoset_arch_and_os"] = Never(GitLabHelper);
        keys["logs_base_dir"] = Never("stage output goes to this runner's own run directory (an emptyDir), not to a logs-<project>-<job> directory");
        keys["scripts_base_dir"] = Never("stage scripts come from the job Secret, not from a scripts-<project>-<job> directory");
        keys["autoscaler"] = Never("GitLab Runner's pause-pod autoscaler (a Deployment of pause pods sized by cron policies) is not "
                                   + "part of this runner; keep spare node capacity with the cluster autoscaler's own over-provisioning");
        return keys;
    }

    public static readonly string[] PodSecurityContext =
        ["fs_group", "run_as_group", "run_as_non_root", "run_as_user", "supplemental_groups", "selinux_type"];

    public static readonly IReadOnlyDictionary<string, NoEffect> PodSecurityContextNoEffect = new Dictionary<string, NoEffect>
    {
        ["seccomp_profile"] = Never(SecurityProfiles),
        ["app_armor_profile"] = Never(SecurityProfiles),
        ["sysctls"] = Never(SecurityProfiles),
    };

    /// <summary><c>build_container_security_context</c> and its helper and service siblings.</summary>
    public static readonly string[] ContainerSecurityContext =
        ["privileged", "allow_privilege_escalation", "run_as_user", "run_as_group", "run_as_non_root", "read_only_root_filesystem", "capabilities",
         "selinux_type", "proc_mount"];

    public static readonly IReadOnlyDictionary<string, NoEffect> ContainerSecurityContextNoEffect = new Dictionary<string, NoEffect>
    {
        ["seccomp_profile"] = Never(SecurityProfiles),
        ["app_armor_profile"] = Never(SecurityProfiles),
    };

    public static readonly string[] Capabilities = ["add", "drop"];

    public static readonly string[] VolumeKinds = ["host_path", "pvc", "config_map", "secret", "empty_dir", "csi", "nfs"];

    public static readonly IReadOnlyDictionary<string, NoEffect> VolumeKindsNoEffect = new Dictionary<string, NoEffect>();

    private static readonly string[] MountKeys = ["sub_path"];
    public static readonly string[] HostPathVolume = ["name", "mount_path", "read_only", "host_path", .. MountKeys, "mount_propagation"];
    public static readonly string[] PvcVolume = ["name", "mount_path", "read_only", .. MountKeys, "mount_propagation"];
    public static readonly string[] ItemsVolume = ["name", "mount_path", "read_only", "items", .. MountKeys];
    public static readonly string[] EmptyDirVolume = ["name", "mount_path", "medium", "size_limit", .. MountKeys, "mount_propagation"];
    public static readonly string[] NfsVolume = ["name", "mount_path", "read_only", "server", "path", .. MountKeys];
    public static readonly string[] CsiVolume = ["name", "mount_path", "read_only", "driver", "fs_type", "volume_attributes", .. MountKeys];

    public static readonly IReadOnlyDictionary<string, NoEffect> VolumeNoEffect = new Dictionary<string, NoEffect>();

    public static readonly string[] Service = ["name", "alias", "command", "entrypoint", "environment", "ports"];

    public static readonly string[] ServicePort = ["number", "protocol", "name"];

    public static readonly IReadOnlyDictionary<string, NoEffect> ServiceNoEffect = new Dictionary<string, NoEffect>
    {
        ["variables"] = Never("GitLab Runner's key for a service's variables is environment"),
    };
}
