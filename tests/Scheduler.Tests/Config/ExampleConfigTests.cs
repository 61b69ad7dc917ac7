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

/// <summary>examples/config-current.toml: every key of GitLab Runner's current [runners.kubernetes] section.</summary>
public sealed class CurrentExampleConfigTests
{
    // Exactly the keys that have no effect here, in file order; every other key of the section takes effect.
    private static readonly string[] NoEffectKeys =
    [
        "helper_image_flavor", "helper_image_autoset_arch_and_os",
        "logs_base_dir", "scripts_base_dir", "init_permissions_container_security_context",
        "autoscaler",
    ];

    [Fact]
    public void Loads_with_exactly_the_documented_no_effect_warnings()
    {
        var result = ConfigLoader.LoadFile(RepositoryPaths.Example("config-current.toml"), new Dictionary<string, string>());

        Assert.Empty(result.Errors);
        Assert.Equal(NoEffectKeys.Select(key => "runners[0].kubernetes." + key), result.Warnings.Select(w => w.Key));
        Assert.All(result.Warnings, w => Assert.StartsWith("has no effect here", w.Message));
        Assert.All(result.Warnings, w => Assert.DoesNotContain("unknown key", w.Message));
    }

    [Fact]
    public void Every_no_effect_key_of_the_section_is_in_the_example_or_is_a_key_GitLab_Runner_no_longer_documents()
    {
        // host_network and user are accepted for older configs; every other key of the list is shown in the example.
        var inExample = NoEffectKeys.Where(k => !k.Contains('.')).ToHashSet();
        Assert.Equal(["host_network", "user"], ConfigKeys.KubernetesNoEffect.Keys.Where(k => !inExample.Contains(k)).Order());
    }

    [Fact]
    public void Every_key_that_takes_effect_is_set_in_the_example()
    {
        var text = File.ReadAllText(RepositoryPaths.Example("config-current.toml"));

        // terminationGracePeriodSeconds was removed in GitLab Runner 17.0; the current form is pod_termination_grace_period_seconds.
        Assert.All(ConfigKeys.Kubernetes.Except(["terminationGracePeriodSeconds"]),
            key => Assert.Matches($@"(?m)^\s*(\[\[?runners\.kubernetes\.)?{System.Text.RegularExpressions.Regex.Escape(key)}\b", text));
    }
}
