using k8s;
using k8s.Models;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>Grace periods, container_lifecycle, the volume options GitLab Runner added, config service options and
/// use_service_account_image_pull_secrets.</summary>
public sealed class PodLifecycleTests
{
    [Theory]
    [InlineData(null, null, null)]
    [InlineData(null, 30L, 30L)]
    [InlineData(10L, null, 10L)]
    // The deprecated terminationGracePeriodSeconds wins, as in GitLab Runner.
    [InlineData(10L, 30L, 10L)]
    public void Termination_grace_period(long? deprecated, long? podTermination, long? expected)
    {
        var settings = new KubernetesSettings { TerminationGracePeriodSeconds = deprecated, PodTerminationGracePeriodSeconds = podTermination };

        Assert.Equal(expected, TestData.Plan(settings).Pod.Spec.TerminationGracePeriodSeconds);
    }

    [Fact]
    public void Container_lifecycle_of_the_documentation_example_is_on_every_container()
    {
        var settings = new KubernetesSettings
        {
            ContainerLifecycle = new ContainerLifecycleSettings(
                new LifecycleHandlerSettings(["touch", "/builds/postStart.txt"], null, null),
                new LifecycleHandlerSettings(null,
                    new HttpGetSettings("localhost", 8080, "/test", "HTTP", [new("header_name_1", "header_value_1")]), null)),
            Services = [new ServiceSettings("redis:7")],
        };

        var containers = TestData.Plan(settings).Pod.Spec.Containers;

        Assert.Equal(3, containers.Count);
        Assert.All(containers, c => JsonAssert.Equal("""
            {"postStart":{"exec":{"command":["touch","/builds/postStart.txt"]}},
             "preStop":{"httpGet":{"host":"localhost","httpHeaders":[{"name":"header_name_1","value":"header_value_1"}],
                                   "path":"/test","port":8080,"scheme":"HTTP"}}}
            """, KubernetesJson.Serialize(c.Lifecycle)));
    }

    [Fact]
    public void Tcp_socket_hook_and_no_hooks()
    {
        var settings = new KubernetesSettings
        {
            ContainerLifecycle = new ContainerLifecycleSettings(null, new LifecycleHandlerSettings(null, null, new TcpSocketSettings(null, 5432))),
        };

        JsonAssert.Equal("""{"preStop":{"tcpSocket":{"port":5432}}}""",
            KubernetesJson.Serialize(TestData.Plan(settings).Pod.Spec.Containers[0].Lifecycle));
        Assert.Null(TestData.Plan().Pod.Spec.Containers[0].Lifecycle);
    }

    private static V1Volume Volume(V1Pod pod, string name) => Assert.Single(pod.Spec.Volumes, v => v.Name == name);
    private static V1VolumeMount Mount(V1Pod pod, string name) => Assert.Single(pod.Spec.Containers[0].VolumeMounts, m => m.Name == name);

