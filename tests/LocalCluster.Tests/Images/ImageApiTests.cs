using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Xunit.Abstractions;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>Image pulls as a Kubernetes client sees them: container statuses through the API and events in <c>kubectl describe</c>.</summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageApiTests(TestRegistry registry, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "image-api-tests-" + Guid.NewGuid().ToString("N"));
    private LocalClusterServer _server = null!;
    private Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await LocalClusterServer.StartAsync(new LocalClusterOptions
        {
            StateDir = _stateDir,
            Node = new NodeSettings { UseImages = true },
            RuntimeFactory = (node, host) => new ProcessPodRuntime(node, host),
        });
        _client = new Kubernetes(_server.ClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static V1Pod Pod(string name, string image) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1PodSpec
        {
            RestartPolicy = "Never",
            TerminationGracePeriodSeconds = 1,
            Containers = [new V1Container { Name = "main", Image = image, Command = ["sh", "-c", "cat /marker; sleep 30"] }],
        },
    };

    private async Task<V1Pod> WaitAsync(string name, Func<V1ContainerStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var pod = await _client.CoreV1.ReadNamespacedPodAsync(name, "default");
            if (pod.Status?.ContainerStatuses?.FirstOrDefault() is { } status && condition(status)) return pod;
            if (DateTime.UtcNow > deadline) throw new TimeoutException(KubernetesJson.Serialize(pod.Status));
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Describe_shows_the_pull_events_and_the_status_the_image_digest()
    {
        await _client.CoreV1.CreateNamespacedPodAsync(Pod("good", registry.ImageA), "default");
        await _client.CoreV1.CreateNamespacedPodAsync(Pod("missing", $"{registry.OpenHost}/test/missing:1"), "default");

        var good = await WaitAsync("good", s => s.State?.Running is not null);
        var missing = await WaitAsync("missing", s => s.State?.Waiting?.Reason == "ImagePullBackOff");

        Assert.StartsWith($"{registry.OpenHost}/test/a@sha256:", good.Status.ContainerStatuses[0].ImageID);
        Assert.Equal("IfNotPresent", good.Spec.Containers[0].ImagePullPolicy);
        Assert.Equal($"Back-off pulling image \"{registry.OpenHost}/test/missing:1\"", missing.Status.ContainerStatuses[0].State.Waiting.Message);

        var kubectl = Kubectl.Find();
        if (kubectl is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") is null, "kubectl is not on PATH: CI must have it for this test");
            output.WriteLine("kubectl is not on PATH; describe not checked");
            return;
        }
        var describeGood = await Kubectl.RunAsync(kubectl, _server.KubeconfigPath, null, "describe", "pod", "good");
        var describeMissing = await Kubectl.RunAsync(kubectl, _server.KubeconfigPath, null, "describe", "pod", "missing");
        output.WriteLine(describeMissing.Stdout);

        Assert.Equal(0, describeGood.ExitCode);
        Assert.Matches($"Pulling .*Pulling image \"{registry.ImageA}\"", describeGood.Stdout);
        Assert.Matches($"Pulled .*Successfully pulled image \"{registry.ImageA}\"", describeGood.Stdout);
        Assert.Matches("Failed .*Failed to pull image .*not found", describeMissing.Stdout);
        Assert.Matches("Failed .*Error: ErrImagePull", describeMissing.Stdout);
        Assert.Matches("BackOff .*Back-off pulling image", describeMissing.Stdout);
        Assert.Matches("Failed .*Error: ImagePullBackOff", describeMissing.Stdout);
    }
}
