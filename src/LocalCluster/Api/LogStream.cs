using System.Globalization;
using Microsoft.AspNetCore.Http;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Api;

/// <summary><c>pods/log</c>: checks the request as kube-apiserver does, then streams the runtime's log as it comes.</summary>
internal sealed class LogStream(Cluster cluster, FaultSettings faults, CancellationToken stopping)
{
    public async Task HandleAsync(HttpContext context, string ns, string podName)
    {
        var pod = cluster.Get(ResourceKind.Pods, ns, podName);
        var options = ParseOptions(context.Request.Query);
        var containers = (pod["spec"]?["containers"]?.AsArray() ?? []).Select(c => JsonText.Str(c?["name"]) ?? "").ToList();
        var initContainers = (pod["spec"]?["initContainers"]?.AsArray() ?? []).Select(c => JsonText.Str(c?["name"]) ?? "").ToList();
        if (options.Container is null)
        {
            if (containers.Count != 1)
                throw ApiException.BadRequest(
                    $"a container name must be specified for pod {podName}, choose one of: [{string.Join(" ", containers)}]"
                    + (initContainers.Count > 0 ? $" or one of the init containers: [{string.Join(" ", initContainers)}]" : ""));
            options = options with { Container = containers[0] };
        }
        else if (!containers.Contains(options.Container) && !initContainers.Contains(options.Container))
        {
            throw ApiException.BadRequest($"container {options.Container} is not valid for pod {podName}");
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var dropAfter = options.Follow ? faults.LogFollowDropAfter : null;
        if (dropAfter is { } after) cancel.CancelAfter(after);
        var output = new ResponseStream(context, options.LimitBytes, options.Follow ? faults.LogFollowDropAfterBytes : null, cancel);

        var streaming = cluster.Runtime.StreamLogAsync(ns, podName, options, output, cancel.Token);
        // Refusals come at once; give them the chance to become a Status before the 200 goes out.
        await Task.WhenAny(streaming, Task.Delay(50, cancel.Token)).ConfigureAwait(false);
        try
        {
            if (!streaming.IsFaulted) await output.StartAsync().ConfigureAwait(false);
            await streaming.ConfigureAwait(false);
            await output.StartAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Client gone, limit reached, server stopping or an injected drop.
        }
        catch (PodRuntimeException e) when (!context.Response.HasStarted)
        {
            throw new ApiException(e.HttpStatus, e.Reason, e.Message);
        }
        if (output.Dropped) context.Abort();
    }

    private static PodLogOptions ParseOptions(IQueryCollection q)
    {
        static bool Flag(IQueryCollection q, string name) => q[name] == "true" || q[name] == "1";
        static long? Number(IQueryCollection q, string name)
        {
            var text = q[name].ToString();
            if (text.Length == 0) return null;
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
                throw ApiException.BadRequest($"{name}: Invalid value: \"{text}\": must be an integer");
            return n;
        }
        DateTimeOffset? since = null;
        if (q["sinceTime"].ToString() is { Length: > 0 } sinceText)
        {
            if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                throw ApiException.BadRequest($"sinceTime: Invalid value: \"{sinceText}\": must be an RFC3339 time");
            since = parsed;
        }
        var options = new PodLogOptions
        {
            Container = q["container"].ToString() is { Length: > 0 } c ? c : null,
            Follow = Flag(q, "follow"),
            Timestamps = Flag(q, "timestamps"),
            Previous = Flag(q, "previous"),
            SinceTime = since,
            SinceSeconds = Number(q, "sinceSeconds"),
            TailLines = Number(q, "tailLines"),
            LimitBytes = Number(q, "limitBytes"),
        };
        if (options.SinceSeconds is < 1) throw ApiException.BadRequest("sinceSeconds: Invalid value: must be greater than 0");
        if (options.LimitBytes is < 1) throw ApiException.BadRequest("limitBytes: Invalid value: must be greater than 0");
        if (options.TailLines is < 0) throw ApiException.BadRequest("tailLines: Invalid value: must be greater than or equal to 0");
        if (options.SinceSeconds is not null && options.SinceTime is not null)
            throw new ApiException(422, "Invalid", "PodLogOptions \"\" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified");
        return options;
    }

    /// <summary>
    /// The response body as the runtime sees it: starts the 200 on first write, flushes every write, enforces
    /// limitBytes, and drops the stream after an injected byte budget.
    /// </summary>
    private sealed class ResponseStream(HttpContext context, long? limitBytes, long? dropAfterBytes, CancellationTokenSource cancel) : WriteOnlyStream
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private long _written;

        public bool Dropped { get; private set; }

        public async Task StartAsync()
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (context.Response.HasStarted) return;
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/plain";
                await context.Response.StartAsync(context.RequestAborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (cancel.IsCancellationRequested) throw new OperationCanceledException(cancel.Token);
            await StartAsync().ConfigureAwait(false);
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var allowed = buffer.Length;
                if (limitBytes is { } limit) allowed = (int)Math.Min(allowed, Math.Max(0, limit - _written));
                if (dropAfterBytes is { } drop && _written + allowed >= drop)
                {
                    allowed = (int)Math.Max(0, drop - _written);
                    Dropped = true;
                }
                if (allowed > 0)
                {
                    await context.Response.Body.WriteAsync(buffer[..allowed], context.RequestAborted).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                    _written += allowed;
                }
                if (Dropped || (limitBytes is { } max && _written >= max)) await cancel.CancelAsync().ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        public override long Position { get => _written; set => throw new NotSupportedException(); }
    }
}