    [Fact]
    public void Csi_volume_of_the_documentation_example()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings
            {
                Csis = [new CsiVolume("my-csi-volume", "/path/to/csi/volume", true, "my-csi-driver", "ext4",
                    new Dictionary<string, string> { ["key1"] = "value1" }) { Mount = new MountOptions(SubPath: "sub") }],
            },
        };

        var pod = TestData.Plan(settings).Pod;

        JsonAssert.Equal("""
            {"csi":{"driver":"my-csi-driver","fsType":"ext4","readOnly":true,"volumeAttributes":{"key1":"value1"}},"name":"my-csi-volume"}
            """, KubernetesJson.Serialize(Volume(pod, "my-csi-volume")));
        JsonAssert.Equal("""{"mountPath":"/path/to/csi/volume","name":"my-csi-volume","readOnly":true,"subPath":"sub"}""",
            KubernetesJson.Serialize(Mount(pod, "my-csi-volume")));
    }

    [Fact]
    public void Nfs_volume()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings { Nfs = [new NfsVolume("nfs-volume", "/mnt/nfs", true, "nfs.example.com", "/exports/ci")] },
        };

        var pod = TestData.Plan(settings).Pod;

        JsonAssert.Equal("""{"name":"nfs-volume","nfs":{"path":"/exports/ci","readOnly":true,"server":"nfs.example.com"}}""",
            KubernetesJson.Serialize(Volume(pod, "nfs-volume")));
        Assert.True(Mount(pod, "nfs-volume").ReadOnlyProperty);
    }

    [Fact]
    public void Empty_dir_size_limit_sub_path_and_mount_propagation()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings
            {
                EmptyDirs = [new EmptyDirVolume("scratch", "/scratch", "Memory") { SizeLimit = "1Gi", Mount = new MountOptions("data", "HostToContainer") }],
                HostPaths = [new HostPathVolume("docker", "/var/run/docker.sock", false, null) { Mount = new MountOptions(null, "Bidirectional") }],
            },
        };

        var pod = TestData.Plan(settings).Pod;

        JsonAssert.Equal("""{"emptyDir":{"medium":"Memory","sizeLimit":"1Gi"},"name":"scratch"}""", KubernetesJson.Serialize(Volume(pod, "scratch")));
        JsonAssert.Equal("""{"mountPath":"/scratch","mountPropagation":"HostToContainer","name":"scratch","subPath":"data"}""",
            KubernetesJson.Serialize(Mount(pod, "scratch")));
        Assert.Equal("Bidirectional", Mount(pod, "docker").MountPropagation);
    }

    [Theory]
    [InlineData("pvc-$CI_CONCURRENT_ID", 3, "pvc-3")]
    [InlineData("cache-${CACHE_NAME}", 0, "cache-shared")]
    [InlineData("plain", 0, "plain")]
    public void Pvc_names_are_expanded_with_job_and_runner_variables(string configured, int concurrentId, string expected)
    {
        var settings = new KubernetesSettings { Volumes = new VolumesSettings { Pvcs = [new PvcVolume(configured, "/cache", false)] } };
        var job = TestData.Job([TestData.Public("CACHE_NAME", "shared")]);

        var pod = TestData.Plan(settings, job, concurrentId: concurrentId).Pod;

        var volume = Volume(pod, expected);
        Assert.Equal(expected, volume.PersistentVolumeClaim.ClaimName);
        Assert.Equal("/cache", Mount(pod, expected).MountPath);
    }

    [Fact]
    public void A_pvc_name_that_refers_to_a_secret_or_expands_to_an_invalid_name_is_refused()
    {
        PvcVolume[] pvcs = [new PvcVolume("pvc-$TOKEN", "/cache", false)];
        var refusal = TestData.Refusal(new KubernetesSettings { Volumes = new VolumesSettings { Pvcs = pvcs } },
            TestData.Job([TestData.Hidden("TOKEN", "s3cr3t")]));
        Assert.Contains("TOKEN", refusal);
        Assert.DoesNotContain("s3cr3t", refusal);

        pvcs = [new PvcVolume("pvc-$UNSET_", "/cache", false)];
        Assert.Contains("is not a valid PersistentVolumeClaim name",
            TestData.Refusal(new KubernetesSettings { Volumes = new VolumesSettings { Pvcs = pvcs } }));
    }

    [Fact]
    public void Mount_paths_and_sub_paths_are_expanded_and_a_mount_at_the_expanded_builds_dir_replaces_the_repo_volume()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings
            {
                Pvcs = [new PvcVolume("builds", "$CI_BUILDS_DIR", false) { Mount = new MountOptions("slot-$CI_CONCURRENT_ID") }],
                EmptyDirs = [new EmptyDirVolume("scratch", "/scratch/${PROJECT}", "")],
            },
        };

        var pod = TestData.Plan(settings, TestData.Job([TestData.Public("PROJECT", "proj")]), concurrentId: 2).Pod;

        JsonAssert.Equal("""{"mountPath":"/builds","name":"builds","subPath":"slot-2"}""", KubernetesJson.Serialize(Mount(pod, "builds")));
        Assert.Equal("/scratch/proj", Mount(pod, "scratch").MountPath);
        Assert.DoesNotContain(pod.Spec.Volumes, v => v.Name == "repo");
    }

    [Fact]
    public void Service_account_image_pull_secrets_leave_the_pod_without_pull_secrets()
    {
        var credentials = new[] { new JobCredential { Type = "registry", Url = "registry.example.com", Username = "u", Password = "p" } };
        var settings = new KubernetesSettings { ImagePullSecrets = ["registry-credentials"], UseServiceAccountImagePullSecrets = true };

        var plan = TestData.Plan(settings, TestData.Job(credentials: credentials));

        Assert.Null(plan.Pod.Spec.ImagePullSecrets);
        Assert.Null(plan.RegistrySecret);
        Assert.Equal(2, TestData.Plan(settings with { UseServiceAccountImagePullSecrets = false }, TestData.Job(credentials: credentials))
            .Pod.Spec.ImagePullSecrets.Count);
    }

    [Fact]
    public void Config_service_alias_command_entrypoint_and_environment_reach_the_container()
    {
        var settings = new KubernetesSettings
        {
            Services =
            [
                new ServiceSettings("docker:dind")
                {
                    Alias = "docker", Entrypoint = ["dockerd-entrypoint.sh"], Command = ["--tls=false"], Environment = ["DOCKER_TLS_CERTDIR="],
                },
            ],
        };

        var pod = TestData.Plan(settings).Pod;

        var service = Assert.Single(pod.Spec.Containers, c => c.Name == "svc-0");
        Assert.Equal(["dockerd-entrypoint.sh"], service.Command);
        Assert.Equal(["--tls=false"], service.Args);
        Assert.Contains(service.Env, e => e is { Name: "DOCKER_TLS_CERTDIR", Value: "" });
        Assert.Contains("docker", pod.Spec.HostAliases[0].Hostnames);
    }
}
