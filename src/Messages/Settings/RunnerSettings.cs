// The settings records of config.toml, one per table, each property documented with its key: long because the
// config is; the readers in Scheduler/Config fill them.
namespace Scheduler.Messages.Settings;

/// <summary>
/// The whole of a loaded config.toml. Values are as the user wrote them; defaults are applied
/// by the loader so that consumers never guess. Collections are never null.
/// </summary>
public sealed record GlobalSettings
{
    /// <summary>The file this was loaded from, for messages that name it.</summary>
    public string? SourcePath { get; init; }
    public int Concurrent { get; init; } = 1;
    /// <summary>Seconds between job requests; GitLab Runner's default is 3.</summary>
    public int CheckInterval { get; init; } = 3;
    public string? LogLevel { get; init; }
    public string? LogFormat { get; init; }
    public string? ListenAddress { get; init; }
    /// <summary>Seconds to wait for jobs at shutdown; GitLab Runner's default is 30.</summary>
    public int ShutdownTimeout { get; init; } = 30;
    /// <summary>Client-side limit on Kubernetes API requests per second (this runner's own <c>kubernetes_api_rate</c>).</summary>
    public double KubernetesApiRate { get; init; } = 20;
    /// <summary>Kubernetes API requests that may pass at once before the rate applies (<c>kubernetes_api_burst</c>).</summary>
    public int KubernetesApiBurst { get; init; } = 40;
    /// <summary><c>connection_max_age</c>: connections to GitLab are not reused past this age; GitLab Runner's default is 15 minutes.</summary>
    public TimeSpan ConnectionMaxAge { get; init; } = TimeSpan.FromMinutes(15);
    public IReadOnlyList<RunnerEntry> Runners { get; init; } = [];
    /// <summary>The <c>[cluster]</c> table: present, the node joins a fleet; null, it runs alone.</summary>
    public ClusterSettings? Cluster { get; init; }
}

/// <summary><c>[cluster]</c>: how this runner node joins a fleet of nodes (Akka.Cluster). Times are in seconds.</summary>
public sealed record ClusterSettings
{
    public const int DefaultPort = 4053;
    public const int DefaultManagementPort = 8558;
    public const string KubernetesApiDiscovery = "kubernetes-api";

    /// <summary>The host name or IP other nodes reach this one at; default 127.0.0.1 (a fleet on one machine).</summary>
    public string? Hostname { get; init; }
    /// <summary>The address to listen on, when it differs from <see cref="Hostname"/> (e.g. 0.0.0.0 behind NAT).</summary>
    public string? BindHost { get; init; }
    /// <summary>The cluster port; 0 picks a free one.</summary>
    public int Port { get; init; } = DefaultPort;
    /// <summary>Entries of the form <c>akka.tcp://scheduler@host:port</c>; empty: this node starts the fleet.</summary>
    public IReadOnlyList<string> SeedNodes { get; init; } = [];
    public IReadOnlyList<string> Roles { get; init; } = [];
    /// <summary>Empty (static seed nodes) or <see cref="KubernetesApiDiscovery"/> (Akka.Management cluster bootstrap).</summary>
    public string Discovery { get; init; } = "";
    /// <summary>The label selector of the runner pods that discovery looks for.</summary>
    public string? DiscoveryLabelSelector { get; init; }
    public int ManagementPort { get; init; } = DefaultManagementPort;
    /// <summary>The split brain resolver's <c>stable-after</c>.</summary>
    public int StableAfter { get; init; } = 2;
    /// <summary>How often the node looks for orphaned job pods besides reacting to membership changes.</summary>
    public int OrphanScanInterval { get; init; } = 30;
    /// <summary>How long a node that is not first in an orphan's preference order waits per rank before claiming it.</summary>
    public int ClaimDelay { get; init; } = 5;
    /// <summary>PEM file of this node's certificate (TLS on the cluster port); with <see cref="TlsKey"/> and
    /// <see cref="TlsCa"/>. Null: no TLS, allowed only on loopback.</summary>
    public string? TlsCertificate { get; init; }
    /// <summary>PEM file of the private key of <see cref="TlsCertificate"/>.</summary>
    public string? TlsKey { get; init; }
    /// <summary>PEM file of the fleet's CA: a peer is a fleet node only if its certificate chains to it.</summary>
    public string? TlsCa { get; init; }
}

