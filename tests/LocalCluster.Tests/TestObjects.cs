using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Scheduler.LocalCluster.Tests;

internal static class TestObjects
{
    public static V1Pod Pod(string name, IDictionary<string, string>? labels = null, params string[] containers) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels },
        Spec = new V1PodSpec
        {
            Containers = (containers.Length == 0 ? ["main"] : containers)
                .Select(c => new V1Container { Name = c, Image = "busybox:1.36", Command = ["sh", "-c", "sleep 3600"] }).ToList(),
        },
    };

    public static V1Secret Secret(string name, V1OwnerReference? owner = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, OwnerReferences = owner is null ? null : [owner] },
        StringData = new Dictionary<string, string> { ["token"] = "s3cr3t" },
    };

    /// <summary>The metav1.Status of a failed call.</summary>
    public static async Task<(HttpStatusCode Code, JsonObject Status)> FailureOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(call);
        return (e.Response.StatusCode, JsonNode.Parse(e.Response.Content)!.AsObject());
    }

    public static async Task<V1Pod> WaitForPhase(k8s.Kubernetes client, string name, string phase, string ns = "default")
    {
        for (var i = 0; i < 200; i++)
        {
            var pod = await client.CoreV1.ReadNamespacedPodAsync(name, ns);
            if (pod.Status?.Phase == phase) return pod;
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {name} never reached {phase}");
    }

    public static async Task WaitUntilGone(k8s.Kubernetes client, string name, string ns = "default")
    {
        for (var i = 0; i < 200; i++)
        {
            try
            {
                await client.CoreV1.ReadNamespacedPodAsync(name, ns);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                return;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {name} was never removed");
    }
}
