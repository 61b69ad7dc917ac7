using System.Collections;
using System.CommandLine;
using Scheduler.Actors.Pods;
using Scheduler.Config;
using Scheduler.Messages.Jobs;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler render-pod --config FILE --job FILE [--runner NAME] [--concurrent-id N] [--output json|yaml]</c>: prints every
/// object the job would create (a <c>v1 List</c>, the pod first, Secret values redacted). Exit codes: 0 rendered; 1 the job
/// would be refused (the reason on stderr); 2 invalid config, job file or arguments.
/// </summary>
internal static class RenderPodCommand
{
    public const int RefusedExitCode = 1;
    public const int InvalidExitCode = 2;

    internal static Command Create()
    {
        var configOption = new Option<string?>("--config", "-c") { Description = "Path of the config.toml" };
        var jobOption = new Option<string?>("--job", "-j") { Description = "Path of a job payload (the JSON body GitLab answers to /jobs/request)" };
        var runnerOption = new Option<string?>("--runner") { Description = "Name of the [[runners]] entry to use (default: the first)" };
        // Values are checked in the action rather than by the parser, so that every bad argument gives exit code 2.
        var concurrentOption = new Option<string?>("--concurrent-id") { Description = "The job's concurrent slot number (default 0)" };
        var outputOption = new Option<string?>("--output", "-o") { Description = "json (default) or yaml" };

        var command = new Command("render-pod", "Print the pod and Secrets a job would get, without contacting any cluster")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        Option<string?>[] options = [configOption, jobOption, runnerOption, concurrentOption, outputOption];
        foreach (var option in options)
        {
            option.Arity = ArgumentArity.ZeroOrOne; // a missing value is reported by the action, with exit code 2
            command.Options.Add(option);
        }

        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;

            var configPath = parseResult.GetValue(configOption);
            var jobPath = parseResult.GetValue(jobOption);
            var withoutValue = options.FirstOrDefault(o => parseResult.GetResult(o) is { Implicit: false, Tokens.Count: 0 });
            if (withoutValue is not null)
            {
                error.WriteLine($"render-pod: {withoutValue.Name} needs a value");
                return InvalidExitCode;
            }

            if (parseResult.UnmatchedTokens.Count > 0)
            {
                error.WriteLine($"render-pod: unexpected argument(s): {string.Join(' ', parseResult.UnmatchedTokens)}");
                return InvalidExitCode;
            }

            if (string.IsNullOrEmpty(configPath) || string.IsNullOrEmpty(jobPath))
            {
                error.WriteLine("render-pod: --config FILE and --job FILE are required");
                return InvalidExitCode;
            }

            var concurrentText = parseResult.GetValue(concurrentOption) ?? "0";
            if (!int.TryParse(concurrentText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var concurrentId))
            {
                error.WriteLine($"render-pod: --concurrent-id must be a non-negative integer, got \"{concurrentText}\"");
                return InvalidExitCode;
            }

            RenderFormat format;
            switch (parseResult.GetValue(outputOption) ?? "json")
            {
                case "json":
                    format = RenderFormat.Json;
                    break;
                case "yaml":
                    format = RenderFormat.Yaml;
                    break;
                case var other:
                    error.WriteLine($"render-pod: --output must be json or yaml, got \"{other}\"");
                    return InvalidExitCode;
            }

            var config = ConfigLoader.LoadFile(configPath, ProcessEnvironment());
            foreach (var diagnostic in config.Errors.Concat(config.Warnings))
            {
                error.WriteLine(diagnostic.ToString());
            }

            if (!config.IsValid)
            {
                return InvalidExitCode;
            }

            var runners = config.Settings!.Runners;
            var runnerName = parseResult.GetValue(runnerOption);
            var runner = runnerName is null ? runners.FirstOrDefault() : runners.FirstOrDefault(r => r.Name == runnerName);
            if (runner is null)
            {
                error.WriteLine(runnerName is null
                    ? $"render-pod: {configPath} has no [[runners]] entry"
                    : $"render-pod: no runner named \"{runnerName}\" in {configPath} (runners: {string.Join(", ", runners.Select(r => $"\"{r.Name}\""))})");
                return InvalidExitCode;
            }

            string jobText;
            try
            {
                jobText = File.ReadAllText(jobPath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error.WriteLine($"render-pod: cannot read the job file {jobPath}: {ex.Message}");
                return InvalidExitCode;
            }

            var job = JobPayloadParser.Parse(jobText);
            if (!job.IsSuccess)
            {
                error.WriteLine($"render-pod: {jobPath}: {job.Error}");
                return InvalidExitCode;
            }

            var result = PodBuilder.Build(runner, job.Payload!, concurrentId, RunnerIdentity.Current());
            if (result.Plan is null)
            {
                error.WriteLine($"render-pod: the job would be refused: {result.Refusal}");
                return RefusedExitCode;
            }

            output.WriteLine(PodPlanRendering.Render(result.Plan, format, runner.Kubernetes.PodDisruptionBudget).TrimEnd());
            return 0;
        });
        return command;
    }

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry is { Key: string key, Value: string value })
            {
                variables[key] = value;
            }
        }

        return variables;
    }
}
