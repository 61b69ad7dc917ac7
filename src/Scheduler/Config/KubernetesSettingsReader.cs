using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads and validates <c>[runners.kubernetes]</c>.</summary>
/// <remarks>One method per key family of the section, in the section's order; the larger families already have readers of
/// their own (PodSettingsReader, SchedulingReader, VolumesReader, CacheSettingsReader). The resource keys are the next to
/// move out if it grows.</remarks>
internal static class KubernetesSettingsReader
{
    private static readonly string[] QuantityKeys =
    [
        "cpu_limit", "memory_limit", "service_cpu_limit", "service_memory_limit", "helper_cpu_limit", "helper_memory_limit",
        "cpu_request", "memory_request", "service_cpu_request", "service_memory_request", "helper_cpu_request",
        "helper_memory_request",
    ];

    public static KubernetesSettings Read(TableReader table, Func<string, string>? readPatchFile = null)
    {
        var diagnostics = table.Diagnostics;
        var quantities = QuantityKeys.ToDictionary(key => key, key => Quantity(table, key));
        var defaults = new KubernetesSettings();

        var certFile = EmptyAsNull(table.String("cert_file"));
        var keyFile = EmptyAsNull(table.String("key_file"));
        var caFile = EmptyAsNull(table.String("ca_file"));
        if (certFile is not null && (keyFile is null || caFile is null))
        {
            diagnostics.Error(table.ValuePosition("cert_file"), table.KeyPath("cert_file"),
                "key_file and ca_file must also be set when cert_file is (file based authentication needs all three)");
        }

        var pullPolicy = PullPolicies(table, "pull_policy");
        var allowedPullPolicies = PullPolicies(table, "allowed_pull_policies");
        if (pullPolicy.Count > 0 && allowedPullPolicies.Count > 0 && !pullPolicy.Any(allowedPullPolicies.Contains))
        {
            // Every job without its own pull_policy would be refused.
            diagnostics.Error(table.ValuePosition("pull_policy"), table.KeyPath("pull_policy"),
                $"none of [{string.Join(", ", pullPolicy)}] is in allowed_pull_policies [{string.Join(", ", allowedPullPolicies)}]");
        }
        else if (pullPolicy.Count > 1)
        {
            table.Diagnostics.Warning(table.ValuePosition("pull_policy"), table.KeyPath("pull_policy"),
                "several policies: the pod uses the first one allowed; retrying a failed pull with the next one is not implemented here");
        }

        var settings = new KubernetesSettings
        {
            Host = EmptyAsNull(table.String("host")),
            CertFile = certFile,
            KeyFile = keyFile,
            CaFile = caFile,
            BearerToken = EmptyAsNull(table.String("bearer_token", secret: true)),
            BearerTokenOverwriteAllowed = table.Bool("bearer_token_overwrite_allowed") ?? false,
            Image = EmptyAsNull(table.String("image")),
            Namespace = EmptyAsNull(table.String("namespace")),
            NamespaceOverwriteAllowed = OverwritePattern(table, "namespace_overwrite_allowed"),
            Privileged = table.Bool("privileged") ?? false,
            CpuLimit = quantities["cpu_limit"],
            MemoryLimit = quantities["memory_limit"],
            ServiceCpuLimit = quantities["service_cpu_limit"],
            ServiceMemoryLimit = quantities["service_memory_limit"],
            HelperCpuLimit = quantities["helper_cpu_limit"],
            HelperMemoryLimit = quantities["helper_memory_limit"],
            CpuRequest = quantities["cpu_request"],
            MemoryRequest = quantities["memory_request"],
            ServiceCpuRequest = quantities["service_cpu_request"],
            ServiceMemoryRequest = quantities["service_memory_request"],
            HelperCpuRequest = quantities["helper_cpu_request"],
            HelperMemoryRequest = quantities["helper_memory_request"],
            Resources = Scheduler.Actors.Pods.ContainerResources.ConfigKeys.Select(key => (key, value: Quantity(table, key)))
                .Where(entry => entry.value is not null).ToDictionary(entry => entry.key, entry => entry.value!),
            PullPolicy = pullPolicy,
            NodeSelector = ToDictionary(table.StringMap("node_selector")),
            NodeTolerations = NodeTolerations(table),
            ImagePullSecrets = table.StringList("image_pull_secrets") ?? [],
            HelperImage = HelperImage(table),
            TerminationGracePeriodSeconds = NonNegativeSeconds(table, "terminationGracePeriodSeconds"),
            PollInterval = PollValue(table, "poll_interval", defaults.PollInterval),
            PollTimeout = PollValue(table, "poll_timeout", defaults.PollTimeout),
            PodLabels = ToDictionary(table.StringMap("pod_labels")),
            PodAnnotations = ToDictionary(table.StringMap("pod_annotations")),
            PodAnnotationsOverwriteAllowed = OverwritePattern(table, "pod_annotations_overwrite_allowed"),
            PodSecurityContext = table.Table("pod_security_context") is { } context
                ? PodSecurityContext(context)
                : new PodSecurityContextSettings(),
            ServiceAccount = EmptyAsNull(table.String("service_account")),
            ServiceAccountOverwriteAllowed = OverwritePattern(table, "service_account_overwrite_allowed"),
            Volumes = table.Table("volumes") is { } volumes ? VolumesReader.Read(volumes) : new VolumesSettings(),
            Services = Services(table),
            Affinity = table.Table("affinity") is { } affinity ? SchedulingReader.Read(affinity) : null,
            PriorityClassName = ObjectName(table, "priority_class_name"),
            SchedulerName = ObjectName(table, "scheduler_name"),
            NodeSelectorOverwriteAllowed = OverwritePattern(table, "node_selector_overwrite_allowed"),
            NodeTolerationsOverwriteAllowed = OverwritePattern(table, "node_tolerations_overwrite_allowed"),
            PodLabelsOverwriteAllowed = OverwritePattern(table, "pod_labels_overwrite_allowed"),
            DnsPolicy = DnsPolicy(table),
            DnsConfig = table.Table("dns_config") is { } dns ? PodSettingsReader.DnsConfig(dns) : null,
            HostAliases = PodSettingsReader.HostAliases(table),
            PodSpecPatches = PodSettingsReader.PodSpec(table, readPatchFile),
            PodTerminationGracePeriodSeconds = NonNegativeSeconds(table, "pod_termination_grace_period_seconds"),
            CleanupGracePeriodSeconds = NonNegativeSeconds(table, "cleanup_grace_period_seconds"),
            CleanupResourcesTimeout = table.GoDuration("cleanup_resources_timeout", defaults.CleanupResourcesTimeout),
            PrintPodWarningEvents = table.Bool("print_pod_warning_events") ?? defaults.PrintPodWarningEvents,
            PodDisruptionBudget = table.Bool("pod_disruption_budget") ?? false,
            RetryLimits = RetryLimits(table),
            ResourceAvailabilityCheckMaxAttempts = ResourceAvailabilityCheckMaxAttempts(table, defaults.ResourceAvailabilityCheckMaxAttempts),
            NamespacePerJob = table.Bool("namespace_per_job") ?? false,
            Context = EmptyAsNull(table.String("context")),
            RetryLimit = Positive(table, "retry_limit", 1000),
            RetryBackoffMax = RetryBackoffMax(table),
            ContainerLifecycle = table.Table("container_lifecycle") is { } lifecycle ? PodSettingsReader.ContainerLifecycle(lifecycle) : null,
            UseServiceAccountImagePullSecrets = table.Bool("use_service_account_image_pull_secrets") ?? false,
            AllowedImages = Globs(table, "allowed_images"),
            AllowedServices = Globs(table, "allowed_services"),
            AllowedPullPolicies = allowedPullPolicies,
            AllowedUsers = IdList(table, "allowed_users"),
            AllowedGroups = IdList(table, "allowed_groups"),
            CapAdd = CapabilityList(table, "cap_add"),
            CapDrop = CapabilityList(table, "cap_drop"),
            AllowPrivilegeEscalation = table.Bool("allow_privilege_escalation"),
            BuildContainerSecurityContext = table.Table("build_container_security_context") is { } build ? ContainerSecurityContext(build) : null,
            HelperContainerSecurityContext = table.Table("helper_container_security_context") is { } helper ? ContainerSecurityContext(helper) : null,
            ServiceContainerSecurityContext = table.Table("service_container_security_context") is { } service ? ContainerSecurityContext(service) : null,
            AutomountServiceAccountToken = table.Bool("automount_service_account_token"),
            RuntimeClassName = ObjectName(table, "runtime_class_name"),
        };
        if (settings.NamespacePerJob && (settings.Namespace is not null || settings.NamespaceOverwriteAllowed is not null))
        {
            table.Diagnostics.Warning(table.ValuePosition("namespace_per_job"), table.KeyPath("namespace_per_job"),
                "each job runs in its own namespace ci-job-<job id>: namespace and namespace_overwrite_allowed are ignored (as in GitLab Runner)");
        }

        if (settings.TerminationGracePeriodSeconds is not null && settings.PodTerminationGracePeriodSeconds is not null)
        {
            table.Diagnostics.Warning(table.ValuePosition("pod_termination_grace_period_seconds"),
                table.KeyPath("pod_termination_grace_period_seconds"),
                "is ignored because the deprecated terminationGracePeriodSeconds is also set (as in GitLab Runner)");
        }

        table.ReportUnread(ConfigKeys.Kubernetes, ConfigKeys.KubernetesNoEffect);
        return settings;
    }

