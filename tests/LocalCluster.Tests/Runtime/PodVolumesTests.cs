using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class PodVolumesTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "volume-tests-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static V1Pod PodWith(params V1Volume[] volumes) => new()
    {
        Metadata = new V1ObjectMeta { Name = "p", NamespaceProperty = "ci", Uid = Guid.NewGuid().ToString() },
        Spec = new V1PodSpec { Containers = [], Volumes = volumes },
    };

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Secret_items_select_keys_and_apply_modes()
    {
        var host = new FakePodHost();
        host.Secrets[("ci", "s")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["a"] = "A"u8.ToArray(), ["b"] = "B"u8.ToArray() } };
        var volume = new V1Volume { Name = "v", Secret = new V1SecretVolumeSource { SecretName = "s", Items = [new V1KeyToPath { Key = "a", Path = "x/y/a.txt", Mode = 256 }] } };

        var setup = PodVolumes.Prepare(PodWith(volume), host, Path.Combine(_dir, "pod"), _dir);

        Assert.Null(setup.Error);
        var root = setup.HostPaths!["v"];
        Assert.Equal("A", File.ReadAllText(Path.Combine(root, "x/y/a.txt")));
        Assert.False(File.Exists(Path.Combine(root, "b")));
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(Path.Combine(root, "x/y/a.txt")));
    }

    [Theory]
    [InlineData("secret", "MountVolume.SetUp failed for volume \"v\" : secret references non-existent secret key: nope")]
    [InlineData("configmap", "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: nope")]
    [InlineData("escape", "MountVolume.SetUp failed for volume \"v\" : invalid path ../out: must be relative and may not contain '..'")]
    [InlineData("claim", "MountVolume.SetUp failed for volume \"v\" : persistentvolumeclaim \"data\" not found")]
    [InlineData("hostfile", "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: /definitely/not/here is not a file")]
    public void Volumes_that_cannot_be_set_up_say_why(string scenario, string expected)
    {
        var host = new FakePodHost();
        host.Secrets[("ci", "s")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["a"] = [] } };
        host.ConfigMaps[("ci", "c")] = new V1ConfigMap { Data = new Dictionary<string, string> { ["a"] = "" } };
        var volume = scenario switch
        {
            "secret" => new V1Volume { Name = "v", Secret = new V1SecretVolumeSource { SecretName = "s", Items = [new V1KeyToPath { Key = "nope", Path = "n" }] } },
            "configmap" => new V1Volume { Name = "v", ConfigMap = new V1ConfigMapVolumeSource { Name = "c", Items = [new V1KeyToPath { Key = "nope", Path = "n" }] } },
            "escape" => new V1Volume { Name = "v", ConfigMap = new V1ConfigMapVolumeSource { Name = "c", Items = [new V1KeyToPath { Key = "a", Path = "../out" }] } },
            "claim" => new V1Volume { Name = "v", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = "data" } },
            _ => new V1Volume { Name = "v", HostPath = new V1HostPathVolumeSource { Path = "/definitely/not/here", Type = "File" } },
        };

        var setup = PodVolumes.Prepare(PodWith(volume), host, Path.Combine(_dir, "pod"), _dir);

        Assert.Equal(expected, setup.Error);
        Assert.Null(setup.HostPaths);
    }

    [Theory]
    [InlineData("registry.example/missing*", "registry.example/missing/app:1", true)]
    [InlineData("*:broken", "alpine:broken", true)]
    [InlineData("alpine:?", "alpine:3", true)]
    [InlineData("alpine:?", "alpine:3.19", false)]
    [InlineData("alpine", "alpine:3", false)]
    public void Missing_image_globs(string pattern, string image, bool matches) =>
        Assert.Equal(matches, LocalPod.GlobMatches(pattern, image));

    [Theory]
    [InlineData(null, null, null, null, "BestEffort")]
    [InlineData("1", "1Gi", "1", "1Gi", "Guaranteed")]
    [InlineData(null, null, "1", "1Gi", "Guaranteed")]
    [InlineData("500m", null, "1", "1Gi", "Burstable")]
    [InlineData("100m", null, null, null, "Burstable")]
    public void Qos_class(string? cpuRequest, string? memoryRequest, string? cpuLimit, string? memoryLimit, string expected)
    {
        static Dictionary<string, ResourceQuantity>? Map(string? cpu, string? memory)
        {
            var map = new Dictionary<string, ResourceQuantity>();
            if (cpu is not null) map["cpu"] = new ResourceQuantity(cpu);
            if (memory is not null) map["memory"] = new ResourceQuantity(memory);
            return map.Count == 0 ? null : map;
        }
        var pod = PodWith();
        pod.Spec.Containers = [new V1Container { Name = "c", Resources = new V1ResourceRequirements { Requests = Map(cpuRequest, memoryRequest), Limits = Map(cpuLimit, memoryLimit) } }];

        Assert.Equal(expected, PodQos.ClassOf(pod));
    }
}
