using System.CommandLine;
using Scheduler.Config;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler register --url URL (--registration-token T | --token glrt-…) [--name N] [--tag-list a,b] [--config FILE]
/// [--run-untagged] [--locked=false] [--paused] [--maximum-timeout S] [--executor kubernetes]</c>:
/// registers with a legacy registration token (<c>POST /runners</c>), or verifies an authentication token created in GitLab
/// (<c>POST /runners/verify</c>), then appends a <c>[[runners]]</c> entry to the config file. Never prompts. Exit 0 when
/// registered, 1 when GitLab refused or could not be reached, 2 for bad arguments or a config file that would not load.
/// </summary>
internal static class RegisterCommand
{
    public const string DefaultConfigPath = "/etc/gitlab-runner/config.toml";

    internal static Command Create()
    {
        var urlOption = new Option<string?>("--url", "-u") { Description = "GitLab instance URL" };
        var registrationTokenOption = new Option<string?>("--registration-token", "-r")
        {
            Description = "Legacy runner registration token (deprecated by GitLab)",
        };
        var tokenOption = new Option<string?>("--token", "-t") { Description = "Runner authentication token (glrt-…) created in GitLab" };
        var nameOption = new Option<string?>("--name", "--description") { Description = "Runner name (default: the host name)" };
        var tagListOption = new Option<string?>("--tag-list") { Description = "Comma-separated tags (with --registration-token)" };
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "config.toml to append the runner to (created when missing)",
            DefaultValueFactory = _ => DefaultConfigPath,
        };
        var nonInteractiveOption = new Option<bool>("--non-interactive", "-n") { Description = "Accepted for compatibility; never prompts" };
        var namespaceOption = new Option<string>("--kubernetes-namespace")
        {
            Description = "Namespace for the job pods",
            DefaultValueFactory = _ => "default",
        };
        var imageOption = new Option<string>("--kubernetes-image")
        {
            Description = "Default job image",
            DefaultValueFactory = _ => "alpine:latest",
        };

        var executorOption = new Option<string>("--executor")
        {
            Description = "Accepted for compatibility; only kubernetes",
            DefaultValueFactory = _ => "kubernetes",
        };
        var runUntaggedOption = new Option<bool>("--run-untagged") { Description = "Also run jobs without tags (with --registration-token)" };
        var lockedOption = new Option<bool>("--locked")
        {
            Description = "Lock the runner to its project (with --registration-token)",
            DefaultValueFactory = _ => true,
        };
        var pausedOption = new Option<bool>("--paused") { Description = "Register the runner paused (with --registration-token)" };
        var maximumTimeoutOption = new Option<int?>("--maximum-timeout")
        {
            Description = "Upper bound, in seconds, for the jobs' timeout (with --registration-token)",
        };
        var command = new Command("register", "Register a runner with GitLab and add it to config.toml");
        foreach (var option in new Option[]
                 {
                     urlOption, registrationTokenOption, tokenOption, nameOption, tagListOption, configOption, nonInteractiveOption,
                     namespaceOption, imageOption, executorOption, runUntaggedOption, lockedOption, pausedOption, maximumTimeoutOption,
                 })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var url = parseResult.GetValue(urlOption);
            var registrationToken = parseResult.GetValue(registrationTokenOption);
            var token = parseResult.GetValue(tokenOption);
            var configPath = parseResult.GetValue(configOption)!;
            var name = parseResult.GetValue(nameOption) is { Length: > 0 } given ? given : Environment.MachineName;
            if (!GitLabUrl.TryApiBase(url, out var apiBase, out var urlError))
            {
                error.WriteLine($"register: {urlError}");
                return 2;
            }

            if (parseResult.GetValue(executorOption) != "kubernetes")
            {
                error.WriteLine("register: this runner only has the kubernetes executor");
                return 2;
            }

            if (parseResult.GetValue(maximumTimeoutOption) is <= 0)
            {
                error.WriteLine("register: --maximum-timeout must be a positive number of seconds");
                return 2;
            }

            if (string.IsNullOrEmpty(registrationToken) == string.IsNullOrEmpty(token))
            {
                error.WriteLine("register: give exactly one of --registration-token and --token");
                return 2;
            }

            using var http = GitLabHttp.CreateClient();
            var client = new GitLabClient(http, apiBase, new GitLabClientOptions(RunnerIdentity.Current(), RunnerSystemId.LoadOrCreate(configPath)));
            RunnerCallResult result;
            if (!string.IsNullOrEmpty(registrationToken))
            {
                var tags = (parseResult.GetValue(tagListOption) ?? "")
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                // As GitLab Runner: without tags, the runner takes untagged jobs unless told otherwise.
                var runUntagged = parseResult.GetResult(runUntaggedOption) is null or { Implicit: true } ? tags.Length == 0 : parseResult.GetValue(runUntaggedOption);
                var registration = new RegistrationRequest(registrationToken, name, tags, runUntagged,
                    parseResult.GetValue(lockedOption), parseResult.GetValue(pausedOption), parseResult.GetValue(maximumTimeoutOption));
                result = await client.RegisterAsync(registration, cancellationToken);
            }
            else
            {
                result = await client.VerifyAsync(token!, cancellationToken);
            }

            if (result.Outcome != RunnerCallOutcome.Succeeded)
            {
                var what = registrationToken is { Length: > 0 } ? "registration token" : "runner token";
                error.WriteLine(result.Outcome == RunnerCallOutcome.Forbidden
                    ? $"register: GitLab refused the {what} (403 Forbidden)"
                    : $"register: {result.Message}");
                return 1;
            }

            var runnerToken = result.Credentials?.Token is { Length: > 0 } issued ? issued : token;
            if (string.IsNullOrEmpty(runnerToken))
            {
                error.WriteLine("register: GitLab did not return a runner token");
                return 1;
            }

            var entry = new NewRunnerEntry(name, url!.Trim(), runnerToken, result.Credentials?.Id,
                parseResult.GetValue(namespaceOption)!, parseResult.GetValue(imageOption)!);
            IReadOnlyList<ConfigDiagnostic> problems;
            try
            {
                problems = ConfigWriter.AppendRunner(configPath, entry);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"register: cannot write {configPath}: {ex.Message}");
                return 2;
            }

            if (problems.Count > 0)
            {
                error.WriteLine($"register: {configPath} was not changed: with the new runner it would not load:");
                foreach (var problem in problems)
                {
                    error.WriteLine(problem.ToString());
                }

                return 2;
            }

            var id = result.Credentials is { } credentials ? $" (id {credentials.Id})" : "";
            output.WriteLine($"Runner {name}{id} registered; configuration written to {configPath}");
            return 0;
        });
        return command;
    }
}
