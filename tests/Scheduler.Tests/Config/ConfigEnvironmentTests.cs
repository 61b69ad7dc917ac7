using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>KUBERNETES_SERVICE_ACCOUNT and KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED override every runner entry.</summary>
public sealed class ConfigEnvironmentTests
{
    private const string TwoRunners = """
        [[runners]]
        url = "u"
        token = "t"
        [runners.kubernetes]
        service_account = "from-config"
        service_account_overwrite_allowed = "^config-.*$"
        [[runners]]
        url = "u"
        token = "t"
        """;

    [Theory]
    [InlineData(null, null, "from-config|", "^config-.*$|")]
    [InlineData("env-sa", null, "env-sa|env-sa", "^config-.*$|")]
    [InlineData(null, "^env-.*$", "from-config|", "^env-.*$|^env-.*$")]
    [InlineData("", "", "|", "|")]
    public void Environment_overrides_every_runner(string? serviceAccount, string? pattern, string accounts, string patterns)
    {
        var environment = new Dictionary<string, string>();
        if (serviceAccount is not null)
        {
            environment["KUBERNETES_SERVICE_ACCOUNT"] = serviceAccount;
        }

        if (pattern is not null)
        {
            environment["KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED"] = pattern;
        }

        var result = ConfigLoader.LoadText(TwoRunners, "config.toml", environment);

        Assert.True(result.IsValid);
        var runners = result.Settings!.Runners;
        Assert.Equal(accounts, string.Join("|", runners.Select(r => r.Kubernetes.ServiceAccount)));
        Assert.Equal(patterns, string.Join("|", runners.Select(r => r.Kubernetes.ServiceAccountOverwriteAllowed)));
    }

    [Fact]
    public void Unrelated_variables_are_ignored()
    {
        var environment = new Dictionary<string, string> { ["KUBERNETES_NAMESPACE"] = "other", ["KUBERNETES_SERVICE_ACCOUNT_X"] = "x" };

        var result = ConfigLoader.LoadText(TwoRunners, "config.toml", environment);

        Assert.Equal("from-config", result.Settings!.Runners[0].Kubernetes.ServiceAccount);
        Assert.Null(result.Settings.Runners[0].Kubernetes.Namespace);
    }

    [Theory]
    [InlineData("(", DiagnosticSeverity.Error, "invalid regular expression")]
    [InlineData("^(?=x)$", DiagnosticSeverity.Error, "NonBacktracking")]
    [InlineData("env-.*", DiagnosticSeverity.Warning, "use \"^env-.*$\"")]
    public void An_environment_pattern_is_validated_and_named(string pattern, DiagnosticSeverity severity, string message)
    {
        var environment = new Dictionary<string, string> { ["KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED"] = pattern };

        var result = ConfigLoader.LoadText(TwoRunners, "config.toml", environment);

        var diagnostics = severity == DiagnosticSeverity.Error ? result.Errors : result.Warnings;
        Assert.Equal(2, diagnostics.Count);
        Assert.All(diagnostics, d =>
        {
            Assert.Equal(("environment", 0, 0), (d.File, d.Line, d.Column));
            Assert.StartsWith("KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED (runners[", d.Key);
            Assert.Contains(message, d.Message);
        });
    }
}
