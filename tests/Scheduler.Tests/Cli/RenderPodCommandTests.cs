using System.CommandLine;
using System.Text.Json.Nodes;
using Scheduler.Cli;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary>The example config and job through <c>scheduler render-pod</c>, as a user runs it.</summary>
public sealed class RenderPodCommandTests
{
    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = RenderPodCommand.Create().Parse(args)
            .Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    private static (int ExitCode, JsonNode List, string Error) RenderExample()
    {
        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config.toml"), "--job", RepositoryPaths.Example("job.json"));
        Assert.True(exitCode == 0, error);
        return (exitCode, JsonNode.Parse(output)!, error);
    }

    [Fact]
    public void Prints_a_v1_List_with_the_pod_first_then_its_secrets()
    {
        var (_, list, _) = RenderExample();

        Assert.Equal("v1", (string?)list["apiVersion"]);
        Assert.Equal("List", (string?)list["kind"]);
        var kinds = list["items"]!.AsArray().Select(item => (string?)item!["kind"]).ToList();
        Assert.Equal("Pod", kinds[0]);
        Assert.All(kinds.Skip(1), kind => Assert.Equal("Secret", kind));
        Assert.True(kinds.Count >= 2, "the job secret is always created");
    }

    [Fact]
    public void With_pod_disruption_budget_the_pod_s_budget_comes_last_owned_by_the_pod()
    {
        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config-current.toml"), "--job", RepositoryPaths.Example("job.json"));
        Assert.True(exitCode == 0, error);

        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        var pod = items[0]!;
        var budget = items[^1]!;
        Assert.Equal(("policy/v1", "PodDisruptionBudget"), ((string?)budget["apiVersion"], (string?)budget["kind"]));
        Assert.Equal((string?)pod["metadata"]!["name"] + "-pdb", (string?)budget["metadata"]!["name"]);
        Assert.Equal((string?)pod["metadata"]!["namespace"], (string?)budget["metadata"]!["namespace"]);
        Assert.Equal(1, (int?)budget["spec"]!["minAvailable"]);
        Assert.Equal((string?)pod["metadata"]!["name"], (string?)budget["metadata"]!["ownerReferences"]![0]!["name"]);
        Assert.DoesNotContain(items, item => (string?)item!["kind"] == "PodDisruptionBudget" && item != budget);

        // config.toml does not set it: no budget.
        var (_, plain, _) = RenderExample();
        Assert.DoesNotContain(plain["items"]!.AsArray(), item => (string?)item!["kind"] == "PodDisruptionBudget");
    }

    [Fact]
    public void Every_configured_keyword_of_the_example_reaches_the_pod()
    {
        var (_, list, _) = RenderExample();
        var pod = list["items"]![0]!;
        var spec = pod["spec"]!;
        var containers = spec["containers"]!.AsArray();
        var build = containers.First(c => (string?)c!["name"] == "build")!;
        var helper = containers.First(c => (string?)c!["name"] == "helper")!;

        Assert.Equal("gitlab", (string?)pod["metadata"]!["namespace"]);
        Assert.Equal(["build", "helper", "svc-0", "svc-1"], containers.Select(c => (string?)c!["name"]).Take(4));
        Assert.NotNull(build["resources"]!["limits"]!["cpu"]);
        Assert.NotNull(build["resources"]!["requests"]!["memory"]);
        Assert.NotNull(helper["resources"]!["limits"]!["memory"]);
        Assert.NotNull(containers.First(c => ((string?)c!["name"])!.StartsWith("svc-", StringComparison.Ordinal))!["resources"]!["limits"]);
        Assert.True((bool?)build["securityContext"]!["privileged"]);
        Assert.NotNull(build["imagePullPolicy"]);
        Assert.NotEmpty(spec["nodeSelector"]!.AsObject());
        Assert.NotEmpty(spec["tolerations"]!.AsArray());
        Assert.NotEmpty(spec["imagePullSecrets"]!.AsArray());
        Assert.NotNull(spec["securityContext"]!["runAsUser"]);
        Assert.NotNull(spec["serviceAccountName"]);
        Assert.NotNull(spec["terminationGracePeriodSeconds"]);
        Assert.Equal("Never", (string?)spec["restartPolicy"]);

        var volumeKinds = spec["volumes"]!.AsArray().SelectMany(v => v!.AsObject().Select(p => p.Key)).ToHashSet();
        Assert.Superset(new HashSet<string> { "hostPath", "persistentVolumeClaim", "configMap", "secret", "emptyDir" }, volumeKinds);
    }

