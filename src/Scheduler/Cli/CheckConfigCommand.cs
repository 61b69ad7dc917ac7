using System.CommandLine;
using Scheduler.Config;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler check-config --config FILE [--service-account NAME]</c>: validates a config.toml. Prints <c>OK</c> and exits 0
/// when it has no errors (warnings go to stderr); otherwise prints every error and warning, one per line, and exits 2.
/// </summary>
internal static class CheckConfigCommand
{
    public const int InvalidExitCode = 2;

    internal static Command Create() => Create(ProcessEnvironment());

    /// <summary>The command with the environment overrides given explicitly (tests pass their own).</summary>
    internal static Command Create(IReadOnlyDictionary<string, string> environment)
    {
        var configOption = new Option<string?>("--config", "-c")
        {
            Description = "Path of the config.toml to check",
        };
        var serviceAccountOption = new Option<string?>("--service-account")
        {
            Description = "Service account for every runner entry (overrides service_account and KUBERNETES_SERVICE_ACCOUNT)",
        };
        var command = new Command("check-config", "Validate a GitLab Runner config.toml and report every problem with its location");
        command.Options.Add(configOption);
        command.Options.Add(serviceAccountOption);
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var path = parseResult.GetValue(configOption);
            if (string.IsNullOrEmpty(path))
            {
                error.WriteLine("check-config: --config FILE is required");
                return InvalidExitCode;
            }

            var result = ConfigLoader.LoadFile(path, Overrides(environment, parseResult.GetValue(serviceAccountOption)));
            foreach (var diagnostic in result.Errors.Concat(result.Warnings))
            {
                error.WriteLine(diagnostic.ToString());
            }

            if (!result.IsValid)
            {
                return InvalidExitCode;
            }

            output.WriteLine("OK");
            return 0;
        });
        return command;
    }

    /// <summary>The environment overrides for the loader; <c>--service-account</c> wins over <c>KUBERNETES_SERVICE_ACCOUNT</c>.</summary>
    internal static IReadOnlyDictionary<string, string> Overrides(IReadOnlyDictionary<string, string> environment, string? serviceAccount)
    {
        var overrides = new Dictionary<string, string>(environment, StringComparer.Ordinal);
        if (serviceAccount is not null)
        {
            overrides[ConfigLoader.ServiceAccountVariable] = serviceAccount;
        }

        return overrides;
    }

    /// <summary>Only the variables the loader honours, so the rest of the environment never reaches it.</summary>
    private static Dictionary<string, string> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { ConfigLoader.ServiceAccountVariable, ConfigLoader.ServiceAccountOverwriteAllowedVariable })
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                variables[name] = value;
            }
        }

        return variables;
    }
}
