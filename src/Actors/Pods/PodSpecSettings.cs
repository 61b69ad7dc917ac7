using System.Text.RegularExpressions;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>The pod fields of the keys GitLab Runner added after 12.5 (affinity, DNS, host aliases, lifecycle hooks),
/// converted from the settings records. Pure.</summary>
public static partial class PodSpecSettings
{
    public const string AdvancedPodSpecFeatureFlag = "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION";

    public static V1Affinity? Affinity(AffinitySettings? settings)
    {
        if (settings is null || (settings.NodeAffinity is null && settings.PodAffinity is null && settings.PodAntiAffinity is null))
        {
            return null;
        }

        return new V1Affinity
        {
            NodeAffinity = settings.NodeAffinity is { } node
                ? new V1NodeAffinity
                {
                    RequiredDuringSchedulingIgnoredDuringExecution = node.Required is { } required
                        ? new V1NodeSelector { NodeSelectorTerms = required.Select(NodeSelectorTerm).ToList() }
                        : null,
                    PreferredDuringSchedulingIgnoredDuringExecution = NullIfEmpty(node.Preferred.Select(p =>
                        new V1PreferredSchedulingTerm { Weight = p.Weight, Preference = NodeSelectorTerm(p.Preference) })),
                }
                : null,
            PodAffinity = settings.PodAffinity is { } pod
                ? new V1PodAffinity
                {
                    RequiredDuringSchedulingIgnoredDuringExecution = NullIfEmpty(pod.Required.Select(PodAffinityTerm)),
                    PreferredDuringSchedulingIgnoredDuringExecution = NullIfEmpty(pod.Preferred.Select(WeightedTerm)),
                }
                : null,
            PodAntiAffinity = settings.PodAntiAffinity is { } anti
                ? new V1PodAntiAffinity
                {
                    RequiredDuringSchedulingIgnoredDuringExecution = NullIfEmpty(anti.Required.Select(PodAffinityTerm)),
                    PreferredDuringSchedulingIgnoredDuringExecution = NullIfEmpty(anti.Preferred.Select(WeightedTerm)),
                }
                : null,
        };
    }

    private static V1NodeSelectorTerm NodeSelectorTerm(NodeSelectorTermSettings term) => new()
    {
        MatchExpressions = NullIfEmpty(term.MatchExpressions.Select(r => new V1NodeSelectorRequirement
        {
            Key = r.Key, OperatorProperty = r.Operator, Values = r.Values.Count > 0 ? r.Values.ToList() : null,
        })),
        MatchFields = NullIfEmpty(term.MatchFields.Select(r => new V1NodeSelectorRequirement
        {
            Key = r.Key, OperatorProperty = r.Operator, Values = r.Values.Count > 0 ? r.Values.ToList() : null,
        })),
    };

    private static V1WeightedPodAffinityTerm WeightedTerm(WeightedPodAffinityTermSettings term) =>
        new() { Weight = term.Weight, PodAffinityTerm = PodAffinityTerm(term.Term) };

    private static V1PodAffinityTerm PodAffinityTerm(PodAffinityTermSettings term) => new()
    {
        LabelSelector = LabelSelector(term.LabelSelector),
        NamespaceSelector = LabelSelector(term.NamespaceSelector),
        Namespaces = term.Namespaces.Count > 0 ? term.Namespaces.ToList() : null,
        TopologyKey = term.TopologyKey,
    };

    private static V1LabelSelector? LabelSelector(LabelSelectorSettings? selector) => selector is null
        ? null
        : new V1LabelSelector
        {
            MatchLabels = selector.MatchLabels.Count > 0 ? new Dictionary<string, string>(selector.MatchLabels) : null,
            MatchExpressions = NullIfEmpty(selector.MatchExpressions.Select(r => new V1LabelSelectorRequirement
            {
                Key = r.Key, OperatorProperty = r.Operator, Values = r.Values.Count > 0 ? r.Values.ToList() : null,
            })),
        };

    /// <summary>GitLab Runner's spellings to the Kubernetes values; null (not set, or unknown: the loader warned) leaves the
    /// field out, so the cluster default ClusterFirst applies.</summary>
    public static string? DnsPolicy(string? configured) => configured switch
    {
        "none" => "None",
        "default" => "Default",
        "cluster-first" => "ClusterFirst",
        "cluster-first-with-host-net" => "ClusterFirstWithHostNet",
        _ => null,
    };

    public static V1PodDNSConfig? DnsConfig(DnsConfigSettings? settings) => settings is null
        ? null
        : new V1PodDNSConfig
        {
            Nameservers = settings.Nameservers.Count > 0 ? settings.Nameservers.ToList() : null,
            Searches = settings.Searches.Count > 0 ? settings.Searches.ToList() : null,
            Options = NullIfEmpty(settings.Options.Select(o => new V1PodDNSConfigOption { Name = o.Name, Value = o.Value })),
        };

