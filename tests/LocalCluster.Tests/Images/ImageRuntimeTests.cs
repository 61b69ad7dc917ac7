using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Tests.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>Containers run in their images, pulled from a registry on loopback, as kubelet would run them.</summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageRuntimeTests(TestRegistry registry) : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "image-runtime-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public Task InitializeAsync()
    {
        // The "root" container of the rules test asks for root: this node allows it.
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir, UseImages = true, AllowRootContainers = true }, _host);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static V1Container In(string image, string name, string script, params V1VolumeMount[] mounts) =>
        new() { Name = name, Image = image, Command = ["sh", "-c", script], VolumeMounts = mounts };

    private async Task<string> LogsAsync(string pod, string? container = null)
    {
        using var output = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _runtime.StreamLogAsync("ci", pod, new PodLogOptions { Container = container }, output, timeout.Token);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    private Task<V1PodStatus> CompletedAsync(string pod) =>
        _host.WaitForStatusAsync(pod, s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 60);

    [Fact]
    public async Task A_container_sees_its_image_and_not_the_host_and_shares_emptyDir_with_a_host_container()
    {
        var hostOnly = Path.Combine(Path.GetTempPath(), "host-only-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(hostOnly, "host");
        try
        {
            var pod = Pod("in-image",
                    In("scheduler:test", "helper", "echo from-host-container > /shared/note", Mount("shared", "/shared")),
                    In(registry.ImageA, "main",
                        "while [ ! -e /shared/note ]; do sleep 0.1; done; cat /marker; grep ^ID= /etc/os-release; " +
                        $"test -e {hostOnly} && echo host-file-visible || echo host-file-hidden; echo FOO=$FOO; pwd; cat /shared/note; " +
                        "grep -c in-image /etc/hosts",
                        Mount("shared", "/shared")))
                .WithVolumes(new V1Volume { Name = "shared", EmptyDir = new V1EmptyDirVolumeSource() });

            _runtime.PodCreated(pod);
            var final = await CompletedAsync("in-image");

            var log = await LogsAsync("in-image", "main");
            Assert.True(final.Phase == "Succeeded", log + string.Join("\n", _host.Events("in-image")));
            Assert.Equal(["image-a", "ID=scheduler-test-a", "host-file-hidden", "FOO=from-image", "/work", "from-host-container", "1"],
                log.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"{registry.OpenHost}/test/a@sha256:", final.Container("main").ImageID);
            Assert.Contains(_host.Events("in-image"), e => e.Reason == "Pulled" && e.Message.Contains("is the runner's own install"));
            Assert.Contains(_host.Events("in-image"), e => e.Reason == "Pulling" && e.Message.Contains(registry.ImageA));
            Assert.Contains(_host.Events("in-image"), e => e.Reason == "Pulled" && e.Message.StartsWith($"Successfully pulled image \"{registry.ImageA}\""));
        }
        finally
        {
            File.Delete(hostOnly);
        }
    }

    [Fact]
    public async Task Entrypoint_cmd_env_and_user_of_the_image_apply_with_Kubernetes_rules()
    {
        _runtime.PodCreated(Pod("rules",
            new V1Container { Name = "defaults", Image = registry.ImageB },
            new V1Container { Name = "args", Image = registry.ImageB, Args = ["a1", "a2"] },
            new V1Container { Name = "command", Image = registry.ImageB, Command = ["sh", "-c", "echo command:$GREETING:$(id -u)"],
                Env = [new V1EnvVar { Name = "GREETING", Value = "from-spec" }] },
            new V1Container { Name = "root", Image = registry.ImageB, WorkingDir = "/tmp",
                SecurityContext = new V1SecurityContext { RunAsUser = 0, RunAsGroup = 0 } }));

        var final = await CompletedAsync("rules");

        Assert.True(final.Phase == "Succeeded", string.Join("\n", _host.Events("rules")));
        Assert.Equal("entry:from-cmd:second user:1000:1000 dir:/ greeting:hello-from-b\n", await LogsAsync("rules", "defaults"));
        Assert.Equal("entry:a1:a2 user:1000:1000 dir:/ greeting:hello-from-b\n", await LogsAsync("rules", "args"));
        Assert.Equal("command:from-spec:1000\n", await LogsAsync("rules", "command"));
        Assert.Equal("entry:from-cmd:second user:0:0 dir:/tmp greeting:hello-from-b\n", await LogsAsync("rules", "root"));
    }

    [Fact]
    public async Task Exec_runs_inside_the_image_as_its_user_and_writes_stay_in_the_container()
    {
        _runtime.PodCreated(Pod("exec", new V1Container { Name = "main", Image = registry.ImageB, Command = ["sleep", "30"] }));
        await _host.WaitForStatusAsync("exec", s => s.Phase == "Running", timeoutSeconds: 60);

        var (code, output) = await ExecAsync("exec", "sh", "-c", "cat /marker; id -u; touch /home/app/written && echo wrote; touch /not-allowed 2>/dev/null || echo denied");

        Assert.Equal(0, code);
        Assert.Equal("image-b\n1000\nwrote\ndenied\n", output);
        var image = _runtime.Images;
        Assert.Equal(1, image.Pulls);
        // The image's shared tree is untouched: the write went to this container's own layer.
        var tree = Directory.GetDirectories(Path.Combine(_stateDir, "images", "rootfs")).Single();
        Assert.False(File.Exists(Path.Combine(tree, "home/app/written")));
        Assert.True(File.Exists(Path.Combine(tree, "marker")));
    }

    [Fact]
    public async Task A_non_root_container_gets_a_hostPath_volume_inside_a_directory_only_root_may_enter()
    {
        var privateDir = Directory.CreateDirectory(Path.Combine(_stateDir, "private-to-root")).FullName;
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(privateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var shared = Directory.CreateDirectory(Path.Combine(privateDir, "cache")).FullName;
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_111);
        File.WriteAllText(Path.Combine(shared, "from-host"), "host-data\n");
        var pod = Pod("private-volume", new V1Container
            {
                Name = "main", Image = registry.ImageB, Command = ["sh", "-c", "id -u; cat /cache/from-host; echo written > /cache/by-app"],
                VolumeMounts = [Mount("cache", "/cache")],
            })
            .WithVolumes(new V1Volume { Name = "cache", HostPath = new V1HostPathVolumeSource { Path = shared } });

        _runtime.PodCreated(pod);
        var final = await CompletedAsync("private-volume");

        Assert.True(final.Phase == "Succeeded", await LogsAsync("private-volume"));
        Assert.Equal("1000\nhost-data\n", await LogsAsync("private-volume"));
        Assert.Equal("written\n", File.ReadAllText(Path.Combine(shared, "by-app")));
    }

    [Fact]
    public async Task An_images_links_never_lead_a_mount_point_onto_the_host()
    {
        var name = "scheduler-test-" + Guid.NewGuid().ToString("N");
        _runtime.PodCreated(Pod("through-link",
                In(registry.ImageC, "main", $"test -d /etc/{name} && echo inside-the-image", Mount("scratch", $"/hostetc/{name}")))
            .WithVolumes(new V1Volume { Name = "scratch", EmptyDir = new V1EmptyDirVolumeSource() }));
        _runtime.PodCreated(Pod("loop",
                In(registry.ImageC, "main", "echo never", Mount("scratch", "/loop/x")))
            .WithVolumes(new V1Volume { Name = "scratch", EmptyDir = new V1EmptyDirVolumeSource() }));

        var final = await CompletedAsync("through-link");
        var loop = await _host.WaitForStatusAsync("loop",
            s => s.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "RunContainerError", timeoutSeconds: 30);

        Assert.Equal("Succeeded", final.Phase);
        Assert.Equal("inside-the-image\n", await LogsAsync("through-link"));
        Assert.False(Directory.Exists($"/etc/{name}"), "the mount point was made on the host");
        Assert.Contains("symbolic link", loop.Container("main").State.Waiting.Message);
    }

    private async Task<(int Code, string Output)> ExecAsync(string pod, params string[] command)
    {
        using var stdout = new MemoryStream();
        using var stderr = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var code = await _runtime.ExecAsync(new ExecRequest("ci", pod, null, command, false), new ExecStreams(null, stdout, stderr), timeout.Token);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()) + Encoding.UTF8.GetString(stderr.ToArray()));
    }

    [Fact]
    public async Task A_private_image_pulls_with_its_imagePullSecret_and_backs_off_without()
    {
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestRegistry.User}:{TestRegistry.Password}"));
        var dockerConfig = "{\"auths\":{\"" + registry.PrivateHost + "\":{\"auth\":\"" + auth + "\"}}}";
        _host.Secrets[("ci", "pull")] = new V1Secret
        {
            Type = "kubernetes.io/dockerconfigjson",
            Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = Encoding.UTF8.GetBytes(dockerConfig) },
        };
        // Without credentials first: once the image is on the node, IfNotPresent runs it for any pod, as in Kubernetes.
        _runtime.PodCreated(Pod("without-secret", In(registry.PrivateImage, "main", "cat /marker")));
        var pullError = await _host.WaitForReportedStatusAsync("without-secret",
            s => s.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ErrImagePull", timeoutSeconds: 30);
        Assert.Contains("authorization", pullError.Container("main").State.Waiting.Message);
        await _host.WaitForReportedStatusAsync("without-secret",
            s => s.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ImagePullBackOff", timeoutSeconds: 30);
        var events = _host.Events("without-secret");
        Assert.Contains(events, e => e.Reason == "Failed" && e.Message == "Error: ErrImagePull");
        Assert.Contains(events, e => e.Reason == "BackOff" && e.Message == $"Back-off pulling image \"{registry.PrivateImage}\"");

        var with = Pod("with-secret", In(registry.PrivateImage, "main", "cat /marker"));
        with.Spec.ImagePullSecrets = [new V1LocalObjectReference { Name = "pull" }];
        _runtime.PodCreated(with);
        var final = await CompletedAsync("with-secret");
        Assert.Equal("Succeeded", final.Phase);
        Assert.Equal("image-a\n", await LogsAsync("with-secret"));
        // The credentials file lived only for the pull.
        Assert.Empty(Directory.Exists(Path.Combine(_stateDir, "images", "auth")) ? Directory.GetFiles(Path.Combine(_stateDir, "images", "auth")) : []);
        Assert.DoesNotContain(events, e => e.Message.Contains(TestRegistry.Password));
    }

    [Fact]
    public async Task Never_with_a_missing_image_is_ErrImageNeverPull_and_a_bad_name_is_InvalidImageName()
    {
        var never = In(registry.ImageA, "main", "true");
        never.ImagePullPolicy = "Never";
        _runtime.PodCreated(Pod("never", never));
        _runtime.PodCreated(Pod("invalid", In("Not/A:Valid:Name", "main", "true")));

        var status = await _host.WaitForStatusAsync("never",
            s => s.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ErrImageNeverPull", timeoutSeconds: 30);
        Assert.Equal($"Container image \"{registry.ImageA}\" is not present with pull policy of Never", status.Container("main").State.Waiting.Message);
        Assert.Contains(_host.Events("never"), e => e.Reason == "ErrImageNeverPull");
        await _host.WaitForStatusAsync("invalid",
            s => s.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "InvalidImageName", timeoutSeconds: 30);
        Assert.Equal(0, _runtime.Images.Pulls);
    }

    [Fact]
    public async Task IfNotPresent_pulls_once_and_Always_pulls_again()
    {
        var before = registry.ManifestRequests("test/b");
        for (var i = 0; i < 2; i++)
        {
            var container = In(registry.ImageB, "main", "cat /marker");
            container.ImagePullPolicy = "IfNotPresent";
            _runtime.PodCreated(Pod($"once-{i}", container));
            Assert.Equal("Succeeded", (await CompletedAsync($"once-{i}")).Phase);
        }
        var afterIfNotPresent = registry.ManifestRequests("test/b");
        var always = In(registry.ImageB, "main", "cat /marker");
        always.ImagePullPolicy = "Always";
        _runtime.PodCreated(Pod("always", always));
        Assert.Equal("Succeeded", (await CompletedAsync("always")).Phase);

        Assert.True(afterIfNotPresent > before, "the first pod pulled from the registry");
        Assert.Equal(2, _runtime.Images.Pulls);
        Assert.True(registry.ManifestRequests("test/b") > afterIfNotPresent, "Always asked the registry again");
        Assert.Contains(_host.Events("once-1"), e => e.Reason == "Pulled" && e.Message.Contains("already present on machine"));
    }

    [Fact]
    public async Task A_loaded_archive_runs_without_any_registry()
    {
        var loaded = await _runtime.Images.LoadAsync(registry.Archive, null, CancellationToken.None);
        var container = In(TestRegistry.ArchiveName, "main", "cat /marker");
        container.ImagePullPolicy = "IfNotPresent";
        _runtime.PodCreated(Pod("loaded", container));

        var final = await CompletedAsync("loaded");

        Assert.Equal("Succeeded", final.Phase);
        Assert.Equal("image-a\n", await LogsAsync("loaded"));
        Assert.Equal(0, _runtime.Images.Pulls);
        Assert.Equal($"example.test/loaded/app@{loaded.ManifestDigest}", final.Container("main").ImageID);
    }

    [Fact]
    public async Task A_docker_save_archive_loads_under_its_tag_and_a_layout_needs_a_name()
    {
        var loaded = await _runtime.Images.LoadAsync(registry.DockerArchive, null, CancellationToken.None);
        var container = new V1Container { Name = "main", Image = TestRegistry.DockerArchiveName, ImagePullPolicy = "Never", Args = ["x"] };
        _runtime.PodCreated(Pod("docker-archive", container));

        var final = await CompletedAsync("docker-archive");

        Assert.Equal("example.test/docker/b:1", loaded.Reference.Canonical);
        Assert.Equal("Succeeded", final.Phase);
        Assert.StartsWith("entry:x: user:1000:1000", await LogsAsync("docker-archive"));
        var layout = Directory.CreateDirectory(Path.Combine(_stateDir, "not-a-layout")).FullName;
        await Assert.ThrowsAsync<Scheduler.LocalCluster.Images.ImagePullException>(() => _runtime.Images.LoadAsync(layout, null, CancellationToken.None));
    }

    [Fact]
    public async Task With_host_images_a_container_runs_on_the_host_and_its_event_says_so()
    {
        await using var hostRuntime = new ProcessPodRuntime(new NodeSettings { StateDir = Path.Combine(_stateDir, "host"), UseImages = false }, _host);
        hostRuntime.PodCreated(Pod("host-mode", In(registry.ImageA, "main", "test -e /marker && echo image || echo host")));

        var final = await _host.WaitForStatusAsync("host-mode", s => s.Phase is "Succeeded" or "Failed", timeoutSeconds: 30);

        Assert.Equal("Succeeded", final.Phase);
        using var output = new MemoryStream();
        await hostRuntime.StreamLogAsync("ci", "host-mode", new PodLogOptions(), output, CancellationToken.None);
        Assert.Equal("host\n", Encoding.UTF8.GetString(output.ToArray()));
        Assert.Contains(_host.Events("host-mode"), e => e.Reason == "Pulled"
            && e.Message == $"Container image \"{registry.ImageA}\" not pulled: this node runs every container on the host's filesystem (host images), not in its image");
        Assert.Equal(0, hostRuntime.Images.Pulls);
    }
}
