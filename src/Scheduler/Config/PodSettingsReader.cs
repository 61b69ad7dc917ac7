using Scheduler.Actors.Pods;
using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads the pod-shaping tables GitLab Runner added after 12.5: <c>dns_config</c>, <c>host_aliases</c>,
/// <c>container_lifecycle</c> and <c>pod_spec</c>.</summary>
internal static class PodSettingsReader
{
    private static readonly Dictionary<string, ConfigKeys.NoEffect> NothingElse = new();

    public static DnsConfigSettings DnsConfig(TableReader table)
    {
        var nameservers = table.StringList("nameservers") ?? [];
        var searches = table.StringList("searches") ?? [];
        var options = new List<DnsOptionSettings>();
        foreach (var option in table.TableArray("options") ?? [])
        {
            var name = option.String("name") ?? "";
            if (name.Length == 0)
            {
                option.Diagnostics.Error(option.ValuePosition("name"), option.KeyPath("name"), "a DNS option needs a name");
            }

            options.Add(new DnsOptionSettings(name, option.String("value")));
            option.ReportUnread(["name", "value"], NothingElse);
        }

        // The API server's limits (pod validation): at most 3 nameservers and 32 search domains.
        if (nameservers.Count > 3)
        {
            table.Diagnostics.Error(table.ValuePosition("nameservers"), table.KeyPath("nameservers"), "at most 3 nameservers are allowed");
        }

        if (searches.Count > 32)
        {
            table.Diagnostics.Error(table.ValuePosition("searches"), table.KeyPath("searches"), "at most 32 search domains are allowed");
        }

        foreach (var server in nameservers.Where(s => !System.Net.IPAddress.TryParse(s, out _)))
        {
            table.Diagnostics.Error(table.ValuePosition("nameservers"), table.KeyPath("nameservers"), $"\"{server}\" is not an IP address");
        }

        table.ReportUnread(["nameservers", "searches", "options"], NothingElse);
        return new DnsConfigSettings(nameservers, searches, options);
    }

    public static IReadOnlyList<HostAliasSettings> HostAliases(TableReader table)
    {
        var result = new List<HostAliasSettings>();
        foreach (var alias in table.TableArray("host_aliases") ?? [])
        {
            var ip = alias.String("ip") ?? "";
            var hostnames = alias.StringList("hostnames") ?? [];
            alias.ReportUnread(["ip", "hostnames"], NothingElse);
            if (!System.Net.IPAddress.TryParse(ip, out _))
            {
                alias.Diagnostics.Error(alias.ValuePosition("ip"), alias.KeyPath("ip"), $"\"{ip}\" is not an IP address");
                continue;
            }

            foreach (var hostname in hostnames.Where(h => !KubernetesNames.IsDns1123Subdomain(h)))
            {
                alias.Diagnostics.Error(alias.ValuePosition("hostnames"), alias.KeyPath("hostnames"),
                    $"\"{hostname}\" is not a valid host name (RFC 1123 subdomain)");
            }

            result.Add(new HostAliasSettings(ip, hostnames));
        }

        return result;
    }

    public static ContainerLifecycleSettings ContainerLifecycle(TableReader table)
    {
        var postStart = table.Table("post_start") is { } p ? Handler(p) : null;
        var preStop = table.Table("pre_stop") is { } s ? Handler(s) : null;
        table.ReportUnread(["post_start", "pre_stop"], NothingElse);
        return new ContainerLifecycleSettings(postStart, preStop);
    }

