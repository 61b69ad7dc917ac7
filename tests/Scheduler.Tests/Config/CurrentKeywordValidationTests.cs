using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>The rules of the keywords GitLab Runner added after 12.5: a value the API server would reject is an error at
/// load, at the line, column and key where it is written.</summary>
public sealed class CurrentKeywordValidationTests
{
    // Lines 1-5; the row's TOML starts on line 6.
    private const string Prefix = "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n";
    private const string K = "runners[0].kubernetes.";
    private const string NodeTerm =
        "[[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms]]\n"
        + "[[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.match_expressions]]\n";
    private const string NodeTermKey = K + "affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms[0].match_expressions[0].";
    private const string PodTerm = "[[runners.kubernetes.affinity.pod_affinity.required_during_scheduling_ignored_during_execution]]\n";

    [Theory]
    [InlineData(NodeTerm + "key = \"k\"\noperator = \"Near\"\nvalues = [\"a\"]", 9, 12, NodeTermKey + "operator", "unsupported operator \"Near\"; use one of In, NotIn, Exists, DoesNotExist, Gt, Lt")]
    [InlineData(NodeTerm + "key = \"k\"\noperator = \"In\"", 9, 12, NodeTermKey + "operator", "operator In needs at least one value")]
    [InlineData(NodeTerm + "key = \"k\"\noperator = \"Exists\"\nvalues = [\"a\"]", 9, 12, NodeTermKey + "operator", "operator Exists takes no values")]
    [InlineData(NodeTerm + "key = \"k\"\noperator = \"Gt\"\nvalues = [\"four\"]", 9, 12, NodeTermKey + "operator", "operator Gt needs exactly one integer value")]
    [InlineData("[runners.kubernetes.affinity.node_affinity.required_during_scheduling_ignored_during_execution]\nx = 1", 6, 1,
        K + "affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms", "needs at least one [[node_selector_terms]]")]
    [InlineData(PodTerm + "namespaces = [\"a\"]", 6, 1, K + "affinity.pod_affinity.required_during_scheduling_ignored_during_execution[0].topology_key", "needs a topology_key")]
    [InlineData("[[runners.kubernetes.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution]]\nweight = 101\n"
                + "[runners.kubernetes.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution.pod_affinity_term]\ntopology_key = \"zone\"",
        7, 10, K + "affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution[0].weight", "weight must be between 1 and 100")]
    [InlineData("priority_class_name = \"High Priority\"", 6, 23, K + "priority_class_name", "is not a valid Kubernetes object name")]
    [InlineData("[runners.kubernetes.dns_config]\nnameservers = [\"dns.example.com\"]", 7, 15, K + "dns_config.nameservers", "\"dns.example.com\" is not an IP address")]
    [InlineData("[runners.kubernetes.dns_config]\nnameservers = [\"1.1.1.1\", \"1.0.0.1\", \"8.8.8.8\", \"8.8.4.4\"]", 7, 15, K + "dns_config.nameservers", "at most 3 nameservers")]
    [InlineData("[[runners.kubernetes.host_aliases]]\nip = \"localhost\"\nhostnames = [\"a\"]", 7, 6, K + "host_aliases[0].ip", "\"localhost\" is not an IP address")]
    [InlineData("[[runners.kubernetes.host_aliases]]\nip = \"10.0.0.1\"\nhostnames = [\"Web_1\"]", 8, 13, K + "host_aliases[0].hostnames", "\"Web_1\" is not a valid host name")]
    [InlineData("[runners.kubernetes.container_lifecycle.pre_stop.exec]\ncommand = [\"x\"]\n[runners.kubernetes.container_lifecycle.pre_stop.tcp_socket]\nport = 1",
        6, 1, K + "container_lifecycle.pre_stop", "needs exactly one of exec, http_get, tcp_socket")]
    [InlineData("[runners.kubernetes.container_lifecycle.post_start.http_get]\nport = 70000", 7, 8, K + "container_lifecycle.post_start.http_get.port", "port must be between 1 and 65535")]
    [InlineData("[runners.kubernetes.container_lifecycle.post_start.http_get]\nport = 80\nscheme = \"ftp\"", 8, 10, K + "container_lifecycle.post_start.http_get.scheme", "unsupported scheme \"ftp\"")]
    [InlineData("[[runners.kubernetes.pod_spec]]\nname = \"both\"\npatch = \"a: 1\"\npatch_path = \"p.yaml\"", 9, 14, K + "pod_spec[0].patch_path", "pod_spec \"both\": set patch or patch_path, not both")]
    [InlineData("[[runners.kubernetes.pod_spec]]\nname = \"t\"\npatch = \"a: 1\"\npatch_type = \"apply\"", 9, 14, K + "pod_spec[0].patch_type", "unsupported patch_type \"apply\"")]
    [InlineData("[[runners.kubernetes.pod_spec]]\nname = \"bad\"\npatch = \"[{\\\"op\\\": \\\"add\\\"\"", 8, 9, K + "pod_spec[0].patch", "pod_spec \"bad\": not valid JSON or YAML")]
    [InlineData("[[runners.kubernetes.pod_spec]]\nname = \"shape\"\npatch = \"hostname: x\"\npatch_type = \"json\"", 8, 9, K + "pod_spec[0].patch", "a json patch must be a list of operations")]
    [InlineData("[[runners.kubernetes.pod_spec]]\nname = \"empty\"", 6, 1, K + "pod_spec[0].patch", "pod_spec \"empty\" has no patch")]
    [InlineData("[[runners.kubernetes.pod_spec]]\npatch_path = \"p.yaml\"", 7, 14, K + "pod_spec[0].patch_path", "patch_path can only be read when the config is loaded from a file")]
    [InlineData("[[runners.kubernetes.volumes.empty_dir]]\nname = \"e\"\nmount_path = \"/e\"\nsize_limit = \"lots\"", 9, 14, K + "volumes.empty_dir[0].size_limit", "invalid quantity \"lots\"")]
    [InlineData("[[runners.kubernetes.volumes.pvc]]\nname = \"p\"\nmount_path = \"/p\"\nmount_propagation = \"Shared\"", 9, 21, K + "volumes.pvc[0].mount_propagation", "unsupported mount_propagation \"Shared\"")]
    [InlineData("[[runners.kubernetes.volumes.secret]]\nname = \"s\"\nmount_path = \"/s\"\nsub_path = \"../etc\"", 9, 12, K + "volumes.secret[0].sub_path", "sub_path must be a relative path")]
    [InlineData("[[runners.kubernetes.volumes.csi]]\nname = \"c\"\nmount_path = \"/c\"", 6, 1, K + "volumes.csi[0].driver", "a CSI volume needs a driver")]
    [InlineData("[[runners.kubernetes.volumes.nfs]]\nname = \"n\"\nmount_path = \"/n\"\npath = \"/exports\"", 6, 1, K + "volumes.nfs[0].server", "an NFS volume needs a server")]
    public void Error_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(Prefix + toml + "\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal((line, column, key), (error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
        Assert.False(result.IsValid);
    }

