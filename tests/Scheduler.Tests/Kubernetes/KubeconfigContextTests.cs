using Scheduler.Kubernetes;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary><c>context</c> in <c>[runners.kubernetes]</c> picks a kubeconfig context other than the current one.</summary>
public sealed class KubeconfigContextTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private string TwoContexts() => _directory.Write("kubeconfig", """
        apiVersion: v1
        kind: Config
        clusters:
        - name: near
          cluster:
            server: https://near.example:6443
            insecure-skip-tls-verify: true
        - name: far
          cluster:
            server: https://far.example:6443
            insecure-skip-tls-verify: true
        users:
        - name: near-user
          user:
            token: near-token
        - name: far-user
          user:
            token: far-token
        contexts:
        - name: near-context
          context:
            cluster: near
            user: near-user
        - name: far-context
          context:
            cluster: far
            user: far-user
            namespace: far-ns
        current-context: near-context
        """);

    private KubernetesEnvironment Environment() =>
        new(new Dictionary<string, string>(), Path.Combine(_directory.Path, "empty-home"), Path.Combine(_directory.Path, "serviceaccount"));

    [Theory]
    [InlineData(null, "https://near.example:6443", "near-token", "near-context")]
    [InlineData("", "https://near.example:6443", "near-token", "near-context")]
    [InlineData("far-context", "https://far.example:6443", "far-token", "far-context")]
    public void The_named_context_is_used_instead_of_the_current_one(string? context, string host, string token, string described)
    {
        var path = TwoContexts();

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings { Context = context }, Environment(), path);

        Assert.Null(connection.Error);
        Assert.Equal(host, connection.Configuration!.Host);
        Assert.Equal(token, connection.Configuration.AccessToken);
        Assert.Contains($"context {described}", connection.Description);
    }

    [Fact]
    public void A_context_the_kubeconfig_does_not_have_is_an_error_naming_it()
    {
        var path = TwoContexts();

        var connection = KubernetesConnectionResolver.Resolve(new KubernetesSettings { Context = "missing-context" }, Environment(), path);

        Assert.False(connection.IsConfigured);
        Assert.Contains("missing-context", connection.Error);
    }
}
