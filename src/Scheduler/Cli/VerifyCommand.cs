using System.CommandLine;
using Scheduler.Config;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler verify [--config FILE]</c>: asks GitLab (<c>POST /runners/verify</c>) whether each runner entry's token is
/// valid and prints <c>runner NAME: valid</c>, <c>runner NAME: invalid (403)</c> or <c>runner NAME: error (…)</c> per entry.
/// Exit 0 when all are valid, 1 otherwise, 2 when the config file does not load.
/// </summary>
internal static class VerifyCommand
{
    internal static Command Create()
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "config.toml whose runners to verify",
            DefaultValueFactory = _ => RegisterCommand.DefaultConfigPath,
        };
        var command = new Command("verify", "Check with GitLab that each runner's token is valid");
        command.Options.Add(configOption);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var path = parseResult.GetValue(configOption)!;
            var loaded = ConfigLoader.LoadFile(path, new Dictionary<string, string>());
            if (!loaded.IsValid)
            {
                foreach (var diagnostic in loaded.Errors)
                {
                    error.WriteLine(diagnostic.ToString());
                }

                return 2;
            }

            var systemId = RunnerSystemId.LoadOrCreate(path);
            var identity = RunnerIdentity.Current();
            using var http = GitLabHttp.CreateClient();
            var allValid = true;
            foreach (var runner in loaded.Settings!.Runners)
            {
                var verdict = await VerifyOneAsync(http, identity, systemId, runner.Url, runner.Token, cancellationToken);
                allValid &= verdict == "valid";
                output.WriteLine($"runner {runner.Name}: {verdict}");
            }

            return allValid ? 0 : 1;
        });
        return command;
    }

    private static async Task<string> VerifyOneAsync(HttpClient http, RunnerIdentity identity, string systemId, string url, string token,
        CancellationToken cancellationToken)
    {
        if (!GitLabUrl.TryApiBase(url, out var apiBase, out var urlError))
        {
            return $"error ({urlError})";
        }

        var client = new GitLabClient(http, apiBase, new GitLabClientOptions(identity, systemId));
        var result = await client.VerifyAsync(token, cancellationToken);
        return result.Outcome switch
        {
            RunnerCallOutcome.Succeeded => "valid",
            RunnerCallOutcome.Forbidden => "invalid (403)",
            _ => $"error ({result.Message})",
        };
    }
}