    [Theory]
    [InlineData("shell = \"pwsh\"", "shell \"pwsh\" cannot be used: this runner's stage scripts are POSIX shell")]
    [InlineData("shell = \"fish\"", "shell \"fish\" cannot be used: unknown shell; use bash or sh")]
    public void Shells_other_than_bash_and_sh_are_errors(string toml, string message)
    {
        var result = ConfigLoader.LoadText($"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n{toml}\n", "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal(("runners[0].shell", 4), (error.Key, error.Line));
        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("[runners.feature_flags]\nFF_NETWORK_PER_BUILD = true", "runners[0].feature_flags.FF_NETWORK_PER_BUILD", "has no effect here: this runner implements no such feature flag")]
    [InlineData("log_level = \"verbose\"", "log_level", "unknown log level \"verbose\"; info is used")]
    [InlineData("[runners.kubernetes]\nterminationGracePeriodSeconds = 1\npod_termination_grace_period_seconds = 2", "runners[0].kubernetes.pod_termination_grace_period_seconds",
        "is ignored because the deprecated terminationGracePeriodSeconds is also set")]
    [InlineData("[runners.kubernetes]\n[[runners.kubernetes.pod_spec]]\npatch = \"hostname: x\"", "runners[0].kubernetes.pod_spec",
        "applies only to jobs with FF_USE_ADVANCED_POD_SPEC_CONFIGURATION enabled, which this runner entry does not enable")]
    public void Warnings_of_the_new_keys(string toml, string key, string message)
    {
        var text = toml.StartsWith("log_level", StringComparison.Ordinal)
            ? $"{toml}\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n"
            : $"[[runners]]\nurl = \"u\"\ntoken = \"t\"\n{toml}\n";

        var result = ConfigLoader.LoadText(text, "config.toml");

        Assert.Empty(result.Errors);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(key, warning.Key);
        Assert.StartsWith(message, warning.Message);
    }

    [Fact]
    public void Pod_spec_is_quiet_when_the_runner_enables_the_feature_flag_in_its_environment()
    {
        var result = ConfigLoader.LoadText(
            "[[runners]]\nurl = \"u\"\ntoken = \"t\"\nenvironment = [\"FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true\"]\n"
            + "[[runners.kubernetes.pod_spec]]\npatch = \"hostname: x\"\n", "config.toml");

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Patch_path_is_read_relative_to_the_config_file()
    {
        using var directory = new TemporaryDirectory();
        directory.Write("patches/hostname.yaml", "hostname: from-file\n");
        var path = directory.Write("config.toml",
            "[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.feature_flags]\nFF_USE_ADVANCED_POD_SPEC_CONFIGURATION = true\n"
            + "[[runners.kubernetes.pod_spec]]\nname = \"from file\"\npatch_path = \"patches/hostname.yaml\"\npatch_type = \"merge\"\n"
            + "[[runners.kubernetes.pod_spec]]\nname = \"missing\"\npatch_path = \"patches/missing.yaml\"\n");

        var result = ConfigLoader.LoadFile(path, new Dictionary<string, string>());

        var patch = Assert.Single(result.Settings!.Runners[0].Kubernetes.PodSpecPatches);
        Assert.Equal(("from file", "hostname: from-file\n", "merge"), (patch.Name, patch.Patch, patch.PatchType));
        var error = Assert.Single(result.Errors);
        Assert.Equal("runners[0].kubernetes.pod_spec[1].patch_path", error.Key);
        Assert.StartsWith("pod_spec \"missing\": cannot read patch file \"patches/missing.yaml\"", error.Message);
    }

    [Fact]
    public void Cleanup_grace_period_is_read_without_a_warning()
    {
        var result = ConfigLoader.LoadText(Prefix + "cleanup_grace_period_seconds = 5\n", "config.toml");

        Assert.Equal(5, result.Settings!.Runners[0].Kubernetes.CleanupGracePeriodSeconds);
        Assert.Empty(result.Warnings);
    }
}
