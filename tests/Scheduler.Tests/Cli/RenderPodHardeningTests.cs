using System.CommandLine;
using System.Text.Json.Nodes;
using Scheduler.Cli;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary>The hardening keys through <c>scheduler render-pod</c>: each shows in the pod, and a job that asks for what
/// the allow-lists forbid is refused (exit 1) with the reason.</summary>
public sealed class RenderPodHardeningTests
{
    private static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = RenderPodCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    [Fact]
    public void Every_hardening_keyword_of_the_current_example_shows_in_the_pod()
    {
        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config-current.toml"), "--job", RepositoryPaths.Example("job.json"));
        Assert.True(exitCode == 0, error);
        var spec = JsonNode.Parse(output)!["items"]![0]!["spec"]!;
        var containers = spec["containers"]!.AsArray();
        JsonNode Context(string name) => containers.First(c => (string?)c!["name"] == name)!["securityContext"]!;

        // automount_service_account_token, runtime_class_name.
        Assert.False((bool?)spec["automountServiceAccountToken"]);
        Assert.Equal("gvisor", (string?)spec["runtimeClassName"]);

        // build_container_security_context over cap_add = ["SYS_TIME"], cap_drop = ["SYS_ADMIN"]: its lists replace the section's.
        var build = Context("build");
        Assert.Equal((65534L, 65534L, true, false, false, false),
            ((long?)build["runAsUser"], (long?)build["runAsGroup"], (bool?)build["runAsNonRoot"], (bool?)build["privileged"],
                (bool?)build["allowPrivilegeEscalation"], (bool?)build["readOnlyRootFilesystem"]));
        Assert.Equal(["NET_BIND_SERVICE"], Strings(build["capabilities"]!["add"]));
        Assert.Equal(["ALL"], Strings(build["capabilities"]!["drop"]));

        // helper_container_security_context and service_container_security_context; NET_RAW dropped by default.
        var helper = Context("helper");
        Assert.Equal((1000L, true, false), ((long?)helper["runAsUser"], (bool?)helper["readOnlyRootFilesystem"], (bool?)helper["allowPrivilegeEscalation"]));
        Assert.Equal(["NET_RAW", "SYS_ADMIN"], Strings(helper["capabilities"]!["drop"]));
        Assert.Equal(["SYS_TIME"], Strings(helper["capabilities"]!["add"]));
        Assert.All(containers.Where(c => ((string?)c!["name"])!.StartsWith("svc-", StringComparison.Ordinal)), c =>
        {
            Assert.Equal(1000L, (long?)c!["securityContext"]!["runAsUser"]);
            Assert.Contains("NET_RAW", Strings(c["securityContext"]!["capabilities"]!["drop"]));
        });

        // pull_policy = "if-not-present" within allowed_pull_policies.
        Assert.All(containers, c => Assert.Equal("IfNotPresent", (string?)c!["imagePullPolicy"]));
    }

    [Theory]
    [InlineData("\"image\": { \"name\": \"evil/miner:latest\" }", "image \"evil/miner:latest\" is not present on the list of allowed images")]
    [InlineData("\"image\": { \"name\": \"ruby:3.3\" }, \"services\": [ { \"name\": \"mysql:8\" } ]",
        "service image \"mysql:8\" is not present on the list of allowed services")]
    [InlineData("\"image\": { \"name\": \"ruby:3.3\", \"pull_policy\": [\"never\"] }",
        "pull_policy ([never]) defined in GitLab pipeline config is not one of the allowed_pull_policies ([if-not-present always])")]
    [InlineData("\"image\": { \"name\": \"ruby:3.3\" }, \"services\": [ { \"name\": \"redis:7\", \"pull_policy\": \"never\" } ]",
        "service \"redis:7\": pull_policy ([never])")]
    public void A_job_outside_the_allow_lists_is_refused_with_the_reason(string jobFields, string reason)
    {
        using var directory = new TemporaryDirectory();
        var job = directory.Write("job.json", $$"""{ "id": 7, "token": "glcbt-job-token", {{jobFields}} }""");

        var (exitCode, output, error) = Run("--config", RepositoryPaths.Example("config-current.toml"), "--job", job);

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Contains("the job would be refused", error);
        Assert.Contains(reason, error);
    }

    private static List<string?> Strings(JsonNode? array) => array!.AsArray().Select(n => (string?)n).ToList();
}
