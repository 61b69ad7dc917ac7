using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads the <c>[cluster]</c> table; every bad value is a positioned error and falls back to its default.</summary>
internal static class ClusterSettingsReader
{
    public const string SystemName = "scheduler";

    public static ClusterSettings Read(TableReader table)
    {
        var defaults = new ClusterSettings();
        var port = table.Int("port");
        if (port is < 0 or > 65535)
        {
            table.Diagnostics.Error(table.ValuePosition("port"), table.KeyPath("port"), "must be a port number from 0 (any free port) to 65535");
            port = null;
        }

        var managementPort = table.Int("management_port");
        if (managementPort is < 1 or > 65535)
        {
            table.Diagnostics.Error(table.ValuePosition("management_port"), table.KeyPath("management_port"), "must be a port number from 1 to 65535");
            managementPort = null;
        }

        var seedPosition = table.ValuePosition("seed_nodes");
        var seeds = table.StringList("seed_nodes") ?? [];
        for (var i = 0; i < seeds.Count; i++)
        {
            if (SeedNodeError(seeds[i]) is { } error)
            {
                table.Diagnostics.Error(seedPosition, $"{table.KeyPath("seed_nodes")}[{i}]", error);
            }
        }

        var rolesPosition = table.ValuePosition("roles");
        var roles = table.StringList("roles") ?? [];
        for (var i = 0; i < roles.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(roles[i]) || roles[i].Any(char.IsWhiteSpace))
            {
                table.Diagnostics.Error(rolesPosition, $"{table.KeyPath("roles")}[{i}]", "a role is a non-empty word without spaces");
            }
        }

        var discovery = table.String("discovery") ?? "";
        if (discovery.Length > 0 && discovery != ClusterSettings.KubernetesApiDiscovery)
        {
            table.Diagnostics.Error(table.ValuePosition("discovery"), table.KeyPath("discovery"),
                $"unsupported discovery \"{discovery}\"; use \"{ClusterSettings.KubernetesApiDiscovery}\" or \"\" (static seed_nodes)");
            discovery = "";
        }

        if (discovery.Length > 0 && seeds.Count > 0)
        {
            table.Diagnostics.Warning(seedPosition, table.KeyPath("seed_nodes"), "ignored: discovery finds the other nodes");
        }

        var settings = new ClusterSettings
        {
            Hostname = NonEmpty(table.String("hostname")),
            BindHost = NonEmpty(table.String("bind_host")),
            Port = port ?? defaults.Port,
            SeedNodes = seeds.Where(s => SeedNodeError(s) is null).ToList(),
            Roles = roles.Where(r => !string.IsNullOrWhiteSpace(r) && !r.Any(char.IsWhiteSpace)).ToList(),
            Discovery = discovery,
            DiscoveryLabelSelector = NonEmpty(table.String("discovery_label_selector")),
            ManagementPort = managementPort ?? defaults.ManagementPort,
            StableAfter = Seconds(table, "stable_after", defaults.StableAfter),
            OrphanScanInterval = Seconds(table, "orphan_scan_interval", defaults.OrphanScanInterval),
            ClaimDelay = Seconds(table, "claim_delay", defaults.ClaimDelay),
            TlsCertificate = NonEmpty(table.String("tls_certificate")),
            TlsKey = NonEmpty(table.String("tls_key")),
            TlsCa = NonEmpty(table.String("tls_ca")),
        };
        var tlsKeys = new[] { settings.TlsCertificate, settings.TlsKey, settings.TlsCa };
        if (tlsKeys.Any(k => k is not null) && tlsKeys.Any(k => k is null))
        {
            // Half a TLS setup would silently run without TLS or without peer checks: all three or none.
            table.Diagnostics.Error(table.ValuePosition("tls_certificate"), table.KeyPath("tls_certificate"),
                "tls_certificate, tls_key and tls_ca go together: set all three (PEM files) or none");
        }

        table.ReportUnread(ConfigKeys.Cluster, new Dictionary<string, ConfigKeys.NoEffect>());
        return settings;
    }

    /// <summary>Why <paramref name="text"/> is not <c>akka.tcp://scheduler@host:port</c>, or null when it is.</summary>
    public static string? SeedNodeError(string text)
    {
        var expected = $"a seed node looks like \"akka.tcp://{SystemName}@host:{ClusterSettings.DefaultPort}\"";
        // akka.ssl.tcp is what a node with TLS calls itself; either form is accepted (SchedulerActorSystem picks the scheme).
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("akka.tcp" or "akka.ssl.tcp"))
        {
            return $"\"{text}\" is not an akka.tcp address; {expected}";
        }

        if (uri.UserInfo != SystemName)
        {
            return $"\"{text}\" names the actor system \"{uri.UserInfo}\"; every node's system is \"{SystemName}\": {expected}";
        }

        if (uri.Host.Length == 0 || uri.IsDefaultPort || uri.Port <= 0)
        {
            return $"\"{text}\" has no host and port; {expected}";
        }

        return uri.AbsolutePath is "" or "/" ? null : $"\"{text}\" has a path; {expected}";
    }

    private static int Seconds(TableReader table, string key, int fallback)
    {
        var value = table.Duration(key);
        if (value is < 1)
        {
            table.Diagnostics.Error(table.ValuePosition(key), table.KeyPath(key), "must be at least 1 (seconds)");
            return fallback;
        }

        return value ?? fallback;
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();
}
