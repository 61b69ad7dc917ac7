using System.Text;
using k8s;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Kubernetes;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The fleet's calls of the real gateway against the embedded cluster: the resourceVersion-conditional claim,
/// the label-selector LIST and the Secret read.</summary>
public sealed class ClaimPodTests : EmbeddedGatewayTestBase
{
    private static V1Pod JobPod(string name, string jobId, string owner) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = "default",
            Labels = new Dictionary<string, string> { [PodMetadata.JobIdLabel] = jobId },
            Annotations = new Dictionary<string, string> { [PodMetadata.OwnerAnnotation] = owner, [PodMetadata.StartedViaAnnotation] = "host-a" },
        },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 1,
            Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"] }],
        },
    };

    // Running and ready: the runtime has nothing more to write into its status, so its resourceVersion stays put.
    private async Task<V1Pod> SettledPodAsync(string name)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var pod = await Gateway.ReadPodAsync("default", name, timeout.Token);
            if (pod?.Status?.Phase == "Running" && (pod.Status.ContainerStatuses ?? []).All(c => c.Ready))
            {
                return pod;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    [Fact]
    public async Task A_claim_with_the_current_resource_version_wins_and_one_with_the_old_version_loses()
    {
        await Gateway.CreatePodAsync(JobPod("claimed", "7", "node-a"), CancellationToken.None);
        var before = await SettledPodAsync("claimed");

        var claimed = await Gateway.ClaimPodAsync("default", "claimed", before.Metadata.ResourceVersion, "node-b", CancellationToken.None);

        Assert.NotNull(claimed);
        Assert.Equal("node-b", claimed.Metadata.Annotations[PodMetadata.OwnerAnnotation]);
        Assert.Equal("host-a", claimed.Metadata.Annotations[PodMetadata.StartedViaAnnotation]);
        Assert.NotEqual(before.Metadata.ResourceVersion, claimed.Metadata.ResourceVersion);
        var read = await Gateway.ReadPodAsync("default", "claimed", CancellationToken.None);
        Assert.Equal("node-b", read!.Metadata.Annotations[PodMetadata.OwnerAnnotation]);

        // A second node that read the pod before the claim cannot take it with what it read.
        var late = await Gateway.ClaimPodAsync("default", "claimed", before.Metadata.ResourceVersion, "node-c", CancellationToken.None);

        Assert.Null(late);
        read = await Gateway.ReadPodAsync("default", "claimed", CancellationToken.None);
        Assert.Equal("node-b", read!.Metadata.Annotations[PodMetadata.OwnerAnnotation]);
        Assert.Null(await Gateway.ClaimPodAsync("default", "nobody-here", "1", "node-c", CancellationToken.None));
    }

    [Fact]
    public async Task Job_pods_are_listed_by_label_selector()
    {
        await Gateway.CreatePodAsync(JobPod("job-one", "1", "node-a"), CancellationToken.None);
        await Gateway.CreatePodAsync(JobPod("job-two", "2", "node-b"), CancellationToken.None);
        var other = JobPod("not-a-job", "0", "node-a");
        other.Metadata.Labels = new Dictionary<string, string> { ["app"] = "web" };
        await Gateway.CreatePodAsync(other, CancellationToken.None);

        var jobs = await Gateway.ListPodsAsync("default", PodMetadata.JobIdLabel, CancellationToken.None);
        var two = await Gateway.ListPodsAsync("default", PodMetadata.JobIdLabel + "=2", CancellationToken.None);

        Assert.Equal(["job-one", "job-two"], jobs.Select(p => p.Metadata.Name).Order());
        Assert.Equal("job-two", Assert.Single(two).Metadata.Name);
        Assert.All(jobs, p => Assert.False(string.IsNullOrEmpty(p.Metadata.ResourceVersion)));
        Assert.Empty(await Gateway.ListPodsAsync("other-namespace", PodMetadata.JobIdLabel, CancellationToken.None));
    }

    [Fact]
    public async Task The_job_secret_is_read_back_with_its_payload_and_a_missing_one_is_null()
    {
        var payload = """{"id":7,"token":"t"}""";
        await Gateway.CreateSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "job-7-job", NamespaceProperty = "default" },
            Type = "Opaque",
            Data = new Dictionary<string, byte[]> { [JobSecretLayout.PayloadKey] = Encoding.UTF8.GetBytes(payload) },
        }, CancellationToken.None);

        var secret = await Gateway.ReadSecretAsync("default", "job-7-job", CancellationToken.None);

        Assert.NotNull(secret);
        Assert.Equal(payload, Encoding.UTF8.GetString(secret.Data[JobSecretLayout.PayloadKey]));
        Assert.Null(await Gateway.ReadSecretAsync("default", "no-such-secret", CancellationToken.None));
    }
}
