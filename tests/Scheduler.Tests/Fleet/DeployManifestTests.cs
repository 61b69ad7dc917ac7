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

        Assert.Equal(["V1Namespace", "V1Namespace", "V1NetworkPolicy", "V1Role", "V1RoleBinding", "V1Secret", "V1Service",
            "V1ServiceAccount", "V1ServiceAccount", "V1StatefulSet"], kinds);
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

        Assert.Equal(secret.Metadata.Name, pod.Volumes.Single(v => v.Name == "config").Secret.SecretName);
        Assert.Equal("/etc/scheduler/config.toml", args[args.IndexOf("--config") + 1]);

        var podVerbs = role.Rules.Single(r => r.Resources.SequenceEqual(["pods"])).Verbs;
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "create", "delete", "patch" }, podVerbs.ToHashSet());
        Assert.Contains(role.Rules, r => r.Resources.SequenceEqual(["pods/exec"]) && r.Verbs.Contains("create"));
        Assert.Contains(role.Rules, r => r.Resources.SequenceEqual(["secrets"]) && r.Verbs.Contains("get") && r.Verbs.Contains("create"));
    }

    [Fact]
    public async Task Jobs_are_kept_away_from_the_runners()
    {
        var objects = await LoadAllAsync();
        var secret = objects.OfType<V1Secret>().Single();
        var set = objects.OfType<V1StatefulSet>().Single();
        var role = objects.OfType<V1Role>().Single();
        var policy = objects.OfType<V1NetworkPolicy>().Single();
        var settings = ConfigLoader.LoadText(secret.StringData["config.toml"], "config.toml").Settings!;
        var jobsNamespace = settings.Runners.Single().Kubernetes!.Namespace;

        // Job pods run in their own namespace; the runner's rights are there only (not over its own Secrets).
        Assert.NotEqual(set.Metadata.NamespaceProperty, jobsNamespace);
        Assert.Equal(jobsNamespace, role.Metadata.NamespaceProperty);
        Assert.DoesNotContain(role.Rules, r => r.Verbs.Contains("*") || r.Resources.Contains("*") || r.Verbs.Contains("update"));

        // Only runner pods reach the cluster port; the metrics port is not open to the jobs' namespace.
        Assert.Equal(set.Metadata.NamespaceProperty, policy.Metadata.NamespaceProperty);
        Assert.Equal(set.Spec.Template.Metadata.Labels, policy.Spec.PodSelector.MatchLabels);
        foreach (var rule in policy.Spec.Ingress)
        {
            Assert.All(rule.FromProperty, peer => Assert.False(peer.NamespaceSelector?.MatchLabels?.Values.Contains(jobsNamespace) ?? false));
            Assert.All(rule.FromProperty, peer => Assert.False(peer.NamespaceSelector is { MatchLabels: null, MatchExpressions: null }));
        }

        var clusterRule = Assert.Single(policy.Spec.Ingress, r => r.Ports.Any(p => p.Port.Value == "4053"));
        Assert.All(clusterRule.FromProperty, peer => Assert.Equal(set.Spec.Template.Metadata.Labels, peer.PodSelector.MatchLabels));

        // The cluster port listens beyond loopback, so the fleet runs with TLS.
        Assert.NotNull(settings.Cluster!.TlsCertificate);
        Assert.Null(FleetTls.StartError(settings.Cluster));
    }

    [Fact]
    public async Task The_runner_pod_is_locked_down()
    {
        var set = (await LoadAllAsync()).OfType<V1StatefulSet>().Single();
        var pod = set.Spec.Template.Spec;
        var container = pod.Containers.Single();

        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
    }
}
