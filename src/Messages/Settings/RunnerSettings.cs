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
    public int StableAfter { get; init; } = 5;
    /// <summary>How often the node looks for orphaned job pods besides reacting to membership changes.</summary>
    public int OrphanScanInterval { get; init; } = 30;
    /// <summary>How long a node that is not first in an orphan's preference order waits per rank before claiming it.</summary>
    public int ClaimDelay { get; init; } = 5;
}

/// <summary>One <c>[[runners]]</c> entry.</summary>
public sealed record RunnerEntry
{
    /// <summary>Keeps the runner token out of logs: the printed form of the record masks it.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => SecretMaskingPrinter.PrintMembers(this, builder, nameof(Token));

    public string Name { get; init; } = "";
    public string Url { get; init; } = "";
    public string Token { get; init; } = "";
    public string Executor { get; init; } = "kubernetes";
    /// <summary>0 means no limit, as in GitLab Runner.</summary>
    public int Limit { get; init; }
    public int RequestConcurrency { get; init; } = 1;
    /// <summary>Entries of the form <c>NAME=value</c>, added to every job's variables.</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];
    public string? BuildsDir { get; init; }
    /// <summary>Trace size limit in kilobytes; GitLab Runner's default is 4096.</summary>
    public int OutputLimit { get; init; } = 4096;
    public KubernetesSettings Kubernetes { get; init; } = new();
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

    /// <summary><c>never</c>, <c>if-not-present</c>, <c>always</c>, or null for the cluster default.</summary>
    public string? PullPolicy { get; init; }
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
}

public sealed record PodSecurityContextSettings
{
    public long? FsGroup { get; init; }
    public long? RunAsGroup { get; init; }
    public bool? RunAsNonRoot { get; init; }
    public long? RunAsUser { get; init; }
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];

    public bool IsEmpty => FsGroup is null && RunAsGroup is null && RunAsNonRoot is null && RunAsUser is null
                           && SupplementalGroups.Count == 0;
}

public sealed record VolumesSettings
{
    public IReadOnlyList<HostPathVolume> HostPaths { get; init; } = [];
    public IReadOnlyList<PvcVolume> Pvcs { get; init; } = [];
    public IReadOnlyList<ConfigMapVolume> ConfigMaps { get; init; } = [];
    public IReadOnlyList<SecretVolume> Secrets { get; init; } = [];
    public IReadOnlyList<EmptyDirVolume> EmptyDirs { get; init; } = [];
}

public sealed record HostPathVolume(string Name, string MountPath, bool ReadOnly, string? HostPath);
public sealed record PvcVolume(string Name, string MountPath, bool ReadOnly);
/// <summary><paramref name="Items"/> maps a key of the ConfigMap to a path relative to the mount.</summary>
public sealed record ConfigMapVolume(string Name, string MountPath, bool ReadOnly, IReadOnlyDictionary<string, string> Items);
public sealed record SecretVolume(string Name, string MountPath, bool ReadOnly, IReadOnlyDictionary<string, string> Items);
/// <summary><paramref name="Medium"/> is empty (node disk) or <c>Memory</c> (tmpfs).</summary>
public sealed record EmptyDirVolume(string Name, string MountPath, string Medium);

/// <summary>A service from <c>[[runners.kubernetes.services]]</c>; only <c>name</c> is defined by the spec.</summary>
public sealed record ServiceSettings(string Name);

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