/// <summary>One <c>[[runners]]</c> entry.</summary>
public sealed record RunnerEntry
{
    /// <summary>Keeps the runner token out of logs: the printed form of the record masks it.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => SecretMaskingPrinter.PrintMembers(this, builder, nameof(Token), nameof(TlsClientKey));

    public string Name { get; init; } = "";
    public string Url { get; init; } = "";
    public string Token { get; init; } = "";
    public string Executor { get; init; } = "kubernetes";
    /// <summary>0 means no limit, as in GitLab Runner.</summary>
    public int Limit { get; init; }
    public int RequestConcurrency { get; init; } = 1;
    /// <summary><c>unhealthy_requests_limit</c>: after this many unhealthy answers in a row (the token refused, or no answer at
    /// all) the entry stops asking for <see cref="UnhealthyInterval"/>; GitLab Runner's default is 3.</summary>
    public int UnhealthyRequestsLimit { get; init; } = 3;
    /// <summary><c>unhealthy_interval</c>; GitLab Runner's default is 60 minutes.</summary>
    public TimeSpan UnhealthyInterval { get; init; } = TimeSpan.FromMinutes(60);
    /// <summary><c>job_status_final_update_retry_limit</c>: how many times the trace after the job's end and the final update
    /// may fail before the runner gives up on them; GitLab Runner's default is 10.</summary>
    public int JobStatusFinalUpdateRetryLimit { get; init; } = 10;
    /// <summary>Entries of the form <c>NAME=value</c>, added to every job's variables.</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? BuildsDir { get; init; }
    /// <summary><c>cache_dir</c>: where local cache archives live in the pod (GitLab Runner's default there: <c>/cache</c>).</summary>
    public string? CacheDir { get; init; }
    /// <summary><c>[runners.custom_build_dir] enabled</c>: whether a job may choose its clone path with <c>GIT_CLONE_PATH</c>
    /// (within the builds dir). Null (not set) means GitLab Runner's default for the Kubernetes executor: enabled.</summary>
    public bool? CustomBuildDirEnabled { get; init; }
    /// <summary><c>safe_directory_checkout</c>: git trusts the checkout as a <c>safe.directory</c> whoever owns it. Null means
    /// GitLab Runner's default for the Kubernetes executor: on.</summary>
    public bool? SafeDirectoryCheckout { get; init; }
    /// <summary><c>clean_git_config</c>: get_sources first removes the checkout's git config and hooks (and its submodules'),
    /// which an earlier job may have changed. Null means GitLab Runner's default: on unless <c>GIT_STRATEGY</c> is none.</summary>
    public bool? CleanGitConfig { get; init; }
    /// <summary><c>shell</c>: null (not set) or <c>bash</c>/<c>sh</c>, the shells this runner's scripts are written for.</summary>
    public string? Shell { get; init; }
    /// <summary><c>[runners.feature_flags]</c> and <c>FF_*</c> entries of <see cref="Environment"/>, by name; only the
    /// flags listed in the config README take effect.</summary>
    public IReadOnlyDictionary<string, bool> FeatureFlags { get; init; } = new Dictionary<string, bool>();
    /// <summary>Trace size limit in kilobytes; GitLab Runner's default is 4096.</summary>
    public int OutputLimit { get; init; } = 4096;
    /// <summary><c>tls-ca-file</c>: the PEM file of the CA a self-managed GitLab's certificate chains to.</summary>
    public string? TlsCaFile { get; init; }
    /// <summary>The certificates of <see cref="TlsCaFile"/>, read when the config loads: trusted by the runner's GitLab
    /// client, and handed to each job as the file variable <c>CI_SERVER_TLS_CA_FILE</c> (git, the helper).</summary>
    public string? TlsCaCertificates { get; init; }
    /// <summary><c>tls-cert-file</c>: the PEM certificate the runner presents to GitLab (mutual TLS), with <see cref="TlsKeyFile"/>.</summary>
    public string? TlsCertFile { get; init; }
    /// <summary><c>tls-key-file</c>: the PEM private key of <see cref="TlsCertFile"/>.</summary>
    public string? TlsKeyFile { get; init; }
    /// <summary>The certificate of <see cref="TlsCertFile"/>, read when the config loads: presented by the runner's GitLab client,
    /// and handed to each job as the file variable <c>CI_SERVER_TLS_CERT_FILE</c> (git, the helper).</summary>
    public string? TlsClientCertificate { get; init; }
    /// <summary>The key of <see cref="TlsKeyFile"/>, read when the config loads; a job gets it as the masked file variable
    /// <c>CI_SERVER_TLS_KEY_FILE</c>. Never printed.</summary>
    public string? TlsClientKey { get; init; }
    /// <summary><c>debug_trace_disabled</c>: <c>CI_DEBUG_TRACE</c> is refused (with GitLab Runner's warning).</summary>
    public bool DebugTraceDisabled { get; init; }
    /// <summary><c>clone_url</c>: an http(s) URL that replaces the GitLab address of the job's repository URL.</summary>
    public string? CloneUrl { get; init; }
    /// <summary><c>pre_get_sources_script</c> (or the older <c>pre_clone_script</c>): run by get_sources before the fetch.</summary>
    public string? PreGetSourcesScript { get; init; }
    /// <summary><c>post_get_sources_script</c> (or the older <c>post_clone_script</c>): run by get_sources after the checkout.</summary>
    public string? PostGetSourcesScript { get; init; }
    /// <summary><c>pre_build_script</c>: run in the build container before the job's script.</summary>
    public string? PreBuildScript { get; init; }
    /// <summary><c>post_build_script</c>: run in the build container after the job's script succeeded.</summary>
    public string? PostBuildScript { get; init; }
    public KubernetesSettings Kubernetes { get; init; } = new();
    /// <summary><c>[runners.cache]</c>; null when the entry has none (caches stay in the pod).</summary>
    public CacheSettings? Cache { get; init; }
}