    /// <summary>
    /// GitLab Runner's host aliases: first one entry for 127.0.0.1 naming every service (the host names derived from each
    /// service's image name that are valid DNS names, then its aliases; services with ports are skipped), so that services
    /// answer to their names in the shared network namespace; then the configured <c>host_aliases</c>. An alias that is
    /// not a valid DNS name is a refusal.
    /// </summary>
    public static (List<V1HostAlias>? Aliases, string? Refusal) HostAliases(IEnumerable<JobService> services, IReadOnlyList<HostAliasSettings> configured)
    {
        var hostnames = new List<string>();
        foreach (var service in services)
        {
            if (service.Ports.Count > 0)
            {
                continue;
            }

            hostnames.AddRange(ImageHostnames(service.Name).Where(KubernetesNames.IsDns1123Subdomain));
            foreach (var alias in Aliases(service.Alias))
            {
                if (!KubernetesNames.IsDns1123Subdomain(alias))
                {
                    return (null, $"provided host alias {alias} for service {service.Name} is invalid DNS: it must be a lower case "
                                  + "RFC 1123 subdomain (letters, digits, '-' and '.')");
                }

                hostnames.Add(alias);
            }
        }

        var aliases = new List<V1HostAlias>();
        if (hostnames.Count > 0)
        {
            aliases.Add(new V1HostAlias { Ip = "127.0.0.1", Hostnames = hostnames });
        }

        aliases.AddRange(configured.Select(a => new V1HostAlias { Ip = a.Ip, Hostnames = a.Hostnames.Count > 0 ? a.Hostnames.ToList() : null }));
        return (aliases.Count > 0 ? aliases : null, null);
    }

    /// <summary>A service's <c>alias</c>: several names separated by spaces or commas.</summary>
    public static IReadOnlyList<string> Aliases(string? alias) =>
        string.IsNullOrWhiteSpace(alias) ? [] : alias.Split([' ', ',', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);

    // A Docker image reference: [domain[:port]/]path[:tag][@digest], path components lower case.
    [GeneratedRegex(@"^((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
        RegexOptions.CultureInvariant)]
    private static partial Regex ImageReference();

    [GeneratedRegex("^(.*?)(|:[0-9]+)(|/.*)$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex WithoutRegistryPort();

    /// <summary>The host names GitLab Runner derives from a service image (<c>tutum/wordpress:latest</c> gives
    /// <c>tutum__wordpress</c> and <c>tutum-wordpress</c>; <c>postgres:11</c> gives <c>postgres</c>): the image without tag,
    /// digest and registry port, with <c>/</c> as <c>__</c> and as <c>-</c>. None when it is not an image reference.</summary>
    public static IReadOnlyList<string> ImageHostnames(string image)
    {
        var match = ImageReference().Match(image);
        if (!match.Success)
        {
            return [];
        }

        var parts = WithoutRegistryPort().Match(match.Groups[1].Value);
        var service = parts.Groups[1].Value + parts.Groups[3].Value;
        var alias = service.Replace("/", "__", StringComparison.Ordinal);
        var alternative = service.Replace('/', '-');
        return alias == alternative ? [alias] : [alias, alternative];
    }

    /// <summary><c>container_lifecycle</c> as the container's lifecycle; null when no hook is configured.</summary>
    public static V1Lifecycle? Lifecycle(ContainerLifecycleSettings? settings)
    {
        if (settings is null || (settings.PostStart is null && settings.PreStop is null))
        {
            return null;
        }

        return new V1Lifecycle { PostStart = Handler(settings.PostStart), PreStop = Handler(settings.PreStop) };
    }

    private static V1LifecycleHandler? Handler(LifecycleHandlerSettings? handler) => handler is null
        ? null
        : new V1LifecycleHandler
        {
            Exec = handler.ExecCommand is { } command ? new V1ExecAction { Command = command.ToList() } : null,
            HttpGet = handler.HttpGet is { } http
                ? new V1HTTPGetAction
                {
                    Host = http.Host,
                    Port = (IntOrString)http.Port,
                    Path = http.Path,
                    Scheme = http.Scheme,
                    HttpHeaders = NullIfEmpty(http.Headers.Select(h => new V1HTTPHeader { Name = h.Key, Value = h.Value })),
                }
                : null,
            TcpSocket = handler.TcpSocket is { } tcp
                ? new V1TCPSocketAction { Host = tcp.Host, Port = (IntOrString)tcp.Port }
                : null,
        };

    /// <summary>Whether the job runs with <paramref name="flag"/> on: <c>[runners.feature_flags]</c>, else the last definition
    /// among the runner's <c>environment</c> and the job's variables, read as Go's <c>strconv.ParseBool</c> does.</summary>
    public static bool IsFeatureFlagOn(string flag, RunnerEntry runner, IReadOnlyList<JobVariable> jobVariables) =>
        FeatureFlags.IsOn(flag, runner, jobVariables);

    private static List<T>? NullIfEmpty<T>(IEnumerable<T> items)
    {
        var list = items.ToList();
        return list.Count > 0 ? list : null;
    }
}
