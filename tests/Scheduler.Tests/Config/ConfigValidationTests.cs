using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>Each validation rule reports its error or warning at the exact line, column and key.</summary>
public sealed class ConfigValidationTests
{
    // Lines 1-5; the row's TOML starts on line 6.
    private const string KubernetesPrefix =
        "concurrent = 1\n[[runners]]\nurl = \"https://gitlab.example.com\"\ntoken = \"t\"\n[runners.kubernetes]\n";

    private const string K = "runners[0].kubernetes.";

    [Theory]
    [InlineData("privileged = \"yes\"", 6, 14, K + "privileged", "expected a boolean (true or false), found a string")]
    [InlineData("cpu_limit = \"100j\"", 6, 13, K + "cpu_limit", "invalid quantity \"100j\"")]
    [InlineData("memory_limit = \"1.2.3\"", 6, 16, K + "memory_limit", "invalid quantity \"1.2.3\"")]
    [InlineData("helper_cpu_request = \"abc\"", 6, 22, K + "helper_cpu_request", "invalid quantity \"abc\"")]
    [InlineData("service_cpu_limit = \" 1\"", 6, 21, K + "service_cpu_limit", "invalid quantity \" 1\"")]
    [InlineData("service_memory_limit = \"-1Gi\"", 6, 24, K + "service_memory_limit", "must not be negative")]
    [InlineData("cpu_limit = 1", 6, 13, K + "cpu_limit", "expected a string, found an integer (write it in quotes: \"1\")")]
    [InlineData("pull_policy = \"Always\"", 6, 15, K + "pull_policy", "unsupported pull policy \"Always\"")]
    [InlineData("namespace_overwrite_allowed = \"ci-(.*\"", 6, 31, K + "namespace_overwrite_allowed", "invalid regular expression")]
    [InlineData("service_account_overwrite_allowed = \"^(a)\\\\1$\"", 6, 37, K + "service_account_overwrite_allowed", "NonBacktracking")]
    [InlineData("pod_annotations_overwrite_allowed = '^(?=x).*$'", 6, 37, K + "pod_annotations_overwrite_allowed", "NonBacktracking")]
    [InlineData("node_tolerations = { \"a\" = \"NoScheduleX\" }", 6, 28, K + "node_tolerations[\"a\"]", "unsupported toleration effect")]
    [InlineData("poll_interval = -1", 6, 17, K + "poll_interval", "must not be negative")]
    [InlineData("poll_timeout = -5", 6, 16, K + "poll_timeout", "must not be negative")]
    [InlineData("poll_timeout = 1.5", 6, 16, K + "poll_timeout", "expected an integer, found a float")]
    [InlineData("terminationGracePeriodSeconds = -1", 6, 33, K + "terminationGracePeriodSeconds", "must not be negative")]
    [InlineData("cert_file = \"/c.crt\"", 6, 13, K + "cert_file", "key_file and ca_file must also be set")]
    [InlineData("cert_file = \"/c.crt\"\nkey_file = \"/c.key\"", 6, 13, K + "cert_file", "key_file and ca_file must also be set")]
    [InlineData("node_selector = [\"a\"]", 6, 17, K + "node_selector", "expected a table of strings, found an array")]
    [InlineData("image_pull_secrets = \"one\"", 6, 22, K + "image_pull_secrets", "expected an array of strings, found a string")]
    [InlineData("pod_security_context = { run_as_user = \"root\" }", 6, 40, K + "pod_security_context.run_as_user", "expected an integer")]
    [InlineData("[[runners.kubernetes.volumes.pvc]]\nname = \"p\"", 6, 1, K + "volumes.pvc[0].mount_path", "a volume needs a mount_path")]
    [InlineData("[[runners.kubernetes.volumes.host_path]]\nmount_path = \"/m\"", 6, 1, K + "volumes.host_path[0].name", "a volume needs a name")]
    [InlineData("volumes = { pvc = [{ name = \"p\" }] }", 6, 20, K + "volumes.pvc[0].mount_path", "a volume needs a mount_path")]
    [InlineData("[[runners.kubernetes.volumes.pvc]]\nname = \"v\"\nmount_path = \"/a\"\n[[runners.kubernetes.volumes.empty_dir]]\nname = \"v\"\nmount_path = \"/b\"",
        10, 8, K + "volumes.empty_dir[0].name", "volume name \"v\" is already used by runners[0].kubernetes.volumes.pvc[0]")]
    [InlineData("[[runners.kubernetes.volumes.empty_dir]]\nname = \"e\"\nmount_path = \"/e\"\nmedium = \"Disk\"", 9, 10, K + "volumes.empty_dir[0].medium", "unsupported medium \"Disk\"")]
    [InlineData("[[runners.kubernetes.volumes.secret]]\nname = \"s\"\nmount_path = \"/s\"\nread_only = \"yes\"", 9, 13, K + "volumes.secret[0].read_only", "expected a boolean")]
    public void Kubernetes_error_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(KubernetesPrefix + toml + "\n", "config.toml");