    [Fact]
    public void No_secret_value_of_the_job_appears_in_the_output()
    {
        var jobText = File.ReadAllText(RepositoryPaths.Example("job.json"));
        var job = JobPayloadParser.Parse(jobText).Payload!;
        var secrets = job.Variables.Where(v => !v.IsShowable).Select(v => v.Value)
            .Concat(job.Credentials.Select(c => c.Password))
            .Append(job.Token)
            .Where(value => value.Length >= 4)
            .ToList();
        Assert.NotEmpty(secrets);

        foreach (var format in new[] { "json", "yaml" })
        {
            var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config.toml"), "--job", RepositoryPaths.Example("job.json"),
                "--output", format);
            Assert.True(exitCode == 0, error);
            foreach (var secret in secrets)
            {
                Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Yaml_output_is_the_same_list()
    {
        var (exitCode, output, _) = Run("--config", RepositoryPaths.Example("config.toml"), "--job", RepositoryPaths.Example("job.json"),
            "--output", "yaml");

        Assert.Equal(0, exitCode);
        Assert.StartsWith("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void A_refused_job_exits_1_naming_the_value_and_the_pattern()
    {
        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config.toml"), "--job", RepositoryPaths.Example("job-refused.json"));

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Contains("production", error, StringComparison.Ordinal);
        Assert.Contains("^ci-.*$", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bad-config.toml", "job.json", null)]
    [InlineData("config.toml", "missing-job.json", null)]
    [InlineData("config.toml", "job.json", "no such runner")]
    public void Invalid_input_exits_2(string config, string job, string? runner)
    {
        var args = new List<string> { "--config", RepositoryPaths.Example(config), "--job", RepositoryPaths.Example(job) };
        if (runner is not null)
        {
            args.AddRange(["--runner", runner]);
        }

        var (exitCode, output, error) = Run([.. args]);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.NotEqual("", error.Trim());
    }

    [Fact]
    public void A_malformed_job_file_exits_2_with_its_position()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.Write("job.json", "{ \"id\": 1, \"token\": \"t\",\n  \"variables\": [ { \"key\": 3 ] }");

        var (exitCode, _, error) = Run("--config", RepositoryPaths.Example("config.toml"), "--job", path);

        Assert.Equal(2, exitCode);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal); // a message, not a stack trace
    }

    [Fact]
    public void The_current_example_renders_every_pod_shaping_keyword_GitLab_Runner_added_after_12_5()
    {
        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config-current.toml"), "--job", RepositoryPaths.Example("job.json"));
        Assert.True(exitCode == 0, error);
        var spec = JsonNode.Parse(output)!["items"]![0]!["spec"]!;
        var containers = spec["containers"]!.AsArray();
        var build = containers.First(c => (string?)c!["name"] == "build")!;

        // Scheduling.
        Assert.Equal("In", (string?)spec["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchExpressions"]![0]!["operator"]);
        Assert.Equal(100, (int?)spec["affinity"]!["nodeAffinity"]!["preferredDuringSchedulingIgnoredDuringExecution"]![0]!["weight"]);
        Assert.Equal("failure-domain.beta.kubernetes.io/zone", (string?)spec["affinity"]!["podAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]![0]!["topologyKey"]);
        Assert.Equal("db", (string?)spec["affinity"]!["podAntiAffinity"]!["preferredDuringSchedulingIgnoredDuringExecution"]![0]!["podAffinityTerm"]!["labelSelector"]!["matchLabels"]!["app"]);
        Assert.Equal(("ci-jobs", "default-scheduler"), ((string?)spec["priorityClassName"], (string?)spec["schedulerName"]));
        var spot = spec["tolerations"]!.AsArray().First(t => (string?)t!["key"] == "spot")!.AsObject();
        Assert.False(spot.ContainsKey("effect"), "a toleration without an effect has no effect field");

        // Networking.
        Assert.Equal("None", (string?)spec["dnsPolicy"]);
        Assert.Equal("1.2.3.4", (string?)spec["dnsConfig"]!["nameservers"]![0]);
        var aliases = spec["hostAliases"]!.AsArray();
        Assert.Equal(["postgres", "db", "postgres-db"], aliases[0]!["hostnames"]!.AsArray().Select(h => (string?)h).Take(3));
        Assert.Equal(["127.0.0.1", "127.0.0.1", "192.168.1.1"], aliases.Select(a => (string?)a!["ip"]));

        // pod_spec patches of the three types, in order (the runner's environment enables the feature flag).
        Assert.Equal(("custom-pod-hostname", "subdomain"), ((string?)spec["hostname"], (string?)spec["subdomain"]));
        Assert.Equal("1", (string?)build["env"]!.AsArray().Last()!["value"]);
        Assert.Equal("FROM_PATCH", (string?)build["env"]!.AsArray().Last()!["name"]);

        // Lifecycle and volumes.
        Assert.Equal(30, (int?)spec["terminationGracePeriodSeconds"]);
        Assert.All(containers, c => Assert.Equal("/builds/postStart.txt", (string?)c!["lifecycle"]!["postStart"]!["exec"]!["command"]![1]));
        var volumes = spec["volumes"]!.AsArray();
        Assert.Equal("pvc-0", (string?)volumes.First(v => v!["persistentVolumeClaim"] is not null)!["persistentVolumeClaim"]!["claimName"]);
        Assert.Equal("1G", (string?)volumes.First(v => (string?)v!["name"] == "empty-dir")!["emptyDir"]!["sizeLimit"]);
        Assert.Equal("my-csi-driver", (string?)volumes.First(v => v!["csi"] is not null)!["csi"]!["driver"]);
        var mounts = build["volumeMounts"]!.AsArray();
        Assert.Equal("cache", (string?)mounts.First(m => (string?)m!["name"] == "pvc-0")!["subPath"]);
        Assert.Equal("HostToContainer", (string?)mounts.First(m => (string?)m!["name"] == "hostpath-1")!["mountPropagation"]);
    }
}