    /// <summary>A resource quantity; the empty string means "not set", as in GitLab Runner.</summary>
    private static string? Quantity(TableReader table, string key)
    {
        var text = EmptyAsNull(table.String(key));
        if (text is not null && ConfigRules.QuantityError(text) is { } error)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), error);
        }

        return text;
    }

    /// <summary>An allow-list regular expression; empty disables the overwrite.</summary>
    private static string? OverwritePattern(TableReader table, string key)
    {
        var pattern = EmptyAsNull(table.String(key));
        if (pattern is null)
        {
            return null;
        }

        if (ConfigRules.OverwritePatternError(pattern) is { } error)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), error);
        }
        else if (ConfigRules.AnchoredSuggestion(pattern) is { } anchored)
        {
            table.Diagnostics.Warning(table.ValuePosition(key), table.KeyPath(key), ConfigLoader.UnanchoredMessage(pattern, anchored));
        }

        return pattern;
    }

    /// <summary>A Kubernetes object name (DNS subdomain); the empty string means "not set".</summary>
    // Refused at load, not at the job's first stage: only this project's image has the helper commands.
    private static string? HelperImage(TableReader table)
    {
        var image = EmptyAsNull(table.String("helper_image"));
        if (image is not null && Scheduler.Actors.Pods.HelperImageRule.Error(image) is { } error)
        {
            table.Diagnostics.Error(table.ValuePosition("helper_image"), table.KeyPath("helper_image"), error);
        }

        return image;
    }

    private static string? ObjectName(TableReader table, string key)
    {
        var name = EmptyAsNull(table.String(key));
        if (name is not null && !Scheduler.Actors.Pods.KubernetesNames.IsDns1123Subdomain(name))
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), $"\"{name}\" is not a valid Kubernetes object name");
        }

        return name;
    }

    /// <summary>GitLab Runner warns about an unknown policy and leaves dnsPolicy unset (the cluster default); so do we,
    /// at load rather than in every job.</summary>
    private static string? DnsPolicy(TableReader table)
    {
        var policy = EmptyAsNull(table.String("dns_policy"));
        if (policy is not null && !ConfigRules.DnsPolicies.ContainsKey(policy))
        {
            table.Diagnostics.Warning(table.ValuePosition("dns_policy"), table.KeyPath("dns_policy"),
                $"unsupported dns_policy \"{policy}\" is ignored and the cluster's default (ClusterFirst) applies; "
                + "use none, default, cluster-first or cluster-first-with-host-net (lower case)");
            return null;
        }

        return policy;
    }

    /// <summary>Seconds; negative is an error, zero means the default (as GitLab Runner does).</summary>
    private static int PollValue(TableReader table, string key, int fallback)
    {
        var value = table.Duration(key);
        if (value < 0)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), "must not be negative (0 means the default)");
        }

        return value is > 0 ? value.Value : fallback;
    }

    /// <summary><c>[runners.kubernetes.retry_limits]</c>: <c>"error message fragment" = tries</c>.</summary>
    private static IReadOnlyList<KeyValuePair<string, int>> RetryLimits(TableReader table)
    {
        if (table.Table("retry_limits") is not { } limits)
        {
            return [];
        }

        var result = new List<KeyValuePair<string, int>>();
        foreach (var key in limits.Keys)
        {
            if (key.Length == 0)
            {
                limits.Diagnostics.Error(limits.ValuePosition(key), limits.KeyPath(key), "the error message fragment must not be empty");
                _ = limits.Take(key);
                continue;
            }

            if (Positive(limits, key, 1000) is { } limit)
            {
                result.Add(KeyValuePair.Create(key, limit));
            }
        }

        return result;
    }

    /// <summary>0 or not set: GitLab Runner's default.</summary>
    private static int ResourceAvailabilityCheckMaxAttempts(TableReader table, int fallback)
    {
        var value = table.Long("resource_availability_check_max_attempts");
        if (value is < 0 or > 1000)
        {
            table.Diagnostics.Error(table.ValuePosition("resource_availability_check_max_attempts"),
                table.KeyPath("resource_availability_check_max_attempts"), "must be between 0 (the default, 5) and 1000");
            return fallback;
        }

        return value is > 0 ? (int)value.Value : fallback;
    }

    /// <summary>Milliseconds, at most an hour.</summary>
    private static int? RetryBackoffMax(TableReader table)
    {
        var value = table.Duration("retry_backoff_max", "milliseconds", 3_600_000);
        if (value < 1)
        {
            table.Diagnostics.Error(table.ValuePosition("retry_backoff_max"), table.KeyPath("retry_backoff_max"), "must be between 1 and 3600000");
            return null;
        }

        return value;
    }

    private static int? Positive(TableReader table, string key, int max)
    {
        var value = table.Long(key);
        if (value is null)
        {
            return null;
        }

        if (value < 1 || value > max)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), $"must be between 1 and {max}");
            return null;
        }

        return (int)value;
    }

    private static long? NonNegativeSeconds(TableReader table, string key)
    {
        var value = table.Duration(key);
        if (value < 0)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), "must not be negative");
            return null;
        }

        return value;
    }

    private static long? NonNegative(TableReader table, string key)
    {
        var value = table.Long(key);
        if (value < 0)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), "must not be negative");
            return null;
        }

        return value;
    }

    private static IReadOnlyList<KeyValuePair<string, string>> NodeTolerations(TableReader table)
    {
        var items = table.StringMap("node_tolerations") ?? [];
        foreach (var item in items)
        {
            if (ConfigRules.TolerationEffectError(item.Value) is { } error)
            {
                table.Diagnostics.Error(item.Position, item.Path, error);
            }
        }

        return items.Select(item => KeyValuePair.Create(item.Key, item.Value)).ToList();
    }

    private static PodSecurityContextSettings PodSecurityContext(TableReader table)
    {
        var settings = new PodSecurityContextSettings
        {
            FsGroup = NonNegative(table, "fs_group"),
            RunAsGroup = NonNegative(table, "run_as_group"),
            RunAsNonRoot = table.Bool("run_as_non_root"),
            RunAsUser = NonNegative(table, "run_as_user"),
            SupplementalGroups = table.LongList("supplemental_groups") ?? [],
            SeLinuxType = SeLinuxType(table),
        };
        table.ReportUnread(ConfigKeys.PodSecurityContext, ConfigKeys.PodSecurityContextNoEffect);
        return settings;
    }

    /// <summary><c>pull_policy</c> or <c>allowed_pull_policies</c>: a string or a list; empty entries are ignored.</summary>
    private static IReadOnlyList<string> PullPolicies(TableReader table, string key)
    {
        var policies = (table.StringOrList(key) ?? []).Where(p => p.Length > 0).ToList();
        foreach (var policy in policies)
        {
            if (ConfigRules.PullPolicyError(policy) is { } error)
            {
                table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), error);
            }
        }

        return policies;
    }

    private static IReadOnlyList<string> Globs(TableReader table, string key)
    {
        var patterns = table.StringList(key) ?? [];
        foreach (var pattern in patterns)
        {
            if (pattern.Length == 0)
            {
                table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), "an empty pattern matches no image");
            }
            else if (Scheduler.Actors.Pods.ImagePolicy.GlobError(pattern) is { } error)
            {
                table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), error);
            }
        }

        return patterns;
    }

    /// <summary><c>allowed_users</c>/<c>allowed_groups</c>: numeric ids, the only form a job's <c>image:kubernetes:user</c>
    /// can take; any other entry could never match, so it is a load error.</summary>
    private static IReadOnlyList<string> IdList(TableReader table, string key)
    {
        var ids = table.StringList(key) ?? [];
        foreach (var id in ids.Where(i => !Scheduler.Actors.Jobs.JobUser.IsId(i)))
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key),
                $"\"{id}\" is not a numeric id (0 to 2147483647); a job's image:kubernetes:user takes numeric ids only");
        }

        return ids;
    }

    /// <summary>Linux capability names as Kubernetes spells them (<c>NET_ADMIN</c>, <c>ALL</c>).</summary>
    private static IReadOnlyList<string> CapabilityList(TableReader table, string key)
    {
        var capabilities = table.StringList(key) ?? [];
        foreach (var capability in capabilities.Where(c => !ConfigRules.IsCapabilityName(c)))
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key),
                $"\"{capability}\" is not a capability name (upper case letters, digits and _, e.g. NET_ADMIN or ALL)");
        }

        return capabilities;
    }

    private static bool Has(TableReader table, string key) => table.Keys.Any(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));

    private static ContainerSecurityContextSettings ContainerSecurityContext(TableReader table)
    {
        IReadOnlyList<string>? add = null;
        IReadOnlyList<string>? drop = null;
        if (table.Table("capabilities") is { } capabilities)
        {
            // Set, even empty, a list replaces the section's (as GitLab Runner merges them).
            add = Has(capabilities, "add") ? CapabilityList(capabilities, "add") : null;
            drop = Has(capabilities, "drop") ? CapabilityList(capabilities, "drop") : null;
            capabilities.ReportUnread(ConfigKeys.Capabilities, new Dictionary<string, ConfigKeys.NoEffect>());
        }

        var settings = new ContainerSecurityContextSettings
        {
            Privileged = table.Bool("privileged"),
            AllowPrivilegeEscalation = table.Bool("allow_privilege_escalation"),
            RunAsUser = NonNegative(table, "run_as_user"),
            RunAsGroup = NonNegative(table, "run_as_group"),
            RunAsNonRoot = table.Bool("run_as_non_root"),
            ReadOnlyRootFilesystem = table.Bool("read_only_root_filesystem"),
            CapAdd = add,
            CapDrop = drop,
            SeLinuxType = SeLinuxType(table),
            ProcMount = ProcMount(table),
        };
        table.ReportUnread(ConfigKeys.ContainerSecurityContext, ConfigKeys.ContainerSecurityContextNoEffect);
        return settings;
    }

    /// <summary><c>selinux_type</c>: one component of an SELinux label (e.g. <c>container_t</c>); empty means not set.</summary>
    private static string? SeLinuxType(TableReader table)
    {
        var type = EmptyAsNull(table.String("selinux_type"));
        if (type is not null && ConfigRules.SeLinuxTypeError(type) is { } error)
        {
            table.Diagnostics.Error(table.ValuePosition("selinux_type"), table.KeyPath("selinux_type"), error);
            return null;
        }

        return type;
    }

    /// <summary><c>proc_mount</c>: <c>default</c> or <c>unmasked</c> in any case, as GitLab Runner title-cases it; empty means not set.</summary>
    private static string? ProcMount(TableReader table)
    {
        var value = EmptyAsNull(table.String("proc_mount")?.Trim());
        if (value is null)
        {
            return null;
        }

        if (ConfigRules.ProcMountType(value) is { } type)
        {
            return type;
        }

        table.Diagnostics.Error(table.ValuePosition("proc_mount"), table.KeyPath("proc_mount"),
            $"unsupported proc_mount \"{value}\"; use Default or Unmasked");
        return null;
    }

    private static IReadOnlyList<ServiceSettings> Services(TableReader table)
    {
        var services = new List<ServiceSettings>();
        foreach (var service in table.TableArray("services") ?? [])
        {
            var name = service.String("name");
            var alias = EmptyAsNull(service.String("alias"));
            var command = service.StringList("command") ?? [];
            var entrypoint = service.StringList("entrypoint") ?? [];
            var environment = service.StringList("environment") ?? [];
            if (string.IsNullOrEmpty(name))
            {
                service.Diagnostics.Warning(service.Position, service.KeyPath("name"), "service without a name is ignored");
            }
            else
            {
                services.Add(new ServiceSettings(name)
                {
                    Alias = alias, Command = command, Entrypoint = entrypoint, Environment = environment, Ports = ServicePorts(service),
                });
            }

            service.ReportUnread(ConfigKeys.Service, ConfigKeys.ServiceNoEffect);
        }

        return services;
    }

    /// <summary>A service's <c>[[ports]]</c>: a number from 1 to 65535, a protocol <c>http</c> or <c>https</c> (any case) and a name.</summary>
    private static IReadOnlyList<ServicePortSettings> ServicePorts(TableReader service)
    {
        var ports = new List<ServicePortSettings>();
        foreach (var port in service.TableArray("ports") ?? [])
        {
            var number = port.Long("number");
            var protocol = EmptyAsNull(port.String("protocol"))?.ToLowerInvariant();
            var name = EmptyAsNull(port.String("name"));
            port.ReportUnread(ConfigKeys.ServicePort, new Dictionary<string, ConfigKeys.NoEffect>());
            if (number is null)
            {
                port.Diagnostics.Error(port.Position, port.KeyPath("number"), "a service port needs a number");
                continue;
            }

            if (number is < 1 or > 65535)
            {
                port.Diagnostics.Error(port.ValuePosition("number"), port.KeyPath("number"), "port must be between 1 and 65535");
                continue;
            }

            if (protocol is not (null or "http" or "https"))
            {
                port.Diagnostics.Error(port.ValuePosition("protocol"), port.KeyPath("protocol"), $"unsupported protocol \"{protocol}\"; use http or https");
                continue;
            }

            ports.Add(new ServicePortSettings((int)number, protocol, name));
        }

        return ports;
    }

    internal static IReadOnlyDictionary<string, string> ToDictionary(IReadOnlyList<MapItem>? items)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items ?? [])
        {
            result[item.Key] = item.Value;
        }

        return result;
    }

    internal static string? EmptyAsNull(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
