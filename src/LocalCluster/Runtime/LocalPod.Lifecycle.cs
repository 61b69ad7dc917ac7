using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

// Container lifecycle hooks as kubelet runs them: postStart right after the container starts (a failure kills the
// container, event FailedPostStartHook), preStop before the container is stopped, within the grace period
// (event FailedPreStopHook on failure).
internal sealed partial class LocalPod
{
    // Kubelet's bound on a hook's output kept in its event message.
    private const int HookOutputLimit = 1024;

    /// <summary>Runs the container's postStart hook, if any; false when it failed and the container was killed.</summary>
    private async Task<bool> RunPostStartAsync(LocalContainer container)
    {
        if (container.Spec.Lifecycle?.PostStart is not { } handler) return true;
        string? error;
        try
        {
            error = await RunHookAsync(container, handler, StopToken);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            // The pod is being stopped: the container goes with it.
            error = null;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // A hook the node cannot run fails like a hook that ran and failed; it never takes the node down.
            error = $"Cannot run handler: {exception.Message}";
        }
        finally
        {
            lock (_lock) container.InPostStart = false;
        }
        if (error is null)
        {
            Publish();
            return true;
        }
        Event("Warning", "FailedPostStartHook", error, container);
        Process? process;
        lock (_lock) process = container.Process;
        if (process is not null) await HostProcesses.KillSandboxAsync(process);
        return false;
    }

    /// <summary>
    /// Runs the preStop hooks of the running containers, together, for at most the grace period; returns the seconds
    /// left of it. As kubelet does, the containers then get at least 2 s to stop on SIGTERM.
    /// </summary>
    private async Task<long> RunPreStopHooksAsync(long gracePeriodSeconds)
    {
        if (gracePeriodSeconds <= 0) return gracePeriodSeconds;
        List<LocalContainer> hooked;
        lock (_lock)
        {
            if (_stopRequested) return gracePeriodSeconds;
            hooked = _containers.Where(c => c.IsRunning && c.Spec.Lifecycle?.PreStop is not null).ToList();
        }
        if (hooked.Count == 0) return gracePeriodSeconds;
        var started = DateTime.UtcNow;
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(gracePeriodSeconds, 86_400)));
        await Task.WhenAll(hooked.Select(async container =>
        {
            string? error;
            try
            {
                error = await RunHookAsync(container, container.Spec.Lifecycle.PreStop, grace.Token);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The pod is deleted whatever its hook does.
                error = $"Cannot run handler: {exception.Message}";
            }
            catch (OperationCanceledException)
            {
                error = $"PreStop hook for Container \"{container.Name}\" in Pod \"{PodLabel}\" did not complete within the grace period of {gracePeriodSeconds}s";
            }
            if (error is not null) Event("Warning", "FailedPreStopHook", error, container);
        }));
        var left = gracePeriodSeconds - (long)(DateTime.UtcNow - started).TotalSeconds;
        return Math.Max(2, left);
    }

    private string PodLabel => $"{Name}_{Namespace}({Uid})";

    /// <summary>Runs one handler; null on success, else kubelet's message for the failure.</summary>
    private async Task<string?> RunHookAsync(LocalContainer container, V1LifecycleHandler handler, CancellationToken cancellationToken)
    {
        if (handler.Exec is { } exec)
        {
            IReadOnlyList<string> command = [.. exec.Command ?? []];
            var described = $"[{string.Join(" ", command)}]";
            if (command.Count == 0)
            {
                return $"Exec lifecycle hook ({described}) for Container \"{container.Name}\" in Pod \"{PodLabel}\" failed - error: no command given";
            }
            using var output = new BoundedBuffer(HookOutputLimit);
            int exitCode;
            try
            {
                exitCode = await ExecInAsync(container, command, tty: false, new ExecStreams(null, output, output), cancellationToken);
            }
            catch (PodRuntimeException exception)
            {
                return $"Exec lifecycle hook ({described}) for Container \"{container.Name}\" in Pod \"{PodLabel}\" failed - error: {exception.Message}";
            }
            if (exitCode == 0) return null;
            return $"Exec lifecycle hook ({described}) for Container \"{container.Name}\" in Pod \"{PodLabel}\" failed - error: "
                + $"command '{string.Join(" ", command)}' exited with {exitCode}: , message: \"{output.Text()}\"";
        }
        if (handler.HttpGet is { } httpGet)
        {
            var error = await HttpHookAsync(container, httpGet, cancellationToken);
            return error is null ? null : $"HTTP lifecycle hook ({httpGet.Path}) for Container \"{container.Name}\" in Pod \"{PodLabel}\" failed - error: {error}";
        }
        if (handler.Sleep is { } sleep)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(sleep.Seconds, 0, 86_400)), cancellationToken);
            return null;
        }
        // tcpSocket is accepted by the API for compatibility but kubelet cannot run it as a hook: it fails at runtime.
        return $"Cannot run handler: invalid handler: {(handler.TcpSocket is null ? "no action" : "tcpSocket is not supported as a lifecycle handler")}";
    }

    /// <summary>GET to scheme://host:port/path; null on a 2xx/3xx answer, else why it failed.</summary>
    private async Task<string?> HttpHookAsync(LocalContainer container, V1HTTPGetAction action, CancellationToken cancellationToken)
    {
        if (ResolvePort(container, action.Port) is not { } port) return $"unknown port {action.Port?.Value}";
        var scheme = string.Equals(action.Scheme, "HTTPS", StringComparison.OrdinalIgnoreCase) ? "https" : "http";
        // Without a host the hook targets the pod's IP; every pod here shares the node's loopback.
        var host = string.IsNullOrEmpty(action.Host) ? "127.0.0.1" : action.Host;
        var path = string.IsNullOrEmpty(action.Path) ? "/" : action.Path.StartsWith('/') ? action.Path : "/" + action.Path;
        if (!Uri.TryCreate($"{scheme}://{(host.Contains(':') ? $"[{host}]" : host)}:{port}{path}", UriKind.Absolute, out var uri))
        {
            return $"invalid URL for host {host} and path {path}";
        }
        // Kubelet does not verify the certificate of an HTTPS hook.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true, AllowAutoRedirect = true };
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        foreach (var header in action.HttpHeaders ?? [])
        {
            if (!string.IsNullOrEmpty(header.Name)) request.Headers.TryAddWithoutValidation(header.Name, header.Value ?? "");
        }
        try
        {
            using var response = await client.SendAsync(request, cancellationToken);
            var code = (int)response.StatusCode;
            return code is >= 200 and < 400 ? null : $"HTTP lifecycle hook returned status {code}";
        }
        catch (Exception exception) when (exception is HttpRequestException or SocketException)
        {
            return exception.Message;
        }
    }

    /// <summary>A port number, or the name of one of the container's ports.</summary>
    private static int? ResolvePort(LocalContainer container, IntOrString? port)
    {
        var value = port?.Value;
        if (string.IsNullOrEmpty(value)) return null;
        if (int.TryParse(value, out var number)) return number is > 0 and < 65536 ? number : null;
        return container.Spec.Ports?.FirstOrDefault(p => p.Name == value)?.ContainerPort;
    }

    /// <summary>Keeps the first bytes a hook writes; the rest is read and dropped so the command never blocks.</summary>
    private sealed class BoundedBuffer(int limit) : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count) => base.Write(buffer, offset, Math.Min(count, Math.Max(0, limit - (int)Length)));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }

        public string Text() => Encoding.UTF8.GetString(ToArray()).TrimEnd('\n');
    }
}