/// <summary><c>[runners.kubernetes]</c>: every keyword of the executor documentation.</summary>
public sealed record KubernetesSettings
{
    /// <summary>Keeps the bearer token out of logs: the printed form of the record masks it.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => SecretMaskingPrinter.PrintMembers(this, builder, nameof(BearerToken));

    public string? Host { get; init; }
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }
    public string? CaFile { get; init; }
    public string? BearerToken { get; init; }
    public bool BearerTokenOverwriteAllowed { get; init; }
    public string? Image { get; init; }
    public string? Namespace { get; init; }
    public string? NamespaceOverwriteAllowed { get; init; }
    public bool Privileged { get; init; }

    public string? CpuLimit { get; init; }
    public string? MemoryLimit { get; init; }
    public string? ServiceCpuLimit { get; init; }
    public string? ServiceMemoryLimit { get; init; }
    public string? HelperCpuLimit { get; init; }
    public string? HelperMemoryLimit { get; init; }
    public string? CpuRequest { get; init; }
    public string? MemoryRequest { get; init; }
    public string? ServiceCpuRequest { get; init; }
    public string? ServiceMemoryRequest { get; init; }
    public string? HelperCpuRequest { get; init; }
    public string? HelperMemoryRequest { get; init; }

    /// <summary>The resource keys GitLab Runner added after 12.5, by config key: <c>[service_|helper_]ephemeral_storage_request|limit</c>,
    /// <c>pod_cpu|memory_request|limit</c> and every <c>*_overwrite_max_allowed</c> (quantities, checked at load).</summary>
    public IReadOnlyDictionary<string, string> Resources { get; init; } = new Dictionary<string, string>();

    /// <summary><c>pull_policy</c> (a string or a list) of <c>never</c>, <c>if-not-present</c>, <c>always</c>; empty: the
    /// cluster default. The pod uses the first one that <see cref="AllowedPullPolicies"/> allows.</summary>
    public IReadOnlyList<string> PullPolicy { get; init; } = [];
    public IReadOnlyDictionary<string, string> NodeSelector { get; init; } = new Dictionary<string, string>();
    /// <summary><c>"key=value" = "Effect"</c> or <c>"key" = "Effect"</c>, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> NodeTolerations { get; init; } = [];
    public IReadOnlyList<string> ImagePullSecrets { get; init; } = [];
    public string? HelperImage { get; init; }
    public long? TerminationGracePeriodSeconds { get; init; }
    public int PollInterval { get; init; } = 3;
    public int PollTimeout { get; init; } = 180;
    public IReadOnlyDictionary<string, string> PodLabels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> PodAnnotations { get; init; } = new Dictionary<string, string>();
    public string? PodAnnotationsOverwriteAllowed { get; init; }
    public PodSecurityContextSettings PodSecurityContext { get; init; } = new();
    public string? ServiceAccount { get; init; }
    public string? ServiceAccountOverwriteAllowed { get; init; }
    public VolumesSettings Volumes { get; init; } = new();
    public IReadOnlyList<ServiceSettings> Services { get; init; } = [];

    // Keys GitLab Runner added after 12.5 that shape the pod (see src/Scheduler/Config/README.md).

    /// <summary><c>affinity</c>: node affinity, pod affinity and pod anti-affinity; null when not configured.</summary>
    public AffinitySettings? Affinity { get; init; }
    public string? PriorityClassName { get; init; }
    public string? SchedulerName { get; init; }
    /// <summary>Allow-list pattern for <c>KUBERNETES_NODE_SELECTOR_*</c> job variables (<c>key=value</c>).</summary>
    public string? NodeSelectorOverwriteAllowed { get; init; }
    /// <summary>Allow-list pattern for <c>KUBERNETES_NODE_TOLERATIONS_*</c> job variables (<c>key[=value][:effect]</c>).</summary>
    public string? NodeTolerationsOverwriteAllowed { get; init; }
    /// <summary>Allow-list pattern for <c>KUBERNETES_POD_LABELS_*</c> job variables (<c>key=value</c>).</summary>
    public string? PodLabelsOverwriteAllowed { get; init; }
    /// <summary>As written: <c>none</c>, <c>default</c>, <c>cluster-first</c>, <c>cluster-first-with-host-net</c>, or null.</summary>
    public string? DnsPolicy { get; init; }
    public DnsConfigSettings? DnsConfig { get; init; }
    public IReadOnlyList<HostAliasSettings> HostAliases { get; init; } = [];
    /// <summary><c>[[pod_spec]]</c> patches, applied in this order to the generated PodSpec.</summary>
    public IReadOnlyList<PodSpecPatchSettings> PodSpecPatches { get; init; } = [];
    /// <summary><c>pod_termination_grace_period_seconds</c>; <see cref="TerminationGracePeriodSeconds"/> wins when both are set.</summary>
    public long? PodTerminationGracePeriodSeconds { get; init; }
    /// <summary><c>cleanup_grace_period_seconds</c>: the grace period of the pod and Secret deletes at cleanup; null: the cluster's.</summary>
    public long? CleanupGracePeriodSeconds { get; init; }
    /// <summary><c>cleanup_resources_timeout</c>: how long the whole cleanup after a job may take; GitLab Runner's default is 5 minutes.</summary>
    public TimeSpan CleanupResourcesTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary><c>print_pod_warning_events</c>: when a job fails, the pod's Warning events are printed to its trace (default true).</summary>
    public bool PrintPodWarningEvents { get; init; } = true;
    /// <summary><c>pod_disruption_budget</c>: a PodDisruptionBudget (minAvailable 1, owned by the pod) keeps the job's pod from
    /// voluntary evictions such as node drains (default false).</summary>
    public bool PodDisruptionBudget { get; init; }
    /// <summary><c>retry_limits</c>: an error message fragment and how many times a call that fails with it is tried, in file
    /// order; a match makes the error retryable and overrides <see cref="RetryLimit"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> RetryLimits { get; init; } = [];
    /// <summary><c>resource_availability_check_max_attempts</c>: how many more times (5 s apart) the service account and the
    /// configured imagePullSecrets are looked for before the pod is created; GitLab Runner's default is 5.</summary>
    public int ResourceAvailabilityCheckMaxAttempts { get; init; } = 5;
    /// <summary><c>namespace_per_job</c>: each job runs in its own namespace <c>ci-job-&lt;job id&gt;</c>, created before the pod
    /// and deleted after the job; <see cref="Namespace"/> and its overwrite are then ignored.</summary>
    public bool NamespacePerJob { get; init; }
    /// <summary><c>context</c>: the kubeconfig context to use instead of the current one.</summary>
    public string? Context { get; init; }
    /// <summary><c>retry_limit</c>: how many times one Kubernetes API call is tried at most; null: the runner's default.</summary>
    public int? RetryLimit { get; init; }
    /// <summary><c>retry_backoff_max</c>: the longest pause between two tries of a call, in milliseconds; null: the default.</summary>
    public int? RetryBackoffMax { get; init; }
    public ContainerLifecycleSettings? ContainerLifecycle { get; init; }
    /// <summary><c>use_service_account_image_pull_secrets</c>: no imagePullSecrets on the pod; the service account's apply.</summary>
    public bool UseServiceAccountImagePullSecrets { get; init; }

    // The hardening keys (see src/Scheduler/Config/README.md).

    /// <summary><c>allowed_images</c>: glob patterns (doublestar) a job's image must match; empty: any image.</summary>
    public IReadOnlyList<string> AllowedImages { get; init; } = [];
    /// <summary><c>allowed_services</c>: glob patterns a job's service images must match; empty: any service.</summary>
    public IReadOnlyList<string> AllowedServices { get; init; } = [];
    /// <summary><c>allowed_pull_policies</c>; empty: the policies of <see cref="PullPolicy"/> (any when that is empty too).</summary>
    public IReadOnlyList<string> AllowedPullPolicies { get; init; } = [];
    /// <summary><c>allowed_users</c>: the uids a job may ask for with <c>image:kubernetes:user</c>; empty: any.</summary>
    public IReadOnlyList<string> AllowedUsers { get; init; } = [];
    /// <summary><c>allowed_groups</c>: the gids a job may ask for with <c>image:kubernetes:user</c>; empty: any.</summary>
    public IReadOnlyList<string> AllowedGroups { get; init; } = [];
    /// <summary><c>cap_add</c>: capabilities added to every container.</summary>
    public IReadOnlyList<string> CapAdd { get; init; } = [];
    /// <summary><c>cap_drop</c>: capabilities dropped from every container, on top of the default <c>NET_RAW</c>.</summary>
    public IReadOnlyList<string> CapDrop { get; init; } = [];
    /// <summary><c>allow_privilege_escalation</c> of every container; a container security context overrides it.</summary>
    public bool? AllowPrivilegeEscalation { get; init; }
    public ContainerSecurityContextSettings? BuildContainerSecurityContext { get; init; }
    public ContainerSecurityContextSettings? HelperContainerSecurityContext { get; init; }
    public ContainerSecurityContextSettings? ServiceContainerSecurityContext { get; init; }
    /// <summary><c>automount_service_account_token</c>; null: the service account's setting (the cluster default).</summary>
    public bool? AutomountServiceAccountToken { get; init; }
    public string? RuntimeClassName { get; init; }
}

