using System.CommandLine;
using Scheduler.Cli;
using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Cli;

public sealed class CheckConfigCommandTests
{
    private static (int ExitCode, string Output, string Error) Run(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = CheckConfigCommand.Create(environment).Parse(args)
            .Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }

    [Fact]
    public void Valid_config_prints_OK_and_exits_0()
    {
        var (exitCode, output, error) = Run(new Dictionary<string, string>(), "--config", RepositoryPaths.Example("config.toml"));

        Assert.Equal(0, exitCode);
        Assert.Equal("OK", output.Trim());
        Assert.Equal("", error);
    }

    [Fact]
    public void Warnings_go_to_stderr_and_still_exit_0()
    {
        using var directory = new TemporaryDirectory();
        var path = directory.Write("config.toml", "[[runners]]\nurl = \"u\"\ntoken = \"t\"\nstep_runner_image = \"x\"\n");

        var (exitCode, output, error) = Run(new Dictionary<string, string>(), "--config", path);

        Assert.Equal(0, exitCode);
        Assert.Equal("OK", output.Trim());
        Assert.Equal($"{path}:4:1: warning: runners[0].step_runner_image: has no effect here yet: CI steps are not supported yet",
            error.Trim());
    }

    [Fact]
    public void Invalid_config_prints_each_error_on_its_own_line_and_exits_2()
    {
        var path = RepositoryPaths.Example("bad-config.toml");

        var (exitCode, output, error) = Run(new Dictionary<string, string>(), "--config", path);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal([$"{path}:11:13: error:", $"{path}:12:15: error:", $"{path}:13:1: error:"],
            lines.Select(line => line[..(line.IndexOf(": error:", StringComparison.Ordinal) + 8)]));
    }

    [Theory]
    [InlineData("--config", "/nonexistent/config.toml", "/nonexistent/config.toml: error: cannot read config file: file not found")]
    [InlineData(null, null, "check-config: --config FILE is required")]
    public void Missing_file_exits_2_with_one_line(string? option, string? value, string expected)
    {
        var args = option is null ? Array.Empty<string>() : [option, value!];

        var (exitCode, output, error) = Run(new Dictionary<string, string>(), args);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal(expected, error.Trim());
    }

    [Fact]
    public void Invalid_service_account_pattern_from_the_environment_fails_the_check()
    {
        var environment = new Dictionary<string, string> { [ConfigLoader.ServiceAccountOverwriteAllowedVariable] = "(" };

        var (exitCode, _, error) = Run(environment, "--config", RepositoryPaths.Example("config.toml"));

        Assert.Equal(2, exitCode);
        Assert.StartsWith("environment: error: KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED", error.Trim());
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("from-env", null, "from-env")]
    [InlineData(null, "from-flag", "from-flag")]
    [InlineData("from-env", "from-flag", "from-flag")]
    public void Service_account_flag_wins_over_the_environment(string? fromEnvironment, string? fromFlag, string? expected)
    {
        var environment = new Dictionary<string, string>();
        if (fromEnvironment is not null)
        {
            environment[ConfigLoader.ServiceAccountVariable] = fromEnvironment;
        }

        var overrides = CheckConfigCommand.Overrides(environment, fromFlag);
        var loaded = ConfigLoader.LoadText("[[runners]]\nurl = \"u\"\ntoken = \"t\"\n", "config.toml", overrides);

        Assert.Equal(expected, loaded.Settings!.Runners[0].Kubernetes.ServiceAccount);
    }

    [Fact]
    public void Command_is_registered()
    {
        Assert.Contains(Commands.All(), command => command.Name == "check-config");
    }
}
