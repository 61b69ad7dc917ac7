using System.CommandLine;
using System.Text.Json.Nodes;
using Scheduler.Cli;
using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary><c>selinux_type</c> and <c>proc_mount</c> as GitLab Runner renders them: the pod's <c>selinux_type</c> into
/// <c>spec.securityContext.seLinuxOptions</c>, a container context's into that container's <c>securityContext</c>, and
/// <c>proc_mount</c> title-cased into <c>procMount</c>. A value Kubernetes would refuse is a load error at its line.</summary>
public sealed class RenderPodSecurityProfileTests
{
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\nimage = \"alpine:3\"\n";
    private const string Job = """{ "id": 7, "token": "glcbt-job-token", "image": { "name": "ruby:3.3" }, "services": [ { "name": "redis:7" } ] }""";

    public static TheoryData<string, string, string?, string?> Rows => new()
    {
        // config.toml tables, container, expected seLinuxOptions.type, expected procMount of that container
        { "[runners.kubernetes.build_container_security_context]\nselinux_type = \"container_t\"", "build", "container_t", null },
        { "[runners.kubernetes.build_container_security_context]\nproc_mount = \"unmasked\"", "build", null, "Unmasked" },
        { "[runners.kubernetes.build_container_security_context]\nproc_mount = \" Default \"", "build", null, "Default" },
        { "[runners.kubernetes.helper_container_security_context]\nselinux_type = \"spc_t\"\nproc_mount = \"Unmasked\"", "helper", "spc_t", "Unmasked" },
        { "[runners.kubernetes.service_container_security_context]\nselinux_type = \"svc_t\"", "svc-0", "svc_t", null },
        // Set on build only: the helper keeps none.
        { "[runners.kubernetes.build_container_security_context]\nselinux_type = \"container_t\"\nproc_mount = \"Unmasked\"", "helper", null, null },
        // Empty means not set, as in GitLab Runner.
        { "[runners.kubernetes.build_container_security_context]\nselinux_type = \"\"\nproc_mount = \"\"", "build", null, null },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Container_security_profiles_render_on_that_container(string toml, string container, string? seLinuxType, string? procMount)
    {
        var spec = Render(toml);

        var context = spec["containers"]!.AsArray().First(c => (string?)c!["name"] == container)!["securityContext"]!;
        Assert.Equal(seLinuxType, (string?)context["seLinuxOptions"]?["type"]);
        Assert.Equal(procMount, (string?)context["procMount"]);
    }

    [Fact]
    public void Pod_selinux_type_renders_on_the_pod_security_context()
    {
        var spec = Render("[runners.kubernetes.pod_security_context]\nselinux_type = \"container_t\"\nrun_as_user = 1000");

        Assert.Equal("container_t", (string?)spec["securityContext"]!["seLinuxOptions"]!["type"]);
        Assert.Equal(1000L, (long?)spec["securityContext"]!["runAsUser"]);
        Assert.All(spec["containers"]!.AsArray(), c => Assert.Null(c!["securityContext"]!["seLinuxOptions"]));
    }

    [Fact]
    public void Pod_selinux_type_alone_creates_the_pod_security_context()
    {
        var spec = Render("[runners.kubernetes.pod_security_context]\nselinux_type = \"spc_t\"");

        Assert.Equal("spc_t", (string?)spec["securityContext"]!["seLinuxOptions"]!["type"]);
    }

    [Theory]
    [InlineData("[runners.kubernetes.build_container_security_context]\nproc_mount = \"masked\"", 8, 14,
        "runners[0].kubernetes.build_container_security_context.proc_mount", "unsupported proc_mount \"masked\"; use Default or Unmasked")]
    [InlineData("[runners.kubernetes.service_container_security_context]\nselinux_type = \"system_u:system_r:container_t:s0\"", 8, 16,
        "runners[0].kubernetes.service_container_security_context.selinux_type", "is not an SELinux type")]
    [InlineData("[runners.kubernetes.pod_security_context]\nselinux_type = \"container t\"", 8, 16,
        "runners[0].kubernetes.pod_security_context.selinux_type", "\"container t\" is not an SELinux type")]
    public void An_invalid_value_is_a_load_error_at_its_key(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("[runners.kubernetes.pod_security_context]\nselinux_type = \"container_t\"")]
    [InlineData("[runners.kubernetes.helper_container_security_context]\nselinux_type = \"spc_t\"\nproc_mount = \"Unmasked\"")]
    public void The_keys_load_without_a_warning(string toml)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        Assert.True(result.IsValid);
        Assert.DoesNotContain(result.Warnings, d => d.Key.EndsWith(".selinux_type", StringComparison.Ordinal) || d.Key.EndsWith(".proc_mount", StringComparison.Ordinal));
    }

    private static JsonNode Render(string toml)
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("config.toml", Prefix + toml + "\n");
        var job = directory.Write("job.json", Job);
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = RenderPodCommand.Create().Parse(["--config", config, "--job", job])
            .Invoke(new InvocationConfiguration { Output = output, Error = error });

        Assert.True(exitCode == 0, error.ToString());
        return JsonNode.Parse(output.ToString())!["items"]![0]!["spec"]!;
    }
}
