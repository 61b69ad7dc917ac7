using k8s;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>dns_policy, dns_config and host_aliases (with the services' host names, as GitLab Runner adds them).</summary>
public sealed class PodNetworkingTests
{
    [Theory]
    [InlineData("none", "None")]
    [InlineData("default", "Default")]
    [InlineData("cluster-first", "ClusterFirst")]
    [InlineData("cluster-first-with-host-net", "ClusterFirstWithHostNet")]
    [InlineData(null, null)]
    // GitLab Runner compares the lower-case spellings exactly; anything else falls back to the cluster default.
    [InlineData("ClusterFirst", null)]
    public void Dns_policy(string? configured, string? expected)
    {
        Assert.Equal(expected, TestData.Plan(new KubernetesSettings { DnsPolicy = configured }).Pod.Spec.DnsPolicy);
    }

    [Fact]
    public void Dns_config_of_the_documentation_example()
    {
        var settings = new KubernetesSettings
        {
            DnsPolicy = "none",
            DnsConfig = new DnsConfigSettings(["1.2.3.4"], ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                [new DnsOptionSettings("ndots", "2"), new DnsOptionSettings("edns0", null)]),
        };

        var spec = TestData.Plan(settings).Pod.Spec;

        JsonAssert.Equal("""
            {"nameservers":["1.2.3.4"],"options":[{"name":"ndots","value":"2"},{"name":"edns0"}],
             "searches":["ns1.svc.cluster-domain.example","my.dns.search.suffix"]}
            """, KubernetesJson.Serialize(spec.DnsConfig));
        Assert.Equal("None", spec.DnsPolicy);
        Assert.Null(TestData.Plan().Pod.Spec.DnsConfig);
    }

    [Fact]
    public void Host_aliases_put_the_services_names_first_then_the_configured_ones()
    {
        var settings = new KubernetesSettings
        {
            Services = [new ServiceSettings("registry.example.com:5000/group/postgres:16") { Alias = "db,  database" }],
            HostAliases = [new HostAliasSettings("10.0.0.5", ["web1", "web2"])],
        };
        var job = TestData.Job(services:
        [
            new JobService { Name = "tutum/wordpress:latest" },
            new JobService { Name = "redis:7", Alias = "cache" },
            // Services with ports are proxied, not aliased (GitLab Runner skips them).
            new JobService { Name = "nginx:1", Alias = "web", Ports = [new JobPort { Number = 80 }] },
        ]);

        var aliases = TestData.Plan(settings, job).Pod.Spec.HostAliases;

        JsonAssert.Equal("""
            [{"hostnames":["registry.example.com-group-postgres","db","database","tutum-wordpress","redis","cache"],"ip":"127.0.0.1"},
             {"hostnames":["web1","web2"],"ip":"10.0.0.5"}]
            """, KubernetesJson.Serialize(aliases));
    }

    [Fact]
    public void No_services_and_no_host_aliases_give_no_host_aliases_field()
    {
        Assert.Null(TestData.Plan().Pod.Spec.HostAliases);
    }

    [Fact]
    public void An_invalid_service_alias_is_a_refusal()
    {
        var job = TestData.Job(services: [new JobService { Name = "postgres:16", Alias = "Not_Valid" }]);

        Assert.Equal("provided host alias Not_Valid for service postgres:16 is invalid DNS: it must be a lower case RFC 1123 "
                     + "subdomain (letters, digits, '-' and '.')", TestData.Refusal(job: job));
    }

    [Fact]
    public void Service_names_are_derived_from_the_image_after_expansion()
    {
        var job = TestData.Job(variables: [TestData.Public("MIRROR", "mirror.example.com/library"), TestData.Public("PG", "15")],
            services: [new JobService { Name = "$MIRROR/postgres:${PG}", Alias = "db" }]);

        var plan = TestData.Plan(job: job);

        Assert.Equal("mirror.example.com/library/postgres:15", plan.Pod.Spec.Containers.Single(c => c.Name == "svc-0").Image);
        Assert.Equal(["mirror.example.com-library-postgres", "db"], plan.Pod.Spec.HostAliases.Single().Hostnames);
    }

    [Theory]
    [InlineData("postgres:11", new[] { "postgres" })]
    [InlineData("postgres:15", new[] { "postgres" })]
    [InlineData("registry.example.com/a/b:1", new[] { "registry.example.com__a__b", "registry.example.com-a-b" })]
    [InlineData("docker:24-dind", new[] { "docker" })]
    [InlineData("tutum/wordpress:latest", new[] { "tutum__wordpress", "tutum-wordpress" })]
    [InlineData("registry.example.com:5000/ns/svc", new[] { "registry.example.com__ns__svc", "registry.example.com-ns-svc" })]
    [InlineData("mysql@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", new[] { "mysql" })]
    [InlineData("Not/An/Image", new string[0])]
    public void Image_host_names_are_derived_as_GitLab_Runner_does(string image, string[] expected)
    {
        Assert.Equal(expected, PodSpecSettings.ImageHostnames(image));
    }
}
