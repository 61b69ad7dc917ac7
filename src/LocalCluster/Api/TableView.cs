using System.Globalization;
using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Api;

/// <summary>
/// Server-side printing (meta.k8s.io/v1 Table) for <c>kubectl get</c>: the columns kube-apiserver prints per kind.
/// </summary>
internal static class TableView
{
    private sealed record Column(string Name, string Type, int Priority, Func<JsonObject, DateTimeOffset, JsonNode?> Cell, string Format = "");

    /// <summary>True when the client asked for a Table (kubectl sends <c>Accept: application/json;as=Table;…</c>).</summary>
    public static bool Requested(string? accept) =>
        accept is not null && accept.Contains("as=Table", StringComparison.Ordinal) && accept.Contains("g=meta.k8s.io", StringComparison.Ordinal);

    public static JsonObject Render(ResourceKind kind, IEnumerable<JsonObject> objects, long version, bool includeObject)
    {
        var columns = Columns(kind);
        var now = DateTimeOffset.UtcNow;
        var rows = new JsonArray();
        foreach (var obj in objects)
        {
            var cells = new JsonArray(columns.Select(c => c.Cell(obj, now)).ToArray());
            rows.Add(new JsonObject
            {
                ["cells"] = cells,
                ["object"] = includeObject
                    ? obj.DeepClone()
                    : new JsonObject
                    {
                        ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1",
                        ["metadata"] = ObjectStore.Meta(obj).DeepClone(),
                    },
            });
        }
        return new JsonObject
        {
            ["kind"] = "Table", ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
            ["columnDefinitions"] = new JsonArray(columns.Select(c => (JsonNode?)new JsonObject
            {
                ["name"] = c.Name, ["type"] = c.Type, ["format"] = c.Format, ["description"] = c.Name, ["priority"] = c.Priority,
            }).ToArray()),
            ["rows"] = rows,
        };
    }

