using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;
using Scheduler.Fleet;
using Scheduler.LocalCluster;

namespace Scheduler.Metrics;

/// <summary>
/// The HTTP listener at <c>listen_address</c>: <c>/metrics</c> (Prometheus text, GET/HEAD), <c>/health</c> (the process
/// answers), <c>/ready</c> (200 when <c>isReady</c> says so, else 503; asked asynchronously, so no request blocks a thread) and
/// <c>/fleet</c> (the fleet's members and their jobs as JSON, for <c>scheduler status</c>; one answer shared by all requests for
/// <see cref="FleetAnswerMaxAge"/>, so requests cannot make a fan-out storm over the fleet). Kestrel on the given address.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    public const int DefaultPort = 9252;

    /// <summary>How long one <c>/fleet</c> answer is served to every request.</summary>
    public static readonly TimeSpan FleetAnswerMaxAge = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The address actually bound (port 0 in <c>listen_address</c> picks a free one).</summary>
    public Uri Address { get; }

    public static Task<MetricsEndpoint> StartAsync(string listenAddress, CollectorRegistry registry, Func<bool> isReady,
        CancellationToken cancellationToken = default, Func<CancellationToken, Task<FleetStatus>>? fleetStatus = null) =>
        StartAsync(listenAddress, registry, _ => Task.FromResult(isReady()), cancellationToken, fleetStatus);

    public static async Task<MetricsEndpoint> StartAsync(string listenAddress, CollectorRegistry registry,
        Func<CancellationToken, Task<bool>> isReady, CancellationToken cancellationToken = default,
        Func<CancellationToken, Task<FleetStatus>>? fleetStatus = null, TimeProvider? time = null)
    {
        if (!TryParseListenAddress(listenAddress, out var endpoint, out var error))
        {
            throw new ArgumentException(error, nameof(listenAddress));
        }

        var builder = SlimWebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(endpoint));
        var app = builder.Build();
        var fleetAnswer = fleetStatus is null ? null : new SharedAnswer<FleetStatus>(fleetStatus, FleetAnswerMaxAge, time);
        app.Run(context => HandleAsync(context, registry, isReady, fleetAnswer));
        await app.StartAsync(cancellationToken);
        var bound = app.Services.GetService(typeof(IServer)) is IServer server
            ? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            : null;
        return new MetricsEndpoint(app, new Uri(bound ?? $"http://{endpoint}"));
    }

    /// <summary><c>host:port</c>, <c>:port</c> (all interfaces) or <c>host</c> (port 9252), as GitLab Runner accepts.</summary>
    public static bool TryParseListenAddress(string? listenAddress, out IPEndPoint endpoint, out string error)
    {
        endpoint = null!;
        error = "";
        var text = listenAddress?.Trim() ?? "";
        if (text.Length == 0)
        {
            error = "listen_address is empty";
            return false;
        }

        string host;
        var port = DefaultPort;
        var colon = text.LastIndexOf(':');
        if (colon >= 0 && !text.EndsWith(']'))
        {
            host = text[..colon];
            if (!int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port)
                || port > 65535)
            {
                error = $"listen_address '{text}': invalid port";
                return false;
            }
        }
        else
        {
            host = text;
        }

        host = host.Trim('[', ']');
        IPAddress? address = host switch
        {
            "" or "0.0.0.0" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : null,
        };
        if (address is null)
        {
            error = $"listen_address '{text}': the host must be an IP address or localhost";
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        return true;
    }

    private static async Task HandleAsync(HttpContext context, CollectorRegistry registry, Func<CancellationToken, Task<bool>> isReady,
        SharedAnswer<FleetStatus>? fleetStatus)
    {
        var method = context.Request.Method;
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        switch (context.Request.Path.Value)
        {
            case "/metrics":
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                using (var buffer = new MemoryStream())
                {
                    await registry.CollectAndExportAsTextAsync(buffer, context.RequestAborted);
                    if (HttpMethods.IsGet(method))
                    {
                        await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted);
                    }
                }

                break;
            case "/health":
                await context.Response.WriteAsync("ok\n");
                break;
            case "/ready":
                var ready = await isReady(context.RequestAborted);
                context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync(ready ? "ready\n" : "not ready\n");
                break;
            case "/fleet" when fleetStatus is not null:
                await WriteFleetStatusAsync(context, fleetStatus);
                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }

    private static async Task WriteFleetStatusAsync(HttpContext context, SharedAnswer<FleetStatus> fleetStatus)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        try
        {
            var status = await fleetStatus.GetAsync(context.RequestAborted);
            await context.Response.WriteAsync(FleetStatusJson.Serialize(status), context.RequestAborted);
        }
        catch (Exception e) when (e is Akka.Actor.AskTimeoutException or TaskCanceledException)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync($"{{\"error\":\"the fleet did not answer in time\"}}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
