using k8s;
using k8s.Models;
using Scheduler.Config;
using Scheduler.Fleet;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>deploy/ parses as Kubernetes objects, and they fit together: the config loads, the seeds name the StatefulSet's
/// pods through the headless Service, the grace period covers shutdown_timeout, the Role allows what the runner calls.</summary>
public sealed class DeployManifestTests
{
    private static readonly string Deploy = Path.Combine(RepositoryPaths.Root, "deploy");

    private static async Task<List<object>> LoadAllAsync()
    {
        var objects = new List<object>();
        foreach (var file in Directory.GetFiles(Deploy, "*.yaml").Order())
        {
            objects.AddRange(await KubernetesYaml.LoadAllFromFileAsync(file));
        }

        return objects;
    }

    [Fact]
    public async Task Every_manifest_parses_into_the_expected_kinds()
    {
        var kinds = (await LoadAllAsync()).Select(o => o.GetType().Name).Order().ToList();

        Assert.Equal(["V1Namespace", "V1Role", "V1RoleBinding", "V1Secret", "V1Service", "V1ServiceAccount", "V1StatefulSet"], kinds);
    }

    [Fact]
    public async Task The_pieces_fit_together()
    {
        var objects = await LoadAllAsync();
        var secret = objects.OfType<V1Secret>().Single();
        var set = objects.OfType<V1StatefulSet>().Single();
        var service = objects.OfType<V1Service>().Single();
        var role = objects.OfType<V1Role>().Single();

        var loaded = ConfigLoader.LoadText(secret.StringData["config.toml"], "config.toml");
        Assert.Empty(loaded.Errors);
        var settings = loaded.Settings!;
        Assert.NotNull(settings.Cluster);

        var pod = set.Spec.Template.Spec;
        Assert.True(pod.TerminationGracePeriodSeconds > settings.ShutdownTimeout);
        Assert.Equal("None", service.Spec.ClusterIP);
        Assert.Equal(set.Spec.ServiceName, service.Metadata.Name);
        Assert.Equal(set.Spec.Template.Metadata.Labels, service.Spec.Selector);

        var args = pod.Containers.Single().Args;
        var seeds = args.Select((a, i) => (a, i)).Where(x => x.a == "--seed").Select(x => args[x.i + 1]).ToList();
        Assert.Equal(set.Spec.Replicas, seeds.Count);
        var (_, errors) = new ClusterFlags(null, seeds, null).ApplyTo(settings);
        Assert.Empty(errors);
        for (var i = 0; i < seeds.Count; i++)
        {
            Assert.Equal($"akka.tcp://scheduler@{set.Metadata.Name}-{i}.{service.Metadata.Name}:{settings.Cluster!.Port}", seeds[i]);
        }

        Assert.Equal(secret.Metadata.Name, pod.Volumes.Single().Secret.SecretName);
        Assert.Equal("/etc/scheduler/config.toml", args[args.IndexOf("--config") + 1]);

        var podVerbs = role.Rules.Single(r => r.Resources.SequenceEqual(["pods"])).Verbs;
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "create", "delete", "patch" }, podVerbs.ToHashSet());
        Assert.Contains(role.Rules, r => r.Resources.SequenceEqual(["pods/exec"]) && r.Verbs.Contains("create"));
        Assert.Contains(role.Rules, r => r.Resources.SequenceEqual(["secrets"]) && r.Verbs.Contains("get") && r.Verbs.Contains("create"));
    }
}
