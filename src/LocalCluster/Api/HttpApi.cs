using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Api;

/// <summary>A parsed resource path: <c>/api/v1/[watch/][namespaces/{ns}/]{resource}[/{name}[/{subresource}]]</c>.</summary>
internal sealed record ResourcePath(ResourceKind Kind, string? Namespace, string? Name, string? Subresource, bool LegacyWatch);

/// <summary>The HTTP face of the cluster: routing, request decoding, Status errors, fault injection and request counting.</summary>
internal sealed class HttpApi(Cluster cluster, FaultInjector faults, RequestCounters counters, TimeSpan bookmarkInterval, string token, CancellationToken stopping)
{
    private const int MaxBodyBytes = 3 * 1024 * 1024;

    public async Task HandleAsync(HttpContext context)
    {
        counters.CountRequest();
        var request = context.Request;
        var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
        if (RequestGuard.Check(request.Method, request.Path.Value ?? "/", request.Headers.Host.ToString(),
                request.Headers.Authorization.ToString(), request.ContentType, hasBody, token) is { } refusal)
        {
            await WriteErrorAsync(context, refusal).ConfigureAwait(false);
            return;
        }

        try
        {
            await RouteAsync(context).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteErrorAsync(context, e).ConfigureAwait(false);
        }
        catch (PodRuntimeException e)
        {
            await WriteErrorAsync(context, new ApiException(e.HttpStatus, e.Reason, e.Message)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested || stopping.IsCancellationRequested)
        {
            // The client went away or the server is stopping.
        }
        catch (Exception e)
        {
            // Nothing a client sends may take the server down: anything unforeseen is a 500 Status.
            await WriteErrorAsync(context, new ApiException(500, "InternalError", $"Internal error occurred: {e.Message}")).ConfigureAwait(false);
        }
    }

    private async Task RouteAsync(HttpContext context)
    {
        var path = (context.Request.Path.Value ?? "/").TrimEnd('/');
        switch (path)
        {
            case "/healthz" or "/readyz" or "/livez":
            case var p when p.StartsWith("/healthz/", StringComparison.Ordinal) || p.StartsWith("/readyz/", StringComparison.Ordinal) || p.StartsWith("/livez/", StringComparison.Ordinal):
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("ok", context.RequestAborted).ConfigureAwait(false);
                return;
            case "/version":
                await WriteJsonAsync(context, 200, Discovery.Version()).ConfigureAwait(false);
                return;
            case "/api":
                await WriteJsonAsync(context, 200, Discovery.ApiVersions()).ConfigureAwait(false);
                return;
            case "/api/v1":
                await WriteJsonAsync(context, 200, Discovery.CoreResources()).ConfigureAwait(false);
                return;
            case "/openapi/v3":
                await WriteJsonAsync(context, 200, Discovery.OpenApiV3Index()).ConfigureAwait(false);
                return;
            case Discovery.OpenApiV3Path:
                await WriteJsonAsync(context, 200, Discovery.OpenApiV3CoreDocument()).ConfigureAwait(false);
                return;
            case var p when p.StartsWith("/openapi/v3/apis/", StringComparison.Ordinal)
                            && ResourceKind.GroupVersions.Contains(p["/openapi/v3/apis/".Length..]):
                await WriteJsonAsync(context, 200, Discovery.OpenApiV3Document(p["/openapi/v3/apis/".Length..])).ConfigureAwait(false);
                return;
            case "/apis":
                await WriteJsonAsync(context, 200, Discovery.ApiGroups()).ConfigureAwait(false);
                return;
            case var p when p.StartsWith("/apis/", StringComparison.Ordinal) && ResourceKind.GroupVersions.Contains(p["/apis/".Length..]):
                await WriteJsonAsync(context, 200, Discovery.GroupResources(p["/apis/".Length..])).ConfigureAwait(false);
                return;
        }
        // /api/v1/… for the core group, /apis/<group>/<version>/… for the others.
        var groupVersion = ResourceKind.GroupVersions.FirstOrDefault(gv => path.StartsWith($"/apis/{gv}/", StringComparison.Ordinal));
        var prefix = groupVersion is null ? "/api/v1/" : $"/apis/{groupVersion}/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");

        var resource = ParsePath(path[prefix.Length..].Split('/').Select(Uri.UnescapeDataString).ToArray(), groupVersion ?? "v1")
                       ?? throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        await InjectFaultsAsync(context).ConfigureAwait(false);
        await DispatchAsync(context, resource).ConfigureAwait(false);
    }