        AssertSingle(result.Errors, line, column, key, message, DiagnosticSeverity.Error);
        Assert.False(result.IsValid);
    }

    [Theory]
    [InlineData("concurrent = \"4\"\n", 1, 14, "concurrent", "expected an integer, found a string")]
    [InlineData("Concurrent = -3\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", 1, 14, "concurrent", "must be at least 1")]
    [InlineData("concurrent = 0\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", 1, 14, "concurrent", "must be at least 1")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\nexecutor = \"docker\"\n", 4, 12, "runners[0].executor", "executor \"docker\" is not supported")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\nlimit = -1\n", 4, 9, "runners[0].limit", "must not be negative")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\nlimit = 99999999999\n", 4, 9, "runners[0].limit", "out of range")]
    [InlineData("runners = \"x\"\n", 1, 11, "runners", "expected an array of tables ([[runners]]), found a string")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\nkubernetes = 1\n", 4, 14, "runners[0].kubernetes", "expected a table, found an integer")]
    [InlineData("concurrent = \n", 1, 14, "", "expecting a value")]
    [InlineData("concurrent = 1\nconcurrent = 2\n", 2, 1, "", "already defined")]
    public void Document_error_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(toml, "config.toml");

        AssertSingle(result.Errors, line, column, key, message, DiagnosticSeverity.Error);
        Assert.False(result.IsValid);
    }

    [Theory]
    [InlineData("[[runners]\n", 1, 10, "")]
    [InlineData("[[runners]]\nname = \"unterminated\n", 2, 21, "Invalid newline in a string")]
    public void Malformed_toml_yields_no_settings_and_located_errors(string toml, int line, int column, string message)
    {
        var result = ConfigLoader.LoadText(toml, "config.toml");

        Assert.Null(result.Settings);
        Assert.False(result.IsValid);
        var first = result.Errors[0];
        Assert.Equal((line, column, ""), (first.Line, first.Column, first.Key));
        Assert.Contains(message, first.Message);
    }

    [Fact]
    public void Every_error_is_reported_at_once_in_file_order()
    {
        var toml = """
            concurrent = "4"
            [[runners]]
            url = "u"
            token = "t"
            executor = "shell"
            [runners.kubernetes]
            pull_policy = "sometimes"
            cpu_limit = "100j"
            poll_timeout = -1
            [[runners.kubernetes.volumes.pvc]]
            name = "p"
            [[runners]]
            url = "u"
            token = "t"
            limit = -2
            """;

        var result = ConfigLoader.LoadText(toml, "config.toml");

        Assert.Equal(
            [
                (1, "concurrent"), (5, "runners[0].executor"), (7, "runners[0].kubernetes.pull_policy"),
                (8, "runners[0].kubernetes.cpu_limit"), (9, "runners[0].kubernetes.poll_timeout"),
                (10, "runners[0].kubernetes.volumes.pvc[0].mount_path"), (15, "runners[1].limit"),
            ],
            result.Errors.Select(e => (e.Line, e.Key)).ToList());
        Assert.NotNull(result.Settings);
        Assert.False(result.IsValid);
    }

    [Theory]
    [InlineData("cpu_limt = \"1\"", 6, 1, K + "cpu_limt", "unknown key, ignored; did you mean \"cpu_limit\"?")]
    [InlineData("Memory-Limit = \"1Gi\"", 6, 1, K + "Memory-Limit", "did you mean \"memory_limit\"?")]
    [InlineData("frobnicate = 1", 6, 1, K + "frobnicate", "unknown key, ignored")]
    [InlineData("dns_policy = \"ClusterFirst\"", 6, 14, K + "dns_policy", "unsupported dns_policy \"ClusterFirst\" is ignored and the cluster's default (ClusterFirst) applies")]
    [InlineData("[runners.kubernetes.affinity]\nx = 1", 7, 1, K + "affinity.x", "unknown key, ignored")]
    [InlineData("[[runners.kubernetes.volumes.nfs]]\nname = \"n\"\nmount_path = \"/n\"\nserver = \"s\"\npath = \"/p\"\nreadonly = true", 11, 1, K + "volumes.nfs[0].readonly", "did you mean \"read_only\"?")]
    [InlineData("user = \"1000\"", 6, 1, K + "user", "has no effect here: GitLab Runner's current Kubernetes executor has no section-wide user")]
    [InlineData("namespace_per_job = true\nnamespace = \"ci\"", 6, 21, K + "namespace_per_job", "namespace and namespace_overwrite_allowed are ignored")]
    [InlineData("helper_image_flavor = \"ubuntu\"", 6, 1, K + "helper_image_flavor", "has no effect here: it selects GitLab's helper image")]
    [InlineData("[[runners.kubernetes.volumes.config_map]]\nname = \"h\"\nmount_path = \"/h\"\nreadonly = true", 9, 1, K + "volumes.config_map[0].readonly", "did you mean \"read_only\"?")]
    [InlineData("[runners.kubernetes.autoscaler]\nmax_pause_pods = 2", 6, 1, K + "autoscaler", "has no effect here: GitLab Runner's pause-pod autoscaler")]
    [InlineData("[runners.kubernetes.pod_security_context]\nrun_as_usr = 1", 7, 1, K + "pod_security_context.run_as_usr", "did you mean \"run_as_user\"?")]
    [InlineData("namespace_overwrite_allowed = \"ci-.*\"", 6, 31, K + "namespace_overwrite_allowed", "use \"^ci-.*$\" to allow only whole values")]
    [InlineData("service_account_overwrite_allowed = \"^sa-\"", 6, 37, K + "service_account_overwrite_allowed", "use \"^sa-$\"")]
    [InlineData("pod_annotations_overwrite_allowed = \"a=.*|b=.*\"", 6, 37, K + "pod_annotations_overwrite_allowed", "use \"^(?:a=.*|b=.*)$\"")]
    public void Kubernetes_warning_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(KubernetesPrefix + toml + "\n", "config.toml");

        AssertSingle(result.Warnings, line, column, key, message, DiagnosticSeverity.Warning);
        Assert.True(result.IsValid);
    }

    [Theory]
    [InlineData("concurent = 2\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", 1, 1, "concurent", "did you mean \"concurrent\"?")]
    [InlineData("[session_server]\nlisten_address = \"0.0.0.0:8093\"\n[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", 1, 1, "session_server", "has no effect here yet: interactive web terminals")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\nstep_runner_image = \"x\"\n", 4, 1, "runners[0].step_runner_image", "has no effect here yet")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.cache]\nType = \"gcs\"\n", 5, 8, "runners[0].cache.Type", "cache type \"gcs\" is not supported yet")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.custom_build_dir]\nenable = true\n", 5, 1, "runners[0].custom_build_dir.enable", "did you mean \"enabled\"?")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.labels]\nteam = \"ci\"\n", 4, 1, "runners[0].labels", "has no effect here yet: runner labels are not sent")]
    [InlineData("[[runners]]\nurl = \"u\"\n", 1, 1, "runners[0].token", "not set")]
    [InlineData("concurrent = 1\n", 1, 1, "runners", "no [[runners]] entry")]
    public void Document_warning_is_located(string toml, int line, int column, string key, string message)
    {
        var result = ConfigLoader.LoadText(toml, "config.toml");

        AssertSingle(result.Warnings, line, column, key, message, DiagnosticSeverity.Warning);
        Assert.True(result.IsValid);
    }

    [Fact]
    public void Unknown_key_without_a_close_match_has_no_suggestion()
    {
        var result = ConfigLoader.LoadText(KubernetesPrefix + "frobnicate = 1\n", "config.toml");

        Assert.DoesNotContain("did you mean", Assert.Single(result.Warnings).Message);
    }

    [Theory]
    [InlineData(1, 2, "config.toml:1:2: error: concurrent: bad")]
    [InlineData(0, 0, "config.toml: error: concurrent: bad")]
    public void Diagnostic_prints_like_a_compiler(int line, int column, string expected)
    {
        var diagnostic = new ConfigDiagnostic("config.toml", line, column, "concurrent", "bad", DiagnosticSeverity.Error);

        Assert.Equal(expected, diagnostic.ToString());
    }

    [Fact]
    public void Secrets_never_appear_in_diagnostics()
    {
        var toml = KubernetesPrefix.Replace("token = \"t\"", "token = 12345678") + "bearer_token = 87654321\n";

        var result = ConfigLoader.LoadText(toml, "config.toml");

        Assert.Equal(2, result.Errors.Count);
        Assert.All(result.Errors, error => Assert.DoesNotContain("12345678", error.ToString()));
        Assert.All(result.Errors, error => Assert.DoesNotContain("87654321", error.ToString()));
    }

    private static void AssertSingle(
        IReadOnlyList<ConfigDiagnostic> diagnostics, int line, int column, string key, string message, DiagnosticSeverity severity)
    {
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(("config.toml", line, column, key, severity),
            (diagnostic.File, diagnostic.Line, diagnostic.Column, diagnostic.Key, diagnostic.Severity));
        Assert.Contains(message, diagnostic.Message);
    }
}
