using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

/// <summary>Untrusted config text never crashes the loader: every damaged variant of the example yields a result.</summary>
public sealed class ConfigRobustnessTests
{
    private static readonly string Example = File.ReadAllText(RepositoryPaths.Example("config.toml"));

    [Fact]
    public void Every_truncation_of_the_example_loads_or_reports_errors()
    {
        for (var length = 0; length <= Example.Length; length++)
        {
            var result = ConfigLoader.LoadText(Example[..length], "config.toml");

            Assert.True(result.Settings is not null || result.Errors.Count > 0, $"truncated at {length}: no settings and no error");
            Assert.All(result.Errors, error => Assert.True(error.Line >= 1 && error.Column >= 1, $"truncated at {length}: {error}"));
        }
    }

    [Theory]
    [InlineData("\"")]
    [InlineData("[")]
    [InlineData("=")]
    [InlineData("]]")]
    [InlineData("\0")]
    [InlineData("1")]
    public void Every_line_with_junk_appended_loads_or_reports_errors(string junk)
    {
        var lines = Example.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var damaged = string.Join('\n', lines.Select((line, index) => index == i ? line + junk : line));

            var result = ConfigLoader.LoadText(damaged, "config.toml");

            Assert.True(result.Settings is not null || result.Errors.Count > 0, $"line {i + 1}: no settings and no error");
        }
    }

    [Theory]
    [InlineData("[runners]\nurl = \"u\"\n", "runners", "expected an array of tables ([[runners]]), found a table")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\nservices = [\"postgres\"]\n",
        "runners[0].kubernetes.services[0]", "expected a table, found a string")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\npull_policy = { a = \"always\" }\n",
        "runners[0].kubernetes.pull_policy", "expected an array of strings, found a table")]
    [InlineData("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n[runners.kubernetes]\nnode_selector = { a = 1979-05-27 }\n",
        "runners[0].kubernetes.node_selector[\"a\"]", "expected a string, found a date-time")]
    public void Structurally_wrong_values_are_errors(string toml, string key, string message)
    {
        var result = ConfigLoader.LoadText(toml, "config.toml");

        var error = Assert.Single(result.Errors);
        Assert.Equal(key, error.Key);
        Assert.Contains(message, error.Message);
    }
}

/// <summary>Settings records may be logged; the runner token and bearer token never appear in their printed form.</summary>
public sealed class SettingsPrintingTests
{
    [Fact]
    public void Printed_settings_mask_tokens()
    {
        var result = ConfigLoader.LoadText(
            "[[runners]]\nname = \"r1\"\nurl = \"u\"\ntoken = \"glrt-runner-secret\"\n[runners.kubernetes]\nbearer_token = \"k8s-secret\"\nnamespace = \"ci\"\n",
            "config.toml");

        var printed = result.Settings!.Runners[0].ToString();

        Assert.DoesNotContain("glrt-runner-secret", printed);
        Assert.DoesNotContain("k8s-secret", printed);
        Assert.Contains("Token = [MASKED]", printed);
        Assert.Contains("BearerToken = [MASKED]", printed);
        Assert.Contains("Name = r1", result.Settings.Runners[0].ToString());
        Assert.Contains("Namespace = ci", result.Settings.Runners[0].Kubernetes.ToString());
        Assert.Contains("BearerToken = ,", new global::Scheduler.Messages.Settings.KubernetesSettings().ToString());
    }
}