    private static ResourcePath? ParsePath(string[] s, string groupVersion)
    {
        var watch = false;
        if (s.Length > 0 && s[0] == "watch")
        {
            watch = true;
            s = s[1..];
        }
        if (s.Length == 0 || s.Any(string.IsNullOrEmpty)) return null;
        if (s[0] == "namespaces" && s.Length >= 3 && ResourceKind.ByPlural(s[2], groupVersion) is { Namespaced: true } nsKind)
        {
            return s.Length switch
            {
                3 => new ResourcePath(nsKind, s[1], null, null, watch),
                4 => new ResourcePath(nsKind, s[1], s[3], null, watch),
                5 when nsKind.Subresources.Contains(s[4]) && !watch => new ResourcePath(nsKind, s[1], s[3], s[4], false),
                _ => null,
            };
        }
        var kind = ResourceKind.ByPlural(s[0], groupVersion);
        if (kind is null) return null;
        if (kind.Namespaced) return s.Length == 1 ? new ResourcePath(kind, null, null, null, watch) : null;
        return s.Length switch
        {
            1 => new ResourcePath(kind, null, null, null, watch),
            2 => new ResourcePath(kind, null, s[1], null, watch),
            3 when kind.Subresources.Contains(s[2]) && !watch => new ResourcePath(kind, null, s[1], s[2], false),
            _ => null,
        };
    }