/// <summary><c>build_container_security_context</c>, <c>helper_container_security_context</c>,
/// <c>service_container_security_context</c>: each value set here overrides <c>privileged</c>,
/// <c>allow_privilege_escalation</c> and the add or drop list of capabilities for that container.</summary>
public sealed record ContainerSecurityContextSettings
{
    public bool? Privileged { get; init; }
    public bool? AllowPrivilegeEscalation { get; init; }
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    public bool? RunAsNonRoot { get; init; }
    public bool? ReadOnlyRootFilesystem { get; init; }
    /// <summary><c>capabilities.add</c>; when set (even empty) it replaces the add list of <c>cap_add</c>.</summary>
    public IReadOnlyList<string>? CapAdd { get; init; }
    /// <summary><c>capabilities.drop</c>; when set (even empty) it replaces the drop list (the default NET_RAW and <c>cap_drop</c>).</summary>
    public IReadOnlyList<string>? CapDrop { get; init; }
    /// <summary><c>selinux_type</c>: the SELinux type label of the container's processes (<c>seLinuxOptions.type</c>).</summary>
    public string? SeLinuxType { get; init; }
    /// <summary><c>proc_mount</c>: <c>Default</c> or <c>Unmasked</c> (<c>procMount</c>).</summary>
    public string? ProcMount { get; init; }
}

