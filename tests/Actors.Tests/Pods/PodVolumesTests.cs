using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodVolumesTests
{
    private static V1Container Container(V1Pod pod, string name) => Assert.Single(pod.Spec.Containers, c => c.Name == name);

    [Theory]
    [InlineData(null, "/builds")]
    [InlineData("/workspace", "/workspace")]
    public void The_builds_volume_is_an_empty_dir_at_builds_dir(string? buildsDir, string expected)
    {
        var pod = TestData.Plan(runner: TestData.Runner(buildsDir: buildsDir)).Pod;

        var repo = Assert.Single(pod.Spec.Volumes, v => v.Name == "repo");
        Assert.NotNull(repo.EmptyDir);
        Assert.Null(repo.EmptyDir.Medium);
        Assert.All(pod.Spec.Containers, c => Assert.Contains(c.VolumeMounts, m => m.Name == "repo" && m.MountPath == expected));
    }

    public static TheoryData<string, VolumesSettings> VolumeKinds => new()
    {
        { "host_path", new VolumesSettings { HostPaths = [new HostPathVolume("cache", "/cache", true, "/srv/cache")] } },
        { "pvc", new VolumesSettings { Pvcs = [new PvcVolume("cache", "/cache", true)] } },
        { "config_map", new VolumesSettings { ConfigMaps = [new ConfigMapVolume("cache", "/cache", true, new Dictionary<string, string> { ["a.conf"] = "conf/a" })] } },
        { "secret", new VolumesSettings { Secrets = [new SecretVolume("cache", "/cache", true, new Dictionary<string, string> { ["tls.crt"] = "certs/tls.crt" })] } },
        { "empty_dir", new VolumesSettings { EmptyDirs = [new EmptyDirVolume("cache", "/cache", "Memory")] } },
    };

    [Theory]
    [MemberData(nameof(VolumeKinds))]
    public void Each_volume_kind_becomes_its_volume_source_and_a_mount_on_every_container(string kind, VolumesSettings volumes)
    {
        var settings = new KubernetesSettings { Volumes = volumes, Services = [new ServiceSettings("redis")] };

        var pod = TestData.Plan(settings).Pod;

        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == "cache");
        switch (kind)
        {
            case "host_path":
                Assert.Equal("/srv/cache", volume.HostPath.Path);
                Assert.Null(volume.HostPath.Type);
                break;
            case "pvc":
                Assert.Equal("cache", volume.PersistentVolumeClaim.ClaimName);
                Assert.True(volume.PersistentVolumeClaim.ReadOnlyProperty);
                break;
            case "config_map":
                Assert.Equal("cache", volume.ConfigMap.Name);
                var cmItem = Assert.Single(volume.ConfigMap.Items);
                Assert.Equal(("a.conf", "conf/a"), (cmItem.Key, cmItem.Path));
                break;
            case "secret":
                Assert.Equal("cache", volume.Secret.SecretName);
                var secretItem = Assert.Single(volume.Secret.Items);
                Assert.Equal(("tls.crt", "certs/tls.crt"), (secretItem.Key, secretItem.Path));
                break;
            case "empty_dir":
                Assert.Equal("Memory", volume.EmptyDir.Medium);
                break;
        }

        var expectReadOnly = kind == "empty_dir" ? (bool?)null : true;
        Assert.All(pod.Spec.Containers, c =>
        {
            var mount = Assert.Single(c.VolumeMounts, m => m.Name == "cache");
            Assert.Equal("/cache", mount.MountPath);
            Assert.Equal(expectReadOnly, mount.ReadOnlyProperty);
        });
    }

    [Theory]
    [InlineData(null, "/data")]
    [InlineData("", "/data")]
    [InlineData("/host/data", "/host/data")]
    public void Host_path_defaults_to_the_mount_path(string? hostPath, string expected)
    {
        var settings = new KubernetesSettings { Volumes = new VolumesSettings { HostPaths = [new HostPathVolume("data", "/data", false, hostPath)] } };

        var pod = TestData.Plan(settings).Pod;

        Assert.Equal(expected, Assert.Single(pod.Spec.Volumes, v => v.Name == "data").HostPath.Path);
        Assert.Null(Assert.Single(Container(pod, "build").VolumeMounts, m => m.Name == "data").ReadOnlyProperty);
    }

    [Fact]
    public void Items_are_omitted_when_none_and_the_medium_when_empty()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings
            {
                ConfigMaps = [new ConfigMapVolume("cm", "/cm", false, new Dictionary<string, string>())],
                Secrets = [new SecretVolume("sec", "/sec", false, new Dictionary<string, string>())],
                EmptyDirs = [new EmptyDirVolume("scratch", "/scratch", "")],
            },
        };

        var pod = TestData.Plan(settings).Pod;

        Assert.Null(Assert.Single(pod.Spec.Volumes, v => v.Name == "cm").ConfigMap.Items);
        Assert.Null(Assert.Single(pod.Spec.Volumes, v => v.Name == "sec").Secret.Items);
        Assert.Null(Assert.Single(pod.Spec.Volumes, v => v.Name == "scratch").EmptyDir.Medium);
    }

    [Fact]
    public void Volumes_come_in_kind_order_after_the_builds_volume()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings
            {
                EmptyDirs = [new EmptyDirVolume("e", "/e", "")],
                ConfigMaps = [new ConfigMapVolume("c", "/c", false, new Dictionary<string, string>())],
                Pvcs = [new PvcVolume("p", "/p", false)],
                Secrets = [new SecretVolume("s", "/s", false, new Dictionary<string, string>())],
                HostPaths = [new HostPathVolume("h1", "/h1", false, null), new HostPathVolume("h2", "/h2", false, null)],
            },
        };

        var pod = TestData.Plan(settings).Pod;

        Assert.Equal(["repo", "h1", "h2", "s", "p", "c", "e", JobSecretLayout.VolumeName], pod.Spec.Volumes.Select(v => v.Name));
        Assert.Equal(["repo", "h1", "h2", "s", "p", "c", "e", JobSecretLayout.VolumeName], Container(pod, "build").VolumeMounts.Select(m => m.Name));
    }

    public static TheoryData<VolumesSettings> VolumesAtBuildsDir => new()
    {
        new VolumesSettings { HostPaths = [new HostPathVolume("shared", "/builds", false, "/srv/builds")] },
        new VolumesSettings { Pvcs = [new PvcVolume("shared", "/builds", false)] },
        new VolumesSettings { EmptyDirs = [new EmptyDirVolume("shared", "/builds/", "Memory")] },
        new VolumesSettings { ConfigMaps = [new ConfigMapVolume("shared", "/builds", false, new Dictionary<string, string>())] },
        new VolumesSettings { Secrets = [new SecretVolume("shared", "/builds", false, new Dictionary<string, string>())] },
    };

    [Theory]
    [MemberData(nameof(VolumesAtBuildsDir))]
    public void A_configured_volume_at_builds_dir_replaces_the_builds_volume(VolumesSettings volumes)
    {
        var pod = TestData.Plan(new KubernetesSettings { Volumes = volumes }).Pod;

        Assert.DoesNotContain(pod.Spec.Volumes, v => v.Name == "repo");
        Assert.Contains(pod.Spec.Volumes, v => v.Name == "shared");
        Assert.Single(Container(pod, "build").VolumeMounts, m => m.MountPath.TrimEnd('/') == "/builds");
    }

    [Fact]
    public void A_volume_below_builds_dir_does_not_replace_it()
    {
        var settings = new KubernetesSettings { Volumes = new VolumesSettings { Pvcs = [new PvcVolume("sub", "/builds/cache", false)] } };

        Assert.Contains(TestData.Plan(settings).Pod.Spec.Volumes, v => v.Name == "repo");
    }

    [Fact]
    public void The_job_secret_is_mounted_read_only_in_build_and_helper_only()
    {
        var pod = TestData.Plan(new KubernetesSettings { Services = [new ServiceSettings("redis")] }).Pod;

        var volume = Assert.Single(pod.Spec.Volumes, v => v.Name == JobSecretLayout.VolumeName);
        Assert.Equal(pod.Metadata.Name + "-job", volume.Secret.SecretName);
        foreach (var name in new[] { "build", "helper" })
        {
            var mount = Assert.Single(Container(pod, name).VolumeMounts, m => m.Name == JobSecretLayout.VolumeName);
            Assert.Equal((JobSecretLayout.MountPath, (bool?)true), (mount.MountPath, mount.ReadOnlyProperty));
        }

        Assert.DoesNotContain(Container(pod, "svc-0").VolumeMounts, m => m.Name == JobSecretLayout.VolumeName);
    }

    [Theory]
    [InlineData("repo")]
    [InlineData(JobSecretLayout.VolumeName)]
    [InlineData("___")]
    public void Reserved_or_invalid_volume_names_are_refused(string name)
    {
        var settings = new KubernetesSettings { Volumes = new VolumesSettings { Pvcs = [new PvcVolume(name, "/data", false)] } };

        Assert.Contains(name, TestData.Refusal(settings));
    }

    [Theory]
    [InlineData("empty_dir", "emptydir")]
    [InlineData("Cache.Dir", "cachedir")]
    public void A_volume_name_that_is_not_a_label_is_converted_and_the_object_keeps_its_name(string configured, string expected)
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings { ConfigMaps = [new ConfigMapVolume(configured, "/cm", false, new Dictionary<string, string>())] },
        };

        var pod = TestData.Plan(settings).Pod;

        var volume = Assert.Single(pod.Spec.Volumes, v => v.ConfigMap is not null);
        Assert.Equal((expected, configured), (volume.Name, volume.ConfigMap.Name));
        Assert.Contains(Container(pod, "build").VolumeMounts, m => m.Name == expected && m.MountPath == "/cm");
    }

    [Fact]
    public void Duplicate_volume_names_across_kinds_are_refused()
    {
        var settings = new KubernetesSettings
        {
            Volumes = new VolumesSettings { Pvcs = [new PvcVolume("data", "/a", false)], EmptyDirs = [new EmptyDirVolume("data", "/b", "")] },
        };

        Assert.Contains("twice", TestData.Refusal(settings));
    }
}
