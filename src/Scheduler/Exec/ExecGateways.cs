using k8s;
using Scheduler.Actors.Execution;
using Scheduler.Kubernetes;

namespace Scheduler.Exec;

/// <summary>The Kubernetes port for exec's one connection: every runner entry uses it, a job's bearer-token overwrite
/// gets a client of its own; all share one client-side rate limit.</summary>
public static class ExecGateways
{
    public static IKubernetesGatewayFactory Create(KubernetesClientConfiguration configuration) =>
        new KubernetesGatewayFactory((_, token) => string.IsNullOrEmpty(token) ? configuration : WithToken(configuration, token),
            ApiRateLimiter.Default());

    private static KubernetesClientConfiguration WithToken(KubernetesClientConfiguration configuration, string token) => new()
    {
        Host = configuration.Host,
        SslCaCerts = configuration.SslCaCerts,
        SkipTlsVerify = configuration.SkipTlsVerify,
        TlsServerName = configuration.TlsServerName,
        AccessToken = token,
    };
}