public sealed record AffinitySettings(NodeAffinitySettings? NodeAffinity, PodAffinitySettings? PodAffinity, PodAffinitySettings? PodAntiAffinity);

/// <summary><paramref name="Required"/> is null when not configured (an empty list would match no node).</summary>
public sealed record NodeAffinitySettings(IReadOnlyList<NodeSelectorTermSettings>? Required, IReadOnlyList<PreferredSchedulingTermSettings> Preferred);

public sealed record NodeSelectorTermSettings(IReadOnlyList<SelectorRequirementSettings> MatchExpressions, IReadOnlyList<SelectorRequirementSettings> MatchFields);

/// <summary>A node selector or label selector requirement: <c>key</c>, <c>operator</c> (In, NotIn, Exists, DoesNotExist, Gt, Lt) and <c>values</c>.</summary>
public sealed record SelectorRequirementSettings(string Key, string Operator, IReadOnlyList<string> Values);

public sealed record PreferredSchedulingTermSettings(int Weight, NodeSelectorTermSettings Preference);

/// <summary>Pod affinity or anti-affinity.</summary>
public sealed record PodAffinitySettings(IReadOnlyList<PodAffinityTermSettings> Required, IReadOnlyList<WeightedPodAffinityTermSettings> Preferred);

public sealed record PodAffinityTermSettings(LabelSelectorSettings? LabelSelector, IReadOnlyList<string> Namespaces, string TopologyKey,
    LabelSelectorSettings? NamespaceSelector);

