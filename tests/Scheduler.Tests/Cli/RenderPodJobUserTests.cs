using System.CommandLine;
using System.Text.Json.Nodes;
using Scheduler.Cli;
using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary><c>render-pod</c> with a job that asks for its user (<c>image:kubernetes:user</c>, a service's
/// <c>kubernetes:user</c>), <c>allowed_users</c>/<c>allowed_groups</c> and the container security contexts; and how those
/// keys load.</summary>
public sealed class RenderPodJobUserTests
{
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\nimage = \"alpine:3\"\n";

    private static string Job(string imageUser, string serviceUser = "\"\"") => $$"""
        { "id": 7, "token": "glcbt-job-token",
          "variables": [ { "key": "SECRET_UID", "value": "31337", "public": false, "masked": true } ],
          "image": { "name": "ruby:3.3", "executor_opts": { "kubernetes": { "user": {{imageUser}} } } },
          "services": [ { "name": "redis:7", "executor_opts": { "kubernetes": { "user": {{serviceUser}} } } } ] }
        """;

    public static TheoryData<string, string, string, string, long?, long?> Rows => new()
    {
        // config.toml lines, image user, service user, container, its runAsUser, its runAsGroup
        { "", "1001", "\"\"", "build", 1001, null },
        { "", "\"1001:1002\"", "\"\"", "build", 1001, 1002 },
        { "", "\"1001:1002\"", "\"\"", "helper", null, null },
        { "", "\"\"", "\"999:998\"", "svc-0", 999, 998 },
        { "", "\"root\"", "\"\"", "build", null, null },
        { "allowed_users = [\"1001\"]\nallowed_groups = [\"1002\"]", "\"1001:1002\"", "\"\"", "build", 1001, 1002 },
        { "[runners.kubernetes.build_container_security_context]\nrun_as_user = 4000", "\"1001:1002\"", "\"\"", "build", 4000, 1002 },
        { "[runners.kubernetes.service_container_security_context]\nrun_as_user = 4000\nrun_as_group = 4001", "\"\"", "\"999:998\"", "svc-0", 4000, 4001 },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void The_jobs_user_renders_on_its_container(string toml, string imageUser, string serviceUser, string container, long? uid, long? gid)
    {
        var (exitCode, output, error) = Render(toml, Job(imageUser, serviceUser));

        Assert.True(exitCode == 0, error);
        var context = JsonNode.Parse(output)!["items"]![0]!["spec"]!["containers"]!.AsArray()
            .First(c => (string?)c!["name"] == container)!["securityContext"]!;
        Assert.Equal(uid, (long?)context["runAsUser"]);
        Assert.Equal(gid, (long?)context["runAsGroup"]);
    }

    [Theory]
    [InlineData("allowed_users = [\"1000\"]", "0", "\"\"", "the image user 0 is not allowed by allowed_users [1000]")]
    [InlineData("allowed_groups = [\"1000\"]", "\"1000:0\"", "\"\"", "the image group 0 is not allowed by allowed_groups [1000]")]
    [InlineData("allowed_users = [\"1000\"]", "\"\"", "0", "the service \"redis:7\" user 0 is not allowed by allowed_users [1000]")]
    public void A_user_outside_the_allow_lists_is_refused_with_the_reason(string toml, string imageUser, string serviceUser, string reason)
    {
        var (exitCode, output, error) = Render(toml, Job(imageUser, serviceUser));

        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Contains("the job would be refused", error);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_user_from_a_masked_variable_is_neither_applied_nor_shown()
    {
        var (exitCode, output, error) = Render("allowed_users = [\"1000\"]", Job("\"$SECRET_UID\""));

        Assert.True(exitCode == 0, error);
        Assert.DoesNotContain("31337", output + error);
        Assert.Null(JsonNode.Parse(output)!["items"]![0]!["spec"]!["containers"]![0]!["securityContext"]!["runAsUser"]);
    }

    [Theory]
    [InlineData("allowed_users = [\"root\"]", 7, 17, "runners[0].kubernetes.allowed_users", "\"root\" is not a numeric id")]
    [InlineData("allowed_groups = [\"-1\"]", 7, 18, "runners[0].kubernetes.allowed_groups", "\"-1\" is not a numeric id")]
    public void A_non_numeric_allowed_id_is_a_load_error(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("allowed_users = [\"1000\", \"65534\"]\nallowed_groups = [\"1000\"]")]
    public void The_allow_lists_load_without_a_warning(string toml)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Empty(result.Warnings);
    }

    [Theory]
    [InlineData("[runners.kubernetes.pod_security_context]\nseccomp_profile = \"RuntimeDefault\"", "pod_security_context.seccomp_profile")]
    [InlineData("[runners.kubernetes.pod_security_context]\nsysctls = { \"net.core.somaxconn\" = \"1024\" }", "pod_security_context.sysctls")]
    [InlineData("[runners.kubernetes.build_container_security_context]\napp_armor_profile = \"runtime/default\"", "build_container_security_context.app_armor_profile")]
    public void Seccomp_apparmor_and_sysctls_keys_say_to_use_a_pod_spec_patch(string toml, string key)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var warning = Assert.Single(result.Warnings);
        Assert.Equal("runners[0].kubernetes." + key, warning.Key);
        Assert.StartsWith("has no effect here: GitLab Runner has no such key", warning.Message, StringComparison.Ordinal);
        Assert.Contains("pod_spec patch", warning.Message, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output, string Error) Render(string toml, string job)
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("config.toml", Prefix + toml + "\n");
        var jobFile = directory.Write("job.json", job);
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = RenderPodCommand.Create().Parse(["--config", config, "--job", jobFile])
            .Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }
}
