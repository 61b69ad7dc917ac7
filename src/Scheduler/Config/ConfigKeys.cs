namespace Scheduler.Config;

/// <summary>
/// The keys of each config.toml table: those this runner reads, and those GitLab Runner knows but this runner does not
/// implement (a warning, never an error, so that a user's existing config.toml loads unchanged).
/// </summary>
internal static class ConfigKeys
{
    public static readonly string[] Global =
        ["concurrent", "check_interval", "log_level", "log_format", "listen_address", "shutdown_timeout", "runners"];

    /// <summary>Top-level tables of this runner's own, beyond GitLab Runner's keywords.</summary>
    public static readonly string[] GlobalOwn = ["cluster"];

    /// <summary>The <c>[cluster]</c> table (this runner's own: GitLab Runner has no fleet).</summary>
    public static readonly string[] Cluster =
    [
        "hostname", "bind_host", "port", "seed_nodes", "roles", "discovery", "discovery_label_selector", "management_port",
        "stable_after", "orphan_scan_interval", "claim_delay",
    ];

    public static readonly string[] GlobalUnsupported =
        ["user", "sentry_dsn", "connection_max_age", "session_server", "metrics_server", "prometheus_address", "experimental"];

    public static readonly string[] Runner =
        ["name", "url", "token", "executor", "limit", "request_concurrency", "environment", "builds_dir", "output_limit", "kubernetes"];

    public static readonly string[] RunnerUnsupported =
    [
        "id", "token_obtained_at", "token_expires_at", "tls-ca-file", "tls-cert-file", "tls-key-file", "cache_dir", "clone_url",
        "pre_clone_script", "post_clone_script", "pre_get_sources_script", "post_get_sources_script", "pre_build_script",
        "post_build_script", "shell", "custom_build_dir", "referees", "cache", "debug_trace_disabled", "safe_directory_checkout",
        "clean_git_config", "unhealthy_requests_limit", "unhealthy_interval", "job_status_final_update_retry_limit",
        "feature_flags", "graceful_kill_timeout", "force_kill_timeout", "system_id", "monitoring", "step_runner_image",
        "docker", "parallels", "ssh", "virtualbox", "machine", "custom", "autoscaler", "instance",
    ];

    public static readonly string[] Kubernetes =
    [
        "host", "cert_file", "key_file", "ca_file", "bearer_token", "bearer_token_overwrite_allowed", "image", "namespace",
        "namespace_overwrite_allowed", "privileged", "cpu_limit", "memory_limit", "service_cpu_limit", "service_memory_limit",
        "helper_cpu_limit", "helper_memory_limit", "cpu_request", "memory_request", "service_cpu_request", "service_memory_request",
        "helper_cpu_request", "helper_memory_request", "pull_policy", "node_selector", "node_tolerations", "image_pull_secrets",
        "helper_image", "terminationGracePeriodSeconds", "poll_interval", "poll_timeout", "pod_labels", "pod_annotations",
        "pod_annotations_overwrite_allowed", "pod_security_context", "service_account", "service_account_overwrite_allowed",
        "volumes", "services",
    ];

    /// <summary>Keys added to GitLab Runner's Kubernetes executor after 12.5.</summary>
    public static readonly string[] KubernetesUnsupported =
    [
        "cpu_limit_overwrite_max_allowed", "cpu_request_overwrite_max_allowed", "memory_limit_overwrite_max_allowed",
        "memory_request_overwrite_max_allowed", "service_cpu_limit_overwrite_max_allowed", "service_cpu_request_overwrite_max_allowed",
        "service_memory_limit_overwrite_max_allowed", "service_memory_request_overwrite_max_allowed",
        "helper_cpu_limit_overwrite_max_allowed", "helper_cpu_request_overwrite_max_allowed",
        "helper_memory_limit_overwrite_max_allowed", "helper_memory_request_overwrite_max_allowed", "affinity", "cap_add", "cap_drop",
        "ephemeral_storage_limit", "ephemeral_storage_request", "ephemeral_storage_limit_overwrite_max_allowed",
        "ephemeral_storage_request_overwrite_max_allowed", "service_ephemeral_storage_limit", "service_ephemeral_storage_request",
        "service_ephemeral_storage_limit_overwrite_max_allowed", "service_ephemeral_storage_request_overwrite_max_allowed",
        "helper_ephemeral_storage_limit", "helper_ephemeral_storage_request", "helper_ephemeral_storage_limit_overwrite_max_allowed",
        "helper_ephemeral_storage_request_overwrite_max_allowed", "allow_privilege_escalation", "dns_config", "dns_policy",
        "host_aliases", "helper_image_flavor", "allowed_images", "allowed_services", "container_lifecycle",
        "build_container_security_context", "helper_container_security_context", "service_container_security_context",
        "init_permissions_container_security_context", "pod_termination_grace_period_seconds", "cleanup_grace_period_seconds",
        "runtime_class_name", "resource_availability_check_max_attempts", "pod_labels_overwrite_allowed", "priority_class_name",
        "allowed_pull_policies", "scheduler_name", "node_selector_overwrite_allowed", "pod_spec", "cleanup_resources_timeout",
        "helper_image_autoset_arch_and_os", "automount_service_account_token", "node_tolerations_overwrite_allowed", "retry_limit",
        "retry_limits", "use_service_account_image_pull_secrets", "namespace_per_job", "retry_backoff_max", "logs_base_dir",
        "scripts_base_dir", "print_pod_warning_events", "allowed_users", "allowed_groups", "context", "pod_cpu_limit",
        "pod_cpu_request", "pod_memory_limit", "pod_memory_request", "pod_cpu_limit_overwrite_max_allowed",
        "pod_cpu_request_overwrite_max_allowed", "pod_memory_limit_overwrite_max_allowed", "pod_memory_request_overwrite_max_allowed",
        "pod_disruption_budget", "autoscaler", "host_network", "user",
    ];

    public static readonly string[] PodSecurityContext =
        ["fs_group", "run_as_group", "run_as_non_root", "run_as_user", "supplemental_groups"];

    public static readonly string[] PodSecurityContextUnsupported =
        ["selinux_type", "seccomp_profile", "app_armor_profile", "sysctls"];

    public static readonly string[] VolumeKinds = ["host_path", "pvc", "config_map", "secret", "empty_dir"];

    public static readonly string[] VolumeKindsUnsupported = ["csi", "nfs"];

    public static readonly string[] HostPathVolume = ["name", "mount_path", "read_only", "host_path"];
    public static readonly string[] PvcVolume = ["name", "mount_path", "read_only"];
    public static readonly string[] ItemsVolume = ["name", "mount_path", "read_only", "items"];
    public static readonly string[] EmptyDirVolume = ["name", "mount_path", "medium"];

    public static readonly string[] VolumeUnsupported = ["sub_path", "mount_propagation", "size_limit"];

    public static readonly string[] Service = ["name"];

    public static readonly string[] ServiceUnsupported = ["alias", "command", "entrypoint", "variables", "ports"];
}