public sealed record WeightedPodAffinityTermSettings(int Weight, PodAffinityTermSettings Term);

public sealed record LabelSelectorSettings(IReadOnlyDictionary<string, string> MatchLabels, IReadOnlyList<SelectorRequirementSettings> MatchExpressions);

/// <summary><c>dns_config</c>.</summary>
public sealed record DnsConfigSettings(IReadOnlyList<string> Nameservers, IReadOnlyList<string> Searches, IReadOnlyList<DnsOptionSettings> Options);

/// <summary>A resolver option; <paramref name="Value"/> is null when not given.</summary>
public sealed record DnsOptionSettings(string Name, string? Value);

/// <summary><c>[[host_aliases]]</c>: hostnames that resolve to <paramref name="Ip"/> in every container.</summary>
public sealed record HostAliasSettings(string Ip, IReadOnlyList<string> Hostnames);

/// <summary>One <c>[[pod_spec]]</c>: the patch text (JSON or YAML; from <c>patch</c>, or read from <c>patch_path</c> at load)
/// and its type: <c>strategic</c> (the default), <c>merge</c> or <c>json</c>.</summary>
public sealed record PodSpecPatchSettings(string Name, string Patch, string PatchType)
{
    public const string Strategic = "strategic";
    public const string Merge = "merge";
    public const string Json = "json";
}

/// <summary><c>container_lifecycle</c>: hooks on every container of the pod.</summary>
public sealed record ContainerLifecycleSettings(LifecycleHandlerSettings? PostStart, LifecycleHandlerSettings? PreStop);

/// <summary>One hook: exactly one of exec, http_get, tcp_socket is expected.</summary>
public sealed record LifecycleHandlerSettings(IReadOnlyList<string>? ExecCommand, HttpGetSettings? HttpGet, TcpSocketSettings? TcpSocket);

public sealed record HttpGetSettings(string? Host, int Port, string? Path, string? Scheme, IReadOnlyList<KeyValuePair<string, string>> Headers);

public sealed record TcpSocketSettings(string? Host, int Port);

public sealed record PodSecurityContextSettings
{
    public long? FsGroup { get; init; }
    public long? RunAsGroup { get; init; }
    public bool? RunAsNonRoot { get; init; }
    public long? RunAsUser { get; init; }
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];
    /// <summary><c>selinux_type</c>: the SELinux type label of every container of the pod (<c>seLinuxOptions.type</c>).</summary>
    public string? SeLinuxType { get; init; }

    public bool IsEmpty => FsGroup is null && RunAsGroup is null && RunAsNonRoot is null && RunAsUser is null
                           && SupplementalGroups.Count == 0 && SeLinuxType is null;
}

