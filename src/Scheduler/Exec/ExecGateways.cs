using System.Net;
using System.Runtime.CompilerServices;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Messages.Settings;

namespace Scheduler.Exec;

/// <summary>The Kubernetes port for exec's connection: one client for the process, another per bearer-token overwrite.</summary>
public static class ExecGateways
{
    public static IKubernetesGatewayFactory Create(KubernetesClientConfiguration configuration) => new Factory(configuration);

    private sealed class Factory(KubernetesClientConfiguration configuration) : IKubernetesGatewayFactory
    {
        private readonly Lazy<ClientGateway> _default = new(() => new ClientGateway(new k8s.Kubernetes(configuration)));

        public IKubernetesGateway For(RunnerEntry runner, string? bearerTokenOverwrite)
        {
            if (string.IsNullOrEmpty(bearerTokenOverwrite))
            {
                return _default.Value;
            }

            var withToken = new KubernetesClientConfiguration
            {
                Host = configuration.Host,
                SslCaCerts = configuration.SslCaCerts,
                SkipTlsVerify = configuration.SkipTlsVerify,
                AccessToken = bearerTokenOverwrite,
            };
            return new ClientGateway(new k8s.Kubernetes(withToken));
        }
    }

    /// <summary>KubernetesClient behind the actors' port: 404 on read/delete is "gone", 409 on create is "exists".</summary>
    private sealed class ClientGateway(k8s.Kubernetes client) : IKubernetesGateway
    {
        public async Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct)
        {
            try
            {
                return await client.CoreV1.CreateNamespacedPodAsync(pod, pod.Namespace(), cancellationToken: ct);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                return await client.CoreV1.ReadNamespacedPodAsync(pod.Name(), pod.Namespace(), cancellationToken: ct);
            }
        }

        public async Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct)
        {
            try
            {
                return await client.CoreV1.CreateNamespacedSecretAsync(secret, secret.Namespace(), cancellationToken: ct);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                return secret;
            }
        }

        public async Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct)
        {
            try
            {
                return await client.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: ct);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }

        public async Task DeletePodAsync(string ns, string name, CancellationToken ct)
        {
            try
            {
                await client.CoreV1.DeleteNamespacedPodAsync(name, ns, cancellationToken: ct);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                // Already gone.
            }
        }

        public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
            [EnumeratorCancellation] CancellationToken ct)
        {
            await foreach (var (type, pod) in client.CoreV1.WatchListNamespacedPodAsync(ns, labelSelector: labelSelector,
                               cancellationToken: ct))
            {
                yield return (type, pod);
            }
        }

        public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
            Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
        {
            try
            {
                return await client.NamespacedPodExecAsync(pod, ns, container, command, false, async (_, stdout, stderr) =>
                {
                    var drainStderr = stderr.CopyToAsync(Stream.Null, ct);
                    var buffer = new byte[16 * 1024];
                    int n;
                    while ((n = await stdout.ReadAsync(buffer, ct)) > 0)
                    {
                        if (onStdout is not null)
                        {
                            await onStdout(buffer.AsMemory(0, n));
                        }
                    }
                    await drainStderr;
                }, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (HttpOperationException)
            {
                throw; // the API refused the exec (no such pod or container): not a dropped connection
            }
            catch (Exception e) when (e is not ExecConnectionLostException)
            {
                // The stream ended without an exit status: the command may still run in the pod.
                throw new ExecConnectionLostException($"exec in {ns}/{pod}/{container} lost its connection: {e.Message}", e);
            }
        }
    }
}
