using System.Diagnostics;
using System.Text.Json.Nodes;
using Scheduler.Actors.Pods;
using Scheduler.Config;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary>Skipped, with the reason, when node or the schema tool is not installed and the run is not CI (env CI unset);
/// in CI the test runs and fails with a message saying what is missing.</summary>
public sealed class KubernetesSchemaTheoryAttribute : TheoryAttribute
{
    public KubernetesSchemaTheoryAttribute()
    {
        if (KubernetesSchema.Missing() is { } missing && Environment.GetEnvironmentVariable("CI") is not { Length: > 0 })
        {
            Skip = missing;
        }
    }
}

/// <inheritdoc cref="KubernetesSchemaTheoryAttribute"/>
public sealed class KubernetesSchemaFactAttribute : FactAttribute
{
    public KubernetesSchemaFactAttribute()
    {
        if (KubernetesSchema.Missing() is { } missing && Environment.GetEnvironmentVariable("CI") is not { Length: > 0 })
        {
            Skip = missing;
        }
    }
}

/// <summary>tests/tools/k8s-schema: the published Kubernetes API schema (npm <c>kubernetes-models</c>, pinned in its
/// package-lock.json, installed by scripts/test.sh) run by node over JSON on stdin.</summary>
internal static class KubernetesSchema
{
    private static string ToolDirectory => Path.Combine(RepositoryPaths.Root, "tests", "tools", "k8s-schema");

    /// <summary>What is missing to run the validator, or null when it can run.</summary>
    public static string? Missing()
    {
        if (FindNode() is null)
        {
            return "node is not installed (the Kubernetes schema validation needs it)";
        }

        return Directory.Exists(Path.Combine(ToolDirectory, "node_modules", "kubernetes-models"))
            ? null
            : "tests/tools/k8s-schema is not installed: run npm ci --prefix tests/tools/k8s-schema (scripts/test.sh does)";
    }

    private static string? FindNode() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(directory => Path.Combine(directory, "node"))
        .FirstOrDefault(File.Exists);

    /// <summary>Runs the validator over <paramref name="json"/>: its exit code (0: valid) and what it printed.</summary>
    public static (int ExitCode, string Output) Validate(string json)
    {
        if (Missing() is { } missing)
        {
            Assert.Fail(missing);
        }

        var start = new ProcessStartInfo(FindNode()!, [Path.Combine(ToolDirectory, "validate.mjs")])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = ToolDirectory,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(json);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("the schema validator did not finish within 60 s");
        }

        return (process.ExitCode, output.Result + error.Result);
    }
}

/// <summary>Every object <c>scheduler render-pod</c> prints (the pod and its Secrets) is valid against the published
/// Kubernetes API schema, for configs that use every key of <c>[runners.kubernetes]</c>; and the validator does reject a
/// wrong object, so a pass means something.</summary>
public sealed class RenderPodKubernetesSchemaTests
{
    // Branches the example configs do not take: json and merge patches, tcp_socket hooks, config services, security
    // contexts with capabilities, a toleration without effect, empty_dir with memory medium, secret volumes with items.
    private const string MoreKeys = """
        [[runners]]
        name = "more keys"
        url = "https://gitlab.example.com"
        token = "glrt-more"
        environment = ["FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true"]
        [runners.kubernetes]
        image = "alpine:3.20"
        namespace_per_job = true
        cleanup_grace_period_seconds = 5
        pod_termination_grace_period_seconds = 20
        cap_add = ["NET_ADMIN"]
        cap_drop = ["ALL"]
        dns_policy = "cluster-first-with-host-net"
        [runners.kubernetes.node_tolerations]
          "only-key" = ""
          "k=v" = "NoSchedule"
        [runners.kubernetes.build_container_security_context]
          run_as_user = 1000
          read_only_root_filesystem = true
          [runners.kubernetes.build_container_security_context.capabilities]
            add = ["SYS_TIME"]
        [runners.kubernetes.container_lifecycle.post_start.tcp_socket]
          port = 8080
        [[runners.kubernetes.services]]
          name = "redis:7"
          alias = "cache,kv"
          command = ["redis-server", "--save", ""]
        [[runners.kubernetes.volumes.empty_dir]]
          name = "scratch"
          mount_path = "/scratch"
          medium = "Memory"
          size_limit = "1Gi"
        [[runners.kubernetes.volumes.secret]]
          name = "tls"
          mount_path = "/tls"
          [runners.kubernetes.volumes.secret.items]
            "tls.crt" = "cert.pem"
        [[runners.kubernetes.pod_spec]]
          name = "json"
          patch_type = "json"
          patch = '[{"op": "add", "path": "/nodeSelector", "value": {"patched": "yes"}}]'
        [[runners.kubernetes.pod_spec]]
          name = "merge"
          patch_type = "merge"
          patch = "subdomain: ci"
        """;

    private static string Rendered(GlobalSettings settings, string jobFile)
    {
        var job = JobPayloadParser.Parse(File.ReadAllText(RepositoryPaths.Example(jobFile))).Payload!;
        var result = PodBuilder.Build(settings.Runners[0], job, 3, RunnerIdentity.Current(), () => "a1b2c3d4");
        Assert.True(result.Plan is not null, result.Refusal);
        return PodPlanRendering.Render(result.Plan, RenderFormat.Json, settings.Runners[0].Kubernetes.PodDisruptionBudget);
    }

    private static GlobalSettings Load(string config)
    {
        var loaded = config.EndsWith(".toml", StringComparison.Ordinal)
            ? ConfigLoader.LoadFile(RepositoryPaths.Example(config), new Dictionary<string, string>())
            : ConfigLoader.LoadText(config, "config.toml");
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
        return loaded.Settings!;
    }

    [KubernetesSchemaTheory]
    [InlineData("config.toml", 3)] // the pod, the job Secret, the registry Secret
    [InlineData("config-current.toml", 4)] // and the pod's PodDisruptionBudget (pod_disruption_budget = true)
    [InlineData(MoreKeys, 3)]
    public void Every_rendered_object_is_valid_against_the_Kubernetes_schema(string config, int objects)
    {
        var json = Rendered(Load(config), "job.json");

        var (exitCode, output) = KubernetesSchema.Validate(json);

        Assert.True(exitCode == 0, output);
        Assert.Contains($"{objects} object(s), 0 problem(s)", output);
    }

    [KubernetesSchemaFact]
    public void A_deliberately_wrong_object_is_rejected_with_where_and_why()
    {
        var list = JsonNode.Parse(Rendered(Load("config-current.toml"), "job.json"))!;
        var pod = list["items"]![0]!;
        pod["spec"]!["containers"]![0]!["ports"] = new JsonArray(new JsonObject { ["containerPort"] = "eighty" });
        pod["spec"]!["tolerations"] = new JsonArray(new JsonObject { ["key"] = "k", ["effect"] = "" });
        list["items"]![1]!["stringData"] = new JsonObject { ["number"] = 1 };

        var (exitCode, output) = KubernetesSchema.Validate(list.ToJsonString());

        Assert.Equal(1, exitCode);
        Assert.Contains("/spec/containers/0/ports/0/containerPort must be integer", output);
        Assert.Contains("/spec/tolerations/0/effect must be equal to one of the allowed values", output);
        Assert.Contains("/stringData/number must be string", output);
    }
}
