using k8s;

namespace Scheduler.LocalCluster.Tests;

/// <summary>The kubeconfig the server writes works for KubernetesClient as well as for kubectl.</summary>
public sealed class KubeconfigTests
{
    [Fact]
    public async Task KubernetesClient_accepts_the_written_kubeconfig()
    {
        await using var cluster = await TestCluster.StartAsync();

        var configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(cluster.Server.KubeconfigPath);
        using var client = new Kubernetes(configuration);
        var namespaces = await client.CoreV1.ListNamespaceAsync();

        Assert.Equal("default", configuration.Namespace);
        Assert.Contains(namespaces.Items, ns => ns.Metadata.Name == "kube-system");
    }
}
