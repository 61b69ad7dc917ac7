using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Api;

/// <summary>One watch request: newline-delimited JSON events until timeoutSeconds, a fault limit, or disconnection.</summary>
internal sealed class WatchStream(Cluster cluster, FaultSettings faults, TimeSpan bookmarkInterval, CancellationToken stopping)
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);

    public async Task HandleAsync(HttpContext context, ResourceKind kind, string? ns)
    {
        var query = context.Request.Query;
        var matcher = HttpApi.Matcher(kind, query);
        var timeout = long.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds) : DefaultTimeout;
        if (faults.WatchMaxDuration is { } maxDuration && maxDuration < timeout) timeout = maxDuration;
        var bookmarks = query["allowWatchBookmarks"] == "true";
        var fromVersion = query["resourceVersion"].ToString();
        var asTable = TableView.Requested(context.Request.Headers.Accept);
        var includeObject = query["includeObject"] == "Object";

        WatchSubscription subscription;
        try
        {
            subscription = cluster.Store.Watch(kind, ns, fromVersion, matcher);
        }
        catch (ApiException e) when (e.Code == 410)
        {
            // As kube-apiserver: the stream opens, then carries one ERROR event with the Expired status.
            await StartAsync(context).ConfigureAwait(false);
            await WriteLineAsync(context, new JsonObject { ["type"] = "ERROR", ["object"] = e.ToStatus() }).ConfigureAwait(false);
            return;
        }

        using (subscription)
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            cancel.CancelAfter(timeout);
            await StartAsync(context).ConfigureAwait(false);
            var sent = 0;
            var nextBookmark = DateTime.UtcNow + bookmarkInterval;
            try
            {
                while (faults.WatchMaxEvents is not { } max || sent < max)
                {
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token);
                    if (bookmarks) wait.CancelAfter(Max(nextBookmark - DateTime.UtcNow, TimeSpan.FromMilliseconds(1)));
                    bool available;
                    try
                    {
                        available = await subscription.Events.WaitToReadAsync(wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                    {
                        await WriteLineAsync(context, Bookmark(kind, cluster.Store.CurrentVersion)).ConfigureAwait(false);
                        nextBookmark = DateTime.UtcNow + bookmarkInterval;
                        continue;
                    }
                    if (!available) break;
                    while ((faults.WatchMaxEvents is not { } limit || sent < limit) && subscription.Events.TryRead(out var e))
                    {
                        var payload = asTable ? TableView.Render(kind, [e.Object], e.ResourceVersion, includeObject) : e.Object;
                        await WriteLineAsync(context, new JsonObject { ["type"] = e.Type, ["object"] = payload }).ConfigureAwait(false);
                        sent++;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Timeout, client gone or server stopping: the stream simply ends, as kube's.
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static JsonObject Bookmark(ResourceKind kind, long version) => new()
    {
        ["type"] = "BOOKMARK",
        ["object"] = new JsonObject
        {
            ["kind"] = kind.Kind, ["apiVersion"] = kind.GroupVersion,
            ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
        },
    };

    private static async Task StartAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-cache, private";
        await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteLineAsync(HttpContext context, JsonObject line)
    {
        var bytes = Encoding.UTF8.GetBytes(line.ToJsonString() + "\n");
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
