using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Resources;

namespace Scheduler.LocalCluster.Api;

/// <summary>The discovery documents kubectl and KubernetesClient read before anything else.</summary>
internal static class Discovery
{
    public static JsonObject Version() => new()
    {
        ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0-local", ["gitCommit"] = "local",
        ["gitTreeState"] = "clean", ["buildDate"] = "2026-01-01T00:00:00Z", ["goVersion"] = "go1.23",
        ["compiler"] = "gc", ["platform"] = "linux/amd64",
    };

    public static JsonObject ApiVersions() => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = "127.0.0.1" }),
    };

    public static JsonObject ApiGroups()
    {
        var groups = new JsonArray();
        foreach (var groupVersion in ResourceKind.GroupVersions)
        {
            var version = new JsonObject { ["groupVersion"] = groupVersion, ["version"] = groupVersion[(groupVersion.IndexOf('/') + 1)..] };
            groups.Add(new JsonObject
            {
                ["name"] = groupVersion[..groupVersion.IndexOf('/')],
                ["versions"] = new JsonArray(version),
                ["preferredVersion"] = version.DeepClone(),
            });
        }
        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
    }

    public static JsonObject CoreResources() => Resources("v1");

    /// <summary>The APIResourceList of one group version (e.g. <c>policy/v1</c>).</summary>
    public static JsonObject GroupResources(string groupVersion) => Resources(groupVersion);

    private static JsonObject Resources(string groupVersion)
    {
        var resources = new JsonArray();
        foreach (var kind in ResourceKind.All.Where(k => k.GroupVersion == groupVersion))
        {
            resources.Add(new JsonObject
            {
                ["name"] = kind.Plural, ["singularName"] = kind.Singular, ["namespaced"] = kind.Namespaced, ["kind"] = kind.Kind,
                ["verbs"] = new JsonArray(kind.Verbs.Select(v => (JsonNode?)v).ToArray()),
                ["shortNames"] = new JsonArray(kind.ShortNames.Select(v => (JsonNode?)v).ToArray()),
                ["storageVersionHash"] = kind.Kind.ToLowerInvariant(),
            });
            if (kind == ResourceKind.Pods || kind == ResourceKind.Services)
                resources[^1]!["categories"] = new JsonArray("all");
            foreach (var sub in kind.Subresources)
            {
                string[] verbs = sub switch { "status" => ["get", "patch", "update"], "log" => ["get"], _ => ["create", "get"] };
                resources.Add(new JsonObject
                {
                    ["name"] = $"{kind.Plural}/{sub}", ["singularName"] = "", ["namespaced"] = kind.Namespaced,
                    ["kind"] = sub switch { "status" => kind.Kind, "log" => kind.Kind, _ => "PodExecOptions" },
                    ["verbs"] = new JsonArray(verbs.Select(v => (JsonNode?)v).ToArray()),
                });
            }
        }
        return new JsonObject { ["kind"] = "APIResourceList", ["groupVersion"] = groupVersion, ["resources"] = resources };
    }

    public const string OpenApiV3Path = "/openapi/v3/api/v1";

    /// <summary>The OpenAPI v3 document of an API group's version (<c>/openapi/v3/apis/policy/v1</c>).</summary>
    public static string OpenApiV3GroupPath(string groupVersion) => "/openapi/v3/apis/" + groupVersion;

    /// <summary>The OpenAPI v3 index: one document per group version.</summary>
    public static JsonObject OpenApiV3Index()
    {
        var paths = new JsonObject { ["api/v1"] = new JsonObject { ["serverRelativeURL"] = OpenApiV3Path + "?hash=local" } };
        foreach (var groupVersion in ResourceKind.GroupVersions)
            paths["apis/" + groupVersion] = new JsonObject { ["serverRelativeURL"] = OpenApiV3GroupPath(groupVersion) + "?hash=local" };
        return new JsonObject { ["paths"] = paths };
    }

    /// <summary>
    /// A minimal OpenAPI v3 document for core/v1: no schemas, but each resource's PATCH operation with its
    /// group-version-kind and the fieldValidation parameter. kubectl reads it to learn that the server validates
    /// fields itself (so it needs no client-side schema), and falls back to its built-in types for strategic merge.
    /// </summary>
    public static JsonObject OpenApiV3CoreDocument() => OpenApiV3Document("v1");

    /// <summary>The same for one API group's version, e.g. <c>policy/v1</c>.</summary>
    public static JsonObject OpenApiV3Document(string groupVersion)
    {
        var paths = new JsonObject();
        var root = groupVersion == "v1" ? "/api/v1" : "/apis/" + groupVersion;
        var group = groupVersion.Contains('/') ? groupVersion[..groupVersion.IndexOf('/')] : "";
        var version = groupVersion[(groupVersion.IndexOf('/') + 1)..];
        foreach (var kind in ResourceKind.All.Where(k => k.GroupVersion == groupVersion))
        {
            var path = kind.Namespaced ? $"{root}/namespaces/{{namespace}}/{kind.Plural}/{{name}}" : $"{root}/{kind.Plural}/{{name}}";
            paths[path] = new JsonObject
            {
                ["patch"] = new JsonObject
                {
                    ["operationId"] = $"patch{(group == "" ? "Core" : char.ToUpperInvariant(group[0]) + group[1..])}V1{kind.Kind}",
                    ["x-kubernetes-action"] = "patch",
                    ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = group, ["version"] = version, ["kind"] = kind.Kind },
                    ["parameters"] = new JsonArray(
                        new JsonObject { ["name"] = "fieldValidation", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string" } },
                        new JsonObject { ["name"] = "dryRun", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string" } }),
                    ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
                },
            };
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.32.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = new JsonObject() },
        };
    }
}
