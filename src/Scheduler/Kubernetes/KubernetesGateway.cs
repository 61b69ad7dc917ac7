using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Messages.Settings;

namespace Scheduler.Kubernetes;

/// <summary>
/// The actors' Kubernetes port over KubernetesClient: create/read/patch/delete with 404 and 409 mapped as the port says,
/// one watch stream per call, exec over WebSocket (read by <see cref="ExecChannels"/>: no thread held, a small pooled buffer)
/// with stdout streamed and the exit code read from the status channel.
/// Every request first passes the shared client-side rate limiter. Every request but the streams (watch, exec after it
/// connected) must answer within <see cref="RequestTimeout"/>: a hung call ends as a <see cref="TimeoutException"/>, which the
/// actors treat as transient, instead of waiting for the HTTP client's own 100 s.
/// </summary>
/// <param name="streamingClient">The client for execs whose output is the bulk of a job's bytes; null: <paramref name="client"/>.</param>
public sealed class KubernetesGateway(IKubernetes client, ApiRateLimiter limiter, TimeSpan? requestTimeout = null,
    IKubernetes? streamingClient = null) : IKubernetesGateway
{
    private const string ExecSubprotocol = "v4.channel.k8s.io";

    /// <summary>The default bound of one non-streaming request.</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);

    public TimeSpan RequestTimeout { get; } = requestTimeout is { } given && given > TimeSpan.Zero ? given : DefaultRequestTimeout;

    // Runs one request under the rate limiter and the request timeout. The caller's own cancellation propagates as it is;
    // the timeout becomes a TimeoutException, so nobody mistakes it for "my actor stopped".
    private async Task<T> BoundedAsync<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken ct)
    {
        await limiter.WaitAsync(ct);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(RequestTimeout);
        try
        {
            return await call(bounded.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"{what}: the Kubernetes API did not answer within {RequestTimeout.TotalSeconds:0} s", e);
        }
    }

    public async Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
    {
        var ns = pod.Metadata.NamespaceProperty;
        try
        {
            return await BoundedAsync($"create pod {ns}/{pod.Metadata.Name}",
                t => client.CoreV1.CreateNamespacedPodAsync(pod, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // The pod's name is fixed: a 409 (a retry after a lost answer, a restarted JobActor) means it exists already.
            return await ReadPodAsync(ns, pod.Metadata.Name, ct)
                   ?? throw new InvalidOperationException($"pod {ns}/{pod.Metadata.Name} already exists but cannot be read");
        }
    }

    public async Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
    {
        var ns = secret.Metadata.NamespaceProperty;
        try
        {
            return await BoundedAsync($"create secret {ns}/{secret.Metadata.Name}",
                t => client.CoreV1.CreateNamespacedSecretAsync(secret, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // The existing Secret as it is (a rare path): the caller judges whether it is the one it meant, e.g. by its owner.
            // One gone between the 409 and the read is created once more (a second 409 is the caller's error).
            return await ReadSecretAsync(ns, secret.Metadata.Name, ct)
                   ?? await BoundedAsync($"create secret {ns}/{secret.Metadata.Name}",
                       t => client.CoreV1.CreateNamespacedSecretAsync(secret, ns, cancellationToken: t), ct);
        }
    }

    public async Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct)
    {
        var ns = budget.Metadata.NamespaceProperty;
        try
        {
            return await BoundedAsync($"create poddisruptionbudget {ns}/{budget.Metadata.Name}",
                t => client.PolicyV1.CreateNamespacedPodDisruptionBudgetAsync(budget, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Its name is fixed by the pod's: a 409 is the budget this job made already.
            return budget;
        }
    }

    public async Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            return await BoundedAsync($"read pod {ns}/{name}", t => client.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct)
    {
        var list = await BoundedAsync($"list pods in {ns}",
            t => client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: labelSelector, cancellationToken: t), ct);
        return list.Items.ToList();
    }

    public async Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct)
    {
        // A merge patch that names metadata.resourceVersion is applied only while the object still has that version:
        // two nodes claiming the same pod cannot both succeed.
        var patch = new V1Patch(new
        {
            metadata = new
            {
                resourceVersion = expectedResourceVersion,
                annotations = new Dictionary<string, string> { [Scheduler.Actors.Pods.PodMetadata.OwnerAnnotation] = owner },
            },
        }, V1Patch.PatchType.MergePatch);
        try
        {
            return await BoundedAsync($"claim pod {ns}/{name}",
                t => client.CoreV1.PatchNamespacedPodAsync(patch, name, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            return await BoundedAsync($"read secret {ns}/{name}",
                t => client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct)
    {
        // A merge patch replaces the ownerReferences list as a whole: the pod becomes the Secret's only owner.
        var patch = new V1Patch(new
        {
            metadata = new
            {
                ownerReferences = new[]
                {
                    new { apiVersion = owner.ApiVersion, kind = owner.Kind, name = owner.Name, uid = owner.Uid },
                },
            },
        }, V1Patch.PatchType.MergePatch);
        try
        {
            return await BoundedAsync($"set the owner of secret {ns}/{name}",
                t => client.CoreV1.PatchNamespacedSecretAsync(patch, name, ns, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        try
        {
            await BoundedAsync($"delete secret {ns}/{name}", t => client.CoreV1.DeleteNamespacedSecretAsync(name, ns,
                new V1DeleteOptions { GracePeriodSeconds = gracePeriodSeconds }, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // already gone: that is what we wanted
        }
    }

    public async Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct)
    {
        try
        {
            await BoundedAsync($"delete pod {ns}/{name}", t => client.CoreV1.DeleteNamespacedPodAsync(name, ns,
                new V1DeleteOptions { PropagationPolicy = "Background", GracePeriodSeconds = gracePeriodSeconds },
                cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // already gone: that is what we wanted
        }
    }

    public async Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct)
    {
        var list = await BoundedAsync($"list the events of pod {ns}/{podName}", t => client.CoreV1.ListNamespacedEventAsync(ns,
            fieldSelector: $"involvedObject.name={podName},type=Warning", limit: limit, cancellationToken: t), ct);
        return list.Items.Take(limit).ToList();
    }

    public async Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            await BoundedAsync($"read service account {ns}/{name}",
                t => client.CoreV1.ReadNamespacedServiceAccountAsync(name, ns, cancellationToken: t), ct);
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async Task CreateNamespaceAsync(string name, CancellationToken ct)
    {
        try
        {
            await BoundedAsync($"create namespace {name}",
                t => client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } }, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // made by an earlier try whose answer was lost
        }
    }

    public async Task DeleteNamespaceAsync(string name, CancellationToken ct)
    {
        try
        {
            await BoundedAsync($"delete namespace {name}", t => client.CoreV1.DeleteNamespaceAsync(name,
                new V1DeleteOptions { PropagationPolicy = "Background" }, cancellationToken: t), ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // already gone: that is what we wanted
        }
    }

    public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
        [EnumeratorCancellation] CancellationToken ct)
    {
        await limiter.WaitAsync(ct);
        await foreach (var (type, pod) in client.CoreV1.WatchListNamespacedPodAsync(ns, labelSelector: labelSelector,
                           cancellationToken: ct))
        {
            yield return (type, pod);
        }
    }

    public Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct) =>
        ExecOnAsync(client, ns, pod, container, command, onStdout, ct);

    public Task<int> ExecStreamingAsync(string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task> onStdout, CancellationToken ct) =>
        ExecOnAsync(streamingClient ?? client, ns, pod, container, command, onStdout, ct);

    private async Task<int> ExecOnAsync(IKubernetes on, string ns, string pod, string container, IReadOnlyList<string> command,
        Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
    {
        await limiter.WaitAsync(ct);
        WebSocket socket;
        // Only connecting is bounded: the stream itself lasts as long as the command (a stage's wait, a followed log).
        using var connecting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        connecting.CancelAfter(RequestTimeout);
        try
        {
            // The subprotocol is named: IKubernetes' default for it is null, which an API server refuses.
            socket = await on.WebSocketNamespacedPodExecAsync(pod, ns, command, container, stderr: true, stdin: false,
                stdout: true, tty: false, webSocketSubProtocol: ExecSubprotocol, cancellationToken: connecting.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new ExecConnectionLostException(
                $"exec in {ns}/{pod} ({container}) could not connect within {RequestTimeout.TotalSeconds:0} s", e);
        }
        catch (HttpOperationException e)
        {
            throw new KubernetesException($"exec in {ns}/{pod} ({container}) was refused: {(int)e.Response.StatusCode} {e.Response.Content}", e);
        }
        catch (WebSocketException e) when (e.WebSocketErrorCode != WebSocketError.NotAWebSocket)
        {
            throw new ExecConnectionLostException($"exec in {ns}/{pod} ({container}) could not connect: {e.Message}", e);
        }
        catch (WebSocketException e)
        {
            // The handshake got an HTTP answer instead of 101: its status (429, 5xx: transient) is only in the message.
            var message = $"exec in {ns}/{pod} ({container}) was refused: {e.Message}";
            throw ExecHandshake.Status(e.Message) is { } code
                ? new KubernetesException(new V1Status { Code = code, Message = message }, e)
                : new KubernetesException(message, e);
        }

        connecting.CancelAfter(Timeout.InfiniteTimeSpan);

        using (socket)
        {
            ExecChannels.Outcome outcome;
            try
            {
                outcome = await ExecChannels.ReadAsync(socket, onStdout, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                socket.Abort();
                throw;
            }

            return ExitOf(outcome, $"{ns}/{pod} ({container})");
        }
    }

    /// <summary>The exit code of an exec that ended with <paramref name="outcome"/>. Only a status that arrived whole ends the
    /// command: a connection that closed or dropped before it says nothing about the command, which may still be running.</summary>
    public static int ExitOf(ExecChannels.Outcome outcome, string where) =>
        ExitCodeOf(outcome.Status ?? "") ?? throw new ExecConnectionLostException(outcome.Dropped is { } dropped
            ? $"the exec connection to {where} dropped: {dropped.Message}"
            : $"the exec connection to {where} closed before the command's exit status arrived", outcome.Dropped);

    /// <summary>The exit code in the status channel's V1Status, or null when there is none (the connection dropped).
    /// A status that is neither success nor a non-zero exit code is an error of the exec itself.</summary>
    public static int? ExitCodeOf(string statusJson)
    {
        if (string.IsNullOrWhiteSpace(statusJson))
        {
            return null;
        }

        V1Status status;
        try
        {
            status = KubernetesJson.Deserialize<V1Status>(statusJson);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }

        if (status.Status == "Success")
        {
            return 0;
        }

        if (status.Reason == "NonZeroExitCode" &&
            status.Details?.Causes?.FirstOrDefault(c => c.Reason == "ExitCode")?.Message is { } code &&
            int.TryParse(code, out var exitCode))
        {
            return exitCode;
        }

        throw new KubernetesException(status);
    }
}

/// <summary>Gives each runner entry (and each job bearer token overwrite) its gateway; all share one rate limiter. A gateway to
/// the embedded cluster of this process runs its short execs as streams of one HTTP/2 connection (<see cref="SharedConnectionExec"/>);
/// its streaming execs (the followed log, artifact archives) keep a connection each, where a MiB costs about half the CPU
/// it costs as HTTP/2 frames.</summary>
public sealed class KubernetesGatewayFactory(
    Func<RunnerEntry, string?, KubernetesClientConfiguration> configurationFor,
    ApiRateLimiter limiter) : IKubernetesGatewayFactory, IDisposable
{
    // Lazy: GetOrAdd may run its factory twice in a race, and a second pair of clients would never be disposed.
    private readonly ConcurrentDictionary<(string Runner, string? Token), Lazy<(k8s.Kubernetes Client, k8s.Kubernetes? Streaming, KubernetesGateway Gateway)>> _gateways = new();

    public IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite) =>
        _gateways.GetOrAdd((runner.Name, bearerTokenOverwrite), _ => new(() =>
        {
            var configuration = configurationFor(runner, bearerTokenOverwrite);
            var client = new k8s.Kubernetes(configuration);
            if (!SharedConnectionExec.IsEmbeddedCluster(configuration))
            {
                return (client, null, new KubernetesGateway(client, limiter));
            }

            SharedConnectionExec.Use(client);
            var streaming = new k8s.Kubernetes(configuration);
            return (client, streaming, new KubernetesGateway(client, limiter, streamingClient: streaming));
        })).Value.Gateway;

    public void Dispose()
    {
        foreach (var (client, streaming, _) in _gateways.Values.Where(lazy => lazy.IsValueCreated).Select(lazy => lazy.Value))
        {
            client.Dispose();
            streaming?.Dispose();
        }

        _gateways.Clear();
    }
}

/// <summary>Reads a refused exec handshake.</summary>
public static class ExecHandshake
{
    /// <summary>The HTTP status of a WebSocket handshake that got no 101 ("… status code '503' when '101' was expected"), if the
    /// message names one.</summary>
    public static int? Status(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"'(\d{3})'");
        return match.Success && int.TryParse(match.Groups[1].Value, out var code) && code != 101 ? code : null;
    }
}