public sealed record VolumesSettings
{
    public IReadOnlyList<HostPathVolume> HostPaths { get; init; } = [];
    public IReadOnlyList<PvcVolume> Pvcs { get; init; } = [];
    public IReadOnlyList<ConfigMapVolume> ConfigMaps { get; init; } = [];
    public IReadOnlyList<SecretVolume> Secrets { get; init; } = [];
    public IReadOnlyList<EmptyDirVolume> EmptyDirs { get; init; } = [];
    public IReadOnlyList<CsiVolume> Csis { get; init; } = [];
    public IReadOnlyList<NfsVolume> Nfs { get; init; } = [];
}

/// <summary>What every volume kind may add to its mount: <c>sub_path</c> and <c>mount_propagation</c>
/// (<c>None</c>, <c>HostToContainer</c>, <c>Bidirectional</c>); null when not set.</summary>
public sealed record MountOptions(string? SubPath = null, string? MountPropagation = null)
{
    public static readonly MountOptions None = new();
}

public sealed record HostPathVolume(string Name, string MountPath, bool ReadOnly, string? HostPath)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

/// <summary><paramref name="Name"/> may refer to job variables (<c>pvc-$CI_CONCURRENT_ID</c>); it is expanded per job.</summary>
public sealed record PvcVolume(string Name, string MountPath, bool ReadOnly)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

/// <summary><paramref name="Items"/> maps a key of the ConfigMap to a path relative to the mount.</summary>
public sealed record ConfigMapVolume(string Name, string MountPath, bool ReadOnly, IReadOnlyDictionary<string, string> Items)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

public sealed record SecretVolume(string Name, string MountPath, bool ReadOnly, IReadOnlyDictionary<string, string> Items)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

/// <summary><paramref name="Medium"/> is empty (node disk) or <c>Memory</c> (tmpfs).</summary>
public sealed record EmptyDirVolume(string Name, string MountPath, string Medium)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
    /// <summary>A Kubernetes quantity, or null for no limit.</summary>
    public string? SizeLimit { get; init; }
}

/// <summary>An NFS export (GitLab Runner 19.0): <paramref name="Server"/> and <paramref name="Path"/> are required.</summary>
public sealed record NfsVolume(string Name, string MountPath, bool ReadOnly, string Server, string Path)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

/// <summary>A CSI ephemeral volume.</summary>
public sealed record CsiVolume(string Name, string MountPath, bool ReadOnly, string Driver, string? FsType, IReadOnlyDictionary<string, string> VolumeAttributes)
{
    public MountOptions Mount { get; init; } = MountOptions.None;
}

/// <summary>A service from <c>[[runners.kubernetes.services]]</c>: <c>name</c> (12.5), and <c>alias</c> (space or comma
/// separated), <c>command</c>, <c>entrypoint</c> and <c>environment</c> (<c>NAME=value</c>) as GitLab Runner added them.</summary>
public sealed record ServiceSettings(string Name)
{
    public string? Alias { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    public IReadOnlyList<string> Entrypoint { get; init; } = [];
    public IReadOnlyList<string> Environment { get; init; } = [];
    /// <summary><c>[[ports]]</c>: the container ports of the service, shaped as a job's <c>services:ports</c>.</summary>
    public IReadOnlyList<ServicePortSettings> Ports { get; init; } = [];
}

/// <summary>One <c>[[runners.kubernetes.services.ports]]</c>: <paramref name="Number"/> (1-65535), <paramref name="Protocol"/>
/// (<c>http</c> or <c>https</c>, null when not given) and an optional <paramref name="Name"/>.</summary>
public sealed record ServicePortSettings(int Number, string? Protocol, string? Name);

/// <summary>Prints a record's public properties as the compiler-generated ToString does, with the named secrets masked.</summary>
internal static class SecretMaskingPrinter
{
    public static bool PrintMembers(object record, System.Text.StringBuilder builder, params string[] secretProperties)
    {
        var first = true;
        foreach (var property in record.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var value = property.GetValue(record);
            var printed = secretProperties.Contains(property.Name) && value is string { Length: > 0 } ? "[MASKED]" : value;
            builder.Append(first ? "" : ", ").Append(property.Name).Append(" = ").Append(printed);
            first = false;
        }

        return true;
    }
}