    private static string S(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : node?.ToJsonString() ?? "";

    private static Column NameColumn() => new("Name", "string", 0, (o, _) => S(ObjectStore.Meta(o)["name"]), "name");

    private static Column AgeColumn() => new("Age", "string", 0, (o, now) => Age(S(ObjectStore.Meta(o)["creationTimestamp"]), now));

    private static IReadOnlyList<Column> Columns(ResourceKind kind)
    {
        if (kind == ResourceKind.Pods)
            return
            [
                NameColumn(),
                new("Ready", "string", 0, (o, _) =>
                {
                    var statuses = o["status"]?["containerStatuses"] as JsonArray ?? [];
                    var total = (o["spec"]?["containers"] as JsonArray)?.Count ?? 0;
                    return $"{statuses.Count(s => (bool?)s?["ready"] == true)}/{total}";
                }),
                new("Status", "string", 0, (o, _) => PodStatus(o)),
                new("Restarts", "string", 0, (o, _) =>
                    ((o["status"]?["containerStatuses"] as JsonArray ?? []).Sum(s => (int?)s?["restartCount"] ?? 0)).ToString(CultureInfo.InvariantCulture)),
                AgeColumn(),
                new("IP", "string", 1, (o, _) => S(o["status"]?["podIP"]) is { Length: > 0 } ip ? ip : "<none>"),
                new("Node", "string", 1, (o, _) => S(o["spec"]?["nodeName"]) is { Length: > 0 } n ? n : "<none>"),
                new("Nominated Node", "string", 1, (_, _) => "<none>"),
                new("Readiness Gates", "string", 1, (_, _) => "<none>"),
            ];
        if (kind == ResourceKind.Nodes)
            return
            [
                NameColumn(),
                new("Status", "string", 0, (o, _) =>
                    (o["status"]?["conditions"] as JsonArray ?? []).Any(c => S(c?["type"]) == "Ready" && S(c?["status"]) == "True") ? "Ready" : "NotReady"),
                new("Roles", "string", 0, (_, _) => "<none>"),
                AgeColumn(),
                new("Version", "string", 0, (o, _) => S(o["status"]?["nodeInfo"]?["kubeletVersion"])),
            ];
        if (kind == ResourceKind.Namespaces)
            return [NameColumn(), new("Status", "string", 0, (o, _) => S(o["status"]?["phase"])), AgeColumn()];
        if (kind == ResourceKind.Secrets)
            return
            [
                NameColumn(), new("Type", "string", 0, (o, _) => S(o["type"])),
                new("Data", "integer", 0, (o, _) => (o["data"] as JsonObject)?.Count ?? 0), AgeColumn(),
            ];
        if (kind == ResourceKind.ConfigMaps)
            return [NameColumn(), new("Data", "integer", 0, (o, _) => ((o["data"] as JsonObject)?.Count ?? 0) + ((o["binaryData"] as JsonObject)?.Count ?? 0)), AgeColumn()];
        if (kind == ResourceKind.PersistentVolumeClaims)
            return
            [
                NameColumn(), new("Status", "string", 0, (o, _) => S(o["status"]?["phase"])),
                new("Volume", "string", 0, (o, _) => S(o["spec"]?["volumeName"])),
                new("Capacity", "string", 0, (o, _) => S(o["status"]?["capacity"]?["storage"])),
                new("Access Modes", "string", 0, (o, _) => string.Join(",", (o["spec"]?["accessModes"] as JsonArray ?? []).Select(m => S(m) switch
                {
                    "ReadWriteOnce" => "RWO", "ReadOnlyMany" => "ROX", "ReadWriteMany" => "RWX", "ReadWriteOncePod" => "RWOP", var other => other,
                }))),
                AgeColumn(),
            ];
        if (kind == ResourceKind.Services)
            return
            [
                NameColumn(), new("Type", "string", 0, (o, _) => S(o["spec"]?["type"])),
                new("Cluster-IP", "string", 0, (o, _) => S(o["spec"]?["clusterIP"])),
                new("External-IP", "string", 0, (_, _) => "<none>"),
                new("Port(s)", "string", 0, (o, _) => string.Join(",", (o["spec"]?["ports"] as JsonArray ?? []).Select(p => $"{S(p?["port"])}/{S(p?["protocol"])}")) is { Length: > 0 } ports ? ports : "<none>"),
                AgeColumn(),
            ];
        if (kind == ResourceKind.Events)
            return
            [
                new("Last Seen", "string", 0, (o, now) => Age(S(o["lastTimestamp"]), now)),
                new("Type", "string", 0, (o, _) => S(o["type"])),
                new("Reason", "string", 0, (o, _) => S(o["reason"])),
                new("Object", "string", 0, (o, _) => $"{S(o["involvedObject"]?["kind"]).ToLowerInvariant()}/{S(o["involvedObject"]?["name"])}"),
                new("Message", "string", 0, (o, _) => S(o["message"])),
            ];
        if (kind == ResourceKind.ServiceAccounts)
            return [NameColumn(), new("Secrets", "integer", 0, (o, _) => (o["secrets"] as JsonArray)?.Count ?? 0), AgeColumn()];
        return [NameColumn(), AgeColumn()];
    }

    /// <summary>The STATUS column of <c>kubectl get pods</c>, as kube's printPod computes it.</summary>
    public static string PodStatus(JsonObject pod)
    {
        var status = pod["status"];
        var reason = S(status?["reason"]) is { Length: > 0 } r ? r : S(status?["phase"]);
        var initStatuses = status?["initContainerStatuses"] as JsonArray ?? [];
        var initTotal = (pod["spec"]?["initContainers"] as JsonArray)?.Count ?? 0;
        var initializing = false;
        for (var i = 0; i < initStatuses.Count; i++)
        {
            var state = initStatuses[i]?["state"];
            if (state?["terminated"] is { } t && (int?)t["exitCode"] == 0) continue;
            initializing = true;
            reason = state?["terminated"] is { } failed
                ? "Init:" + (S(failed["reason"]) is { Length: > 0 } fr ? fr : $"ExitCode:{S(failed["exitCode"])}")
                : state?["waiting"]?["reason"] is { } waiting && S(waiting) is { Length: > 0 } wr && wr != "PodInitializing"
                    ? "Init:" + wr
                    : $"Init:{i}/{initTotal}";
            break;
        }
        if (!initializing)
        {
            foreach (var c in (status?["containerStatuses"] as JsonArray ?? []).Reverse())
            {
                var state = c?["state"];
                if (state?["waiting"]?["reason"] is { } waiting && S(waiting).Length > 0) reason = S(waiting);
                else if (state?["terminated"] is { } terminated)
                    reason = S(terminated["reason"]) is { Length: > 0 } tr ? tr
                        : S(terminated["signal"]) is { Length: > 0 } and not "0" ? $"Signal:{S(terminated["signal"])}" : $"ExitCode:{S(terminated["exitCode"])}";
            }
        }
        if (ObjectStore.Meta(pod)["deletionTimestamp"] is not null) reason = "Terminating";
        return reason;
    }

    /// <summary>kube's duration.HumanDuration of the time since a timestamp.</summary>
    public static string Age(string timestamp, DateTimeOffset now)
    {
        if (!DateTimeOffset.TryParse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var then)) return "<unknown>";
        var d = now - then;
        if (d < TimeSpan.Zero) d = TimeSpan.Zero;
        var seconds = (long)d.TotalSeconds;
        if (seconds < 120) return $"{seconds}s";
        var minutes = seconds / 60;
        if (minutes < 10) return seconds % 60 == 0 ? $"{minutes}m" : $"{minutes}m{seconds % 60}s";
        if (minutes < 180) return $"{minutes}m";
        var hours = minutes / 60;
        if (hours < 8) return minutes % 60 == 0 ? $"{hours}h" : $"{hours}h{minutes % 60}m";
        if (hours < 48) return $"{hours}h";
        var days = hours / 24;
        if (hours < 192) return hours % 24 == 0 ? $"{days}d" : $"{days}d{hours % 24}h";
        if (days < 365 * 2) return $"{days}d";
        return $"{days / 365}y";
    }
}
