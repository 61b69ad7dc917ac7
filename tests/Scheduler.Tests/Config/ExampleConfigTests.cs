using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The shipped examples: one loads clean with every spec keyword set, the other shows three located mistakes.</summary>
public sealed class ExampleConfigTests
{
    [Fact]
    public void Example_config_loads_without_errors_or_warnings()
    {
        var result = ConfigLoader.LoadFile(RepositoryPaths.Example("config.toml"), new Dictionary<string, string>());

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        var runner = Assert.Single(result.Settings!.Runners);
        var kubernetes = runner.Kubernetes;
        Assert.Equal(4, result.Settings.Concurrent);
        Assert.Equal("Kubernetes Runner", runner.Name);
        Assert.Null(kubernetes.Host);
        Assert.Equal(
            ["node-role.kubernetes.io/master", "custom.toleration=value", "empty.value=", "onlyKey"],
            kubernetes.NodeTolerations.Select(t => t.Key));
        Assert.All(
            new object?[]
            {
                kubernetes.CpuLimit, kubernetes.MemoryLimit, kubernetes.ServiceCpuLimit, kubernetes.ServiceMemoryLimit,
                kubernetes.HelperCpuLimit, kubernetes.HelperMemoryLimit, kubernetes.CpuRequest, kubernetes.MemoryRequest,
                kubernetes.ServiceCpuRequest, kubernetes.ServiceMemoryRequest, kubernetes.HelperCpuRequest,
                kubernetes.HelperMemoryRequest, kubernetes.PullPolicy, kubernetes.HelperImage, kubernetes.ServiceAccount,
                kubernetes.TerminationGracePeriodSeconds, kubernetes.NamespaceOverwriteAllowed,
                kubernetes.ServiceAccountOverwriteAllowed, kubernetes.PodAnnotationsOverwriteAllowed,
            },
            Assert.NotNull);
        Assert.Equal((5, 3600), (kubernetes.PollInterval, kubernetes.PollTimeout));
        Assert.NotEmpty(kubernetes.NodeSelector);
        Assert.NotEmpty(kubernetes.ImagePullSecrets);
        Assert.NotEmpty(kubernetes.PodLabels);
        Assert.NotEmpty(kubernetes.PodAnnotations);
        Assert.False(kubernetes.PodSecurityContext.IsEmpty);
        var volumes = kubernetes.Volumes;
        Assert.Equal([1, 1, 1, 1, 1],
            new[] { volumes.HostPaths.Count, volumes.Pvcs.Count, volumes.ConfigMaps.Count, volumes.Secrets.Count, volumes.EmptyDirs.Count });
        Assert.Single(kubernetes.Services);
    }

    [Fact]
    public void Bad_config_reports_exactly_its_three_mistakes()
    {
        var path = RepositoryPaths.Example("bad-config.toml");

        var result = ConfigLoader.LoadFile(path, new Dictionary<string, string>());

        Assert.False(result.IsValid);
        Assert.Equal(
            [
                (11, 13, "runners[0].kubernetes.cpu_limit"),
                (12, 15, "runners[0].kubernetes.pull_policy"),
                (13, 1, "runners[0].kubernetes.volumes.empty_dir[0].mount_path"),
            ],
            result.Errors.Select(e => (e.Line, e.Column, e.Key)).ToList());
        Assert.All(result.Errors, e => Assert.Equal(path, e.File));
        Assert.Empty(result.Warnings);
    }
}
