using k8s;
using k8s.Models;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The gateway calls the job runtime's keys need, against the embedded cluster: a delete's grace period, the pod's
/// Warning events, whether a service account exists, and a job namespace's create and delete.</summary>
public sealed class GatewayRuntimeCallsTests : EmbeddedGatewayTestBase
{
    private static V1Pod SleepingPod(string name, string ns = "default") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 30,
            Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"] }],
        },
    };

    [Fact]
    public async Task A_pod_delete_asks_for_the_given_grace_period_instead_of_the_pod_s_own()
    {
        // The container says when it ignores TERM: a TERM that came before its trap would end it at once, and the pod with it.
        var trapSet = "/tmp/graceful-trap-" + Guid.NewGuid().ToString("N");
        var pod0 = SleepingPod("graceful");
        pod0.Spec.Containers[0].Command = ["sh", "-c", $"trap '' TERM; : >{trapSet}; while :; do sleep 1; done"];
        await Gateway.CreatePodAsync(pod0, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await Gateway.ReadPodAsync("default", "graceful", timeout.Token))?.Status?.Phase != "Running")
        {
            await Task.Delay(100, timeout.Token); // a running pod terminates gracefully; an unstarted one goes at once
        }

        while (await Gateway.ExecAsync("default", "graceful", "main", ["test", "-f", trapSet], null, timeout.Token) != 0)
        {
            await Task.Delay(50, timeout.Token);
        }

        await Gateway.DeletePodAsync("default", "graceful", 7, CancellationToken.None);

        var pod = await Gateway.ReadPodAsync("default", "graceful", CancellationToken.None);
        Assert.Equal(7, pod?.Metadata.DeletionGracePeriodSeconds);
    }

    [Fact]
    public async Task Only_the_pod_s_warning_events_are_listed()
    {
        foreach (var (name, pod, type) in new[] { ("e1", "p1", "Warning"), ("e2", "p1", "Normal"), ("e3", "other", "Warning") })
        {
            await Client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
            {
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
                InvolvedObject = new V1ObjectReference { Kind = "Pod", Name = pod, NamespaceProperty = "default" },
                Type = type,
                Reason = "Test",
                Message = $"{name} about {pod}",
            }, "default");
        }

        var events = await Gateway.ListWarningEventsAsync("default", "p1", 200, CancellationToken.None);

        Assert.Equal(["e1 about p1"], events.Select(e => e.Message));
    }

    [Fact]
    public async Task A_service_account_exists_or_not()
    {
        Assert.True(await Gateway.ServiceAccountExistsAsync("default", "default", CancellationToken.None));
        Assert.False(await Gateway.ServiceAccountExistsAsync("default", "nobody", CancellationToken.None));
    }

    [Fact]
    public async Task A_job_namespace_is_created_once_and_deleted_with_its_pod()
    {
        await Gateway.CreateNamespaceAsync("ci-job-17", CancellationToken.None);
        await Gateway.CreateNamespaceAsync("ci-job-17", CancellationToken.None); // a retry after a lost answer
        await Gateway.CreatePodAsync(SleepingPod("p", "ci-job-17"), CancellationToken.None);

        await Gateway.DeleteNamespaceAsync("ci-job-17", CancellationToken.None);
        await Gateway.DeleteNamespaceAsync("ci-job-17", CancellationToken.None);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await Client.CoreV1.ListNamespaceAsync(cancellationToken: timeout.Token)).Items.Any(n => n.Metadata.Name == "ci-job-17"))
        {
            await Task.Delay(200, timeout.Token);
        }

        await Gateway.DeleteNamespaceAsync("ci-job-17", CancellationToken.None); // gone: still no error
    }
}