    private async Task InjectFaultsAsync(HttpContext context)
    {
        var settings = faults.Settings;
        if (settings.Latency > TimeSpan.Zero) await Task.Delay(settings.Latency, context.RequestAborted).ConfigureAwait(false);
        switch (faults.DrawRequestFault(context.Request.Method, (context.Request.Path.Value ?? "/") + context.Request.QueryString.Value))
        {
            case RequestFault.Fail fail:
                throw fail.Error;
            case RequestFault.Hang hang:
                // Held unserved until the client gives up (aborted: nothing is written) or the hang ends in a 504.
                using (var held = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping))
                    await Task.Delay(hang.For, held.Token).ConfigureAwait(false);
                throw FaultInjector.HangTimeout(hang.For);
        }
    }

    private async Task DispatchAsync(HttpContext context, ResourcePath r)
    {
        var request = context.Request;
        var query = request.Query;
        var method = request.Method;
        var resourceName = r.Subresource is null ? r.Kind.Plural : $"{r.Kind.Plural}/{r.Subresource}";
        var dryRun = query.ContainsKey("dryRun");
        if (dryRun && query["dryRun"].ToString() != "All")
            throw ApiException.BadRequest($"Invalid dry run value: {query["dryRun"]}; only All is supported");

        if (r.Subresource == "exec")
        {
            counters.Record(method == "GET" ? "get" : "create", resourceName);
            await new ExecSession(cluster, faults.Settings, stopping).HandleAsync(context, r.Namespace!, r.Name!).ConfigureAwait(false);
            return;
        }
        if (r.Subresource == "log")
        {
            if (method != "GET") throw ApiException.MethodNotAllowed(method);
            counters.Record("get", resourceName);
            await new LogStream(cluster, faults.Settings, stopping).HandleAsync(context, r.Namespace!, r.Name!).ConfigureAwait(false);
            return;
        }

        if (r.Name is null)
        {
            var isWatch = r.LegacyWatch || query["watch"] is var w && (w == "true" || w == "1");
            switch (method)
            {
                case "GET" when isWatch:
                    counters.Record("watch", resourceName);
                    await new WatchStream(cluster, faults.Settings, bookmarkInterval, stopping).HandleAsync(context, r.Kind, r.Namespace).ConfigureAwait(false);
                    return;
                case "GET":
                    counters.Record("list", resourceName);
                    var list = List(r.Kind, r.Namespace, query);
                    if (TableView.Requested(request.Headers.Accept))
                        list = TableView.Render(r.Kind, list["items"]!.AsArray().Select(i => i!.AsObject()),
                            long.Parse((string)list["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture), query["includeObject"] == "Object");
                    await WriteJsonAsync(context, 200, list).ConfigureAwait(false);
                    return;
                case "POST" when r.LegacyWatch == false && (r.Namespace is not null || !r.Kind.Namespaced):
                    counters.Record("create", resourceName);
                    var created = cluster.Create(r.Kind, r.Namespace, await ReadObjectAsync(context).ConfigureAwait(false), dryRun);
                    await WriteJsonAsync(context, 201, created).ConfigureAwait(false);
                    return;
                case "DELETE" when r.Kind.Verbs.Contains("deletecollection") && r.Namespace is not null:
                    counters.Record("deletecollection", resourceName);
                    await WriteJsonAsync(context, 200, DeleteCollection(r, query, await ReadDeleteAsync(context).ConfigureAwait(false))).ConfigureAwait(false);
                    return;
                default:
                    throw ApiException.MethodNotAllowed(method);
            }
        }

        if (r.LegacyWatch)
        {
            if (method != "GET") throw ApiException.MethodNotAllowed(method);
            counters.Record("watch", resourceName);
            context.Request.QueryString = context.Request.QueryString.Add("fieldSelector", "metadata.name=" + r.Name);
            await new WatchStream(cluster, faults.Settings, bookmarkInterval, stopping).HandleAsync(context, r.Kind, r.Namespace).ConfigureAwait(false);
            return;
        }

        switch (method)
        {
            case "GET":
                counters.Record("get", resourceName);
                var found = cluster.Get(r.Kind, r.Namespace, r.Name);
                if (TableView.Requested(request.Headers.Accept) && r.Subresource is null)
                    found = TableView.Render(r.Kind, [found], cluster.Store.CurrentVersion, query["includeObject"] == "Object");
                await WriteJsonAsync(context, 200, found).ConfigureAwait(false);
                return;
            case "PUT":
                counters.Record("update", resourceName);
                var replaced = cluster.Replace(r.Kind, r.Namespace, r.Name, r.Subresource, await ReadObjectAsync(context).ConfigureAwait(false), dryRun);
                await WriteJsonAsync(context, 200, replaced).ConfigureAwait(false);
                return;
            case "PATCH":
                counters.Record("patch", resourceName);
                var contentType = (request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
                if (contentType == "application/apply-patch+yaml")
                    throw new ApiException(415, "UnsupportedMediaType", "server-side apply is not supported by this cluster; use client-side apply");
                var patch = await ReadJsonAsync(context).ConfigureAwait(false);
                var patched = cluster.Patch(r.Kind, r.Namespace, r.Name, r.Subresource, contentType, patch, dryRun);
                await WriteJsonAsync(context, 200, patched).ConfigureAwait(false);
                return;
            case "DELETE" when r.Subresource is null:
                counters.Record("delete", resourceName);
                var deleteRequest = await ReadDeleteAsync(context).ConfigureAwait(false);
                var deleted = cluster.Delete(r.Kind, r.Namespace, r.Name, deleteRequest with { DryRun = dryRun });
                // Graceful deletion answers 202 while the object lingers, 200 otherwise.
                var code = deleted["kind"]?.ToString() != "Status" && ObjectStore.Meta(deleted)["deletionTimestamp"] is not null ? 202 : 200;
                await WriteJsonAsync(context, code, deleted).ConfigureAwait(false);
                return;
            default:
                throw ApiException.MethodNotAllowed(method);
        }
    }

    private JsonObject List(ResourceKind kind, string? ns, IQueryCollection query)
    {
        var matcher = Matcher(kind, query);
        if (ns is not null && cluster.Store.Get(ResourceKind.Namespaces, "", ns) is null)
            return ListObject(kind, [], cluster.Store.CurrentVersion);
        var (items, version) = cluster.Store.List(kind, ns, matcher);
        return ListObject(kind, items, version);
    }

    private static JsonObject ListObject(ResourceKind kind, List<JsonObject> items, long version) => new()
    {
        ["kind"] = kind.ListKind, ["apiVersion"] = kind.GroupVersion,
        ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
        ["items"] = new JsonArray(items.Select(i => (JsonNode?)i).ToArray()),
    };

    public static Func<JsonObject, bool> Matcher(ResourceKind kind, IQueryCollection query)
    {
        try
        {
            var labels = LabelSelector.Parse(query["labelSelector"].ToString());
            var fields = FieldSelector.Parse(query["fieldSelector"].ToString(), kind.FieldLabels);
            return Cluster.Matcher(labels, fields);
        }
        catch (FormatException e)
        {
            throw ApiException.BadRequest($"unable to parse requirement: {e.Message}");
        }
    }

    private JsonObject DeleteCollection(ResourcePath r, IQueryCollection query, DeleteRequest request)
    {
        var matcher = Matcher(r.Kind, query);
        var (items, version) = cluster.Store.List(r.Kind, r.Namespace, matcher);
        var deleted = new List<JsonObject>();
        foreach (var item in items)
        {
            try
            {
                deleted.Add(cluster.Delete(r.Kind, r.Namespace, (string)ObjectStore.Meta(item)["name"]!, request with { DryRun = query.ContainsKey("dryRun") }));
            }
            catch (ApiException e) when (e.Code == 404)
            {
                // Gone meanwhile.
            }
        }
        return ListObject(r.Kind, r.Kind == ResourceKind.Pods ? deleted : items, version);
    }

    private static async Task<DeleteRequest> ReadDeleteAsync(HttpContext context)
    {
        var query = context.Request.Query;
        long? grace = long.TryParse(query["gracePeriodSeconds"], CultureInfo.InvariantCulture, out var g) ? g : null;
        string? policy = query["propagationPolicy"].ToString() is { Length: > 0 } p ? p : null;
        string? uid = null, version = null;
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        if (body.Length > 0)
        {
            JsonNode? options;
            try
            {
                options = JsonNode.Parse(body);
            }
            catch (JsonException e)
            {
                throw ApiException.BadRequest($"the body of the request was in an unknown format: {e.Message}");
            }
            if (options is JsonObject o)
            {
                if (o["gracePeriodSeconds"] is JsonValue gv && gv.TryGetValue<long>(out var bodyGrace)) grace = bodyGrace;
                if (o["propagationPolicy"] is JsonValue pv && pv.TryGetValue<string>(out var bodyPolicy)) policy = bodyPolicy;
                if (o["orphanDependents"] is JsonValue ov && ov.TryGetValue<bool>(out var orphan) && orphan) policy = "Orphan";
                uid = JsonText.Str(o["preconditions"]?["uid"]);
                version = JsonText.Str(o["preconditions"]?["resourceVersion"]);
            }
        }
        if (policy is not null && policy is not ("Orphan" or "Background" or "Foreground"))
            throw new ApiException(422, "Invalid", $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
        return new DeleteRequest(grace, policy, uid, version, false);
    }

    private static async Task<string> ReadBodyAsync(HttpContext context) =>
        Encoding.UTF8.GetString(await ReadBytesAsync(context).ConfigureAwait(false));

    private static async Task<byte[]> ReadBytesAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBodyBytes) throw new ApiException(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728");
        }
        return buffer.ToArray();
    }

    private static async Task<JsonNode> ReadJsonAsync(HttpContext context)
    {
        var body = await ReadBodyAsync(context).ConfigureAwait(false);
        try
        {
            return JsonNode.Parse(body) ?? throw ApiException.BadRequest("the body of the request was empty");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json: {e.Message}");
        }
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpContext context)
    {
        var contentType = (context.Request.ContentType ?? "application/json").Split(';')[0].Trim();
        if (contentType == ProtobufObjects.ContentType)
        {
            try
            {
                return ProtobufObjects.Decode(await ReadBytesAsync(context).ConfigureAwait(false));
            }
            catch (FormatException e)
            {
                throw new ApiException(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json ({e.Message})");
            }
        }
        if (contentType is not ("application/json" or ""))
            throw new ApiException(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: application/json (got {contentType})");
        return await ReadJsonAsync(context).ConfigureAwait(false) as JsonObject
               ?? throw ApiException.BadRequest("the body of the request must be a JSON object");
    }

    public static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }

    public static async Task WriteErrorAsync(HttpContext context, ApiException e)
    {
        if (context.Response.HasStarted) return;
        if (e.RetryAfterSeconds is { } retry) context.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
        await WriteJsonAsync(context, e.Code, e.ToStatus()).ConfigureAwait(false);
    }
}