    private static LifecycleHandlerSettings Handler(TableReader table)
    {
        IReadOnlyList<string>? command = null;
        if (table.Table("exec") is { } exec)
        {
            command = exec.StringList("command") ?? [];
            if (command.Count == 0)
            {
                exec.Diagnostics.Error(exec.ValuePosition("command"), exec.KeyPath("command"), "an exec hook needs a command");
            }

            exec.ReportUnread(["command"], NothingElse);
        }

        HttpGetSettings? httpGet = null;
        if (table.Table("http_get") is { } http)
        {
            var headers = new List<KeyValuePair<string, string>>();
            foreach (var header in http.TableArray("http_headers") ?? [])
            {
                headers.Add(KeyValuePair.Create(header.String("name") ?? "", header.String("value") ?? ""));
                header.ReportUnread(["name", "value"], NothingElse);
            }

            var scheme = KubernetesSettingsReader.EmptyAsNull(http.String("scheme"));
            if (scheme is not null and not "HTTP" and not "HTTPS")
            {
                http.Diagnostics.Error(http.ValuePosition("scheme"), http.KeyPath("scheme"), $"unsupported scheme \"{scheme}\"; use HTTP or HTTPS");
            }

            httpGet = new HttpGetSettings(KubernetesSettingsReader.EmptyAsNull(http.String("host")), Port(http),
                KubernetesSettingsReader.EmptyAsNull(http.String("path")), scheme, headers);
            http.ReportUnread(["host", "port", "path", "scheme", "http_headers"], NothingElse);
        }

        TcpSocketSettings? tcp = null;
        if (table.Table("tcp_socket") is { } socket)
        {
            tcp = new TcpSocketSettings(KubernetesSettingsReader.EmptyAsNull(socket.String("host")), Port(socket));
            socket.ReportUnread(["host", "port"], NothingElse);
        }

        var handlers = (command is null ? 0 : 1) + (httpGet is null ? 0 : 1) + (tcp is null ? 0 : 1);
        if (handlers != 1)
        {
            // The API server accepts exactly one handler per hook.
            table.Diagnostics.Error(table.Position, table.Path, "a lifecycle hook needs exactly one of exec, http_get, tcp_socket");
        }

        table.ReportUnread(["exec", "http_get", "tcp_socket"], NothingElse);
        return new LifecycleHandlerSettings(command, httpGet, tcp);
    }

    private static int Port(TableReader table)
    {
        var port = table.Int("port");
        if (port is not (>= 1 and <= 65535))
        {
            table.Diagnostics.Error(table.ValuePosition("port"), table.KeyPath("port"), "port must be between 1 and 65535");
            return 0;
        }

        return port.Value;
    }

    /// <summary><c>[[pod_spec]]</c>: the patch text is read from <c>patch_path</c> (relative to the config file's
    /// folder) here, so that a missing file is an error at load, not a failed job.</summary>
    public static IReadOnlyList<PodSpecPatchSettings> PodSpec(TableReader table, Func<string, string>? readPatchFile)
    {
        var result = new List<PodSpecPatchSettings>();
        var index = 0;
        foreach (var entry in table.TableArray("pod_spec") ?? [])
        {
            var name = entry.String("name") ?? "";
            var displayName = name.Length > 0 ? name : $"pod_spec[{index}]";
            index++;
            var patch = entry.String("patch");
            var patchPath = KubernetesSettingsReader.EmptyAsNull(entry.String("patch_path"));
            var patchType = KubernetesSettingsReader.EmptyAsNull(entry.String("patch_type")) ?? PodSpecPatchSettings.Strategic;
            entry.ReportUnread(["name", "patch", "patch_path", "patch_type"], NothingElse);
            if (patchType is not (PodSpecPatchSettings.Strategic or PodSpecPatchSettings.Merge or PodSpecPatchSettings.Json))
            {
                entry.Diagnostics.Error(entry.ValuePosition("patch_type"), entry.KeyPath("patch_type"),
                    $"unsupported patch_type \"{patchType}\"; use strategic (the default), merge or json");
                continue;
            }

            if (patchPath is not null && !string.IsNullOrEmpty(patch))
            {
                entry.Diagnostics.Error(entry.ValuePosition("patch_path"), entry.KeyPath("patch_path"),
                    $"pod_spec \"{displayName}\": set patch or patch_path, not both");
                continue;
            }

            if (patchPath is not null)
            {
                if (readPatchFile is null)
                {
                    entry.Diagnostics.Error(entry.ValuePosition("patch_path"), entry.KeyPath("patch_path"),
                        "patch_path can only be read when the config is loaded from a file");
                    continue;
                }

                try
                {
                    patch = readPatchFile(patchPath);
                }
                catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    entry.Diagnostics.Error(entry.ValuePosition("patch_path"), entry.KeyPath("patch_path"),
                        $"pod_spec \"{displayName}\": cannot read patch file \"{patchPath}\": {error.Message}");
                    continue;
                }
            }

            if (string.IsNullOrWhiteSpace(patch))
            {
                entry.Diagnostics.Error(entry.Position, entry.KeyPath("patch"), $"pod_spec \"{displayName}\" has no patch (set patch or patch_path)");
                continue;
            }

            var settings = new PodSpecPatchSettings(displayName, patch, patchType);
            if (PodSpecPatches.ParseError(settings) is { } parseError)
            {
                entry.Diagnostics.Error(entry.ValuePosition(patchPath is null ? "patch" : "patch_path"), entry.KeyPath(patchPath is null ? "patch" : "patch_path"),
                    parseError);
                continue;
            }

            result.Add(settings);
        }

        return result;
    }
}
