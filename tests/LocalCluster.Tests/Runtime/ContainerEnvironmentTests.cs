using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class ContainerEnvironmentTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("$(A)", "alpha")]
    [InlineData("x-$(A)-$(B)", "x-alpha-beta")]
    [InlineData("$$(A)", "$(A)")]
    [InlineData("$(MISSING)", "$(MISSING)")]
    [InlineData("cost $5", "cost $5")]
    [InlineData("$(A", "$(A")]
    [InlineData("end$", "end$")]
    public void Expands_defined_references(string input, string expected)
    {
        var env = new Dictionary<string, string> { ["A"] = "alpha", ["B"] = "beta" };

        Assert.Equal(expected, ContainerEnvironment.Expand(input, env));
    }

    private static V1Pod Pod() => new()
    {
        Metadata = new V1ObjectMeta { Name = "job", NamespaceProperty = "ci", Uid = "u1", Labels = new Dictionary<string, string> { ["app"] = "x" } },
        Spec = new V1PodSpec { NodeName = "local-node", Containers = [] },
    };

    [Fact]
    public void Env_from_then_env_with_downward_values()
    {
        var host = new FakePodHost();
        host.ConfigMaps[("ci", "cfg")] = new V1ConfigMap { Data = new Dictionary<string, string> { ["MODE"] = "fast", ["bad name"] = "skipped" } };
        host.Secrets[("ci", "sec")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["KEY"] = "v"u8.ToArray() } };
        var container = new V1Container
        {
            Name = "c",
            EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = "cfg" } }, new V1EnvFromSource { Prefix = "S_", SecretRef = new V1SecretEnvSource { Name = "sec" } }],
            Env =
            [
                new V1EnvVar { Name = "MODE", Value = "slow" },
                new V1EnvVar { Name = "POD", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
                new V1EnvVar { Name = "APP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.labels['app']" } } },
            ],
        };

        var result = ContainerEnvironment.Resolve(Pod(), container, host, runAsUser: null);

        Assert.Null(result.Error);
        var env = result.Variables!;
        Assert.Equal("slow", env["MODE"]);
        Assert.Equal("v", env["S_KEY"]);
        Assert.Equal("job", env["POD"]);
        Assert.Equal("x", env["APP"]);
        Assert.Equal("job", env["HOSTNAME"]);
        Assert.Equal(ContainerEnvironment.DefaultPath, env["PATH"]);
        Assert.False(env.ContainsKey("bad name"));
    }

    [Theory]
    [InlineData("secret-missing", "secret \"s\" not found")]
    [InlineData("secret-key-missing", "couldn't find key other in Secret ci/s")]
    [InlineData("configmap-missing", "configmap \"c\" not found")]
    [InlineData("configmap-key-missing", "couldn't find key other in ConfigMap ci/c")]
    [InlineData("optional-missing", null)]
    public void Missing_references_are_config_errors(string scenario, string? error)
    {
        var host = new FakePodHost();
        if (scenario == "secret-key-missing") host.Secrets[("ci", "s")] = new V1Secret { Data = new Dictionary<string, byte[]> { ["k"] = [] } };
        if (scenario == "configmap-key-missing") host.ConfigMaps[("ci", "c")] = new V1ConfigMap { Data = new Dictionary<string, string> { ["k"] = "" } };
        var source = scenario switch
        {
            "secret-missing" => new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "s", Key = "k" } },
            "secret-key-missing" => new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "s", Key = "other" } },
            "configmap-missing" => new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "c", Key = "k" } },
            "configmap-key-missing" => new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "c", Key = "other" } },
            _ => new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "s", Key = "k", Optional = true } },
        };
        var container = new V1Container { Name = "c", Env = [new V1EnvVar { Name = "X", ValueFrom = source }] };

        var result = ContainerEnvironment.Resolve(Pod(), container, host, null);

        Assert.Equal(error, result.Error);
        Assert.Equal(error is null, result.Variables is not null);
    }
}
