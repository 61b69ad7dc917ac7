using System.CommandLine;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Helper;

/// <summary>
/// <c>scheduler helper artifacts-uploader --url U --id ID --token-file F --file archive.zip [--name N] [--format zip]
/// [--type archive] [--expire-in X]</c>: uploads a job's artifact archive (<c>POST /jobs/:id/artifacts</c>). As GitLab
/// Runner: 503 is retried up to <see cref="MaxServiceUnavailableAttempts"/> attempts; 429, other 5xx and network errors up
/// to <see cref="MaxAttempts"/>; other 4xx (401/403 permission, 413 too large) are final. What it prints goes to the job's
/// trace. Exit 0 when uploaded, 1 when not, 2 for bad arguments.
/// </summary>
internal static class ArtifactsUploaderCommand
{
    public const int MaxAttempts = 3;
    public const int MaxServiceUnavailableAttempts = 6;

    internal static Command Create()
    {
        var urlOption = new Option<string?>("--url") { Description = "GitLab URL" };
        var idOption = new Option<long>("--id") { Description = "Job id" };
        var tokenFileOption = new Option<string?>("--token-file") { Description = "File holding the job token" };
        var fileOption = new Option<string?>("--file") { Description = "The archive to upload" };
        var nameOption = new Option<string>("--name") { Description = "Artifact name", DefaultValueFactory = _ => "artifacts" };
        var formatOption = new Option<string>("--format") { Description = "zip, gzip or raw", DefaultValueFactory = _ => "zip" };
        var typeOption = new Option<string>("--type") { Description = "Artifact type (archive, junit, …)", DefaultValueFactory = _ => "archive" };
        var expireInOption = new Option<string?>("--expire-in") { Description = "How long GitLab keeps the artifacts (e.g. 7d)" };
        var command = new Command("artifacts-uploader", "Upload a job's artifacts archive to GitLab");
        foreach (var option in new Option[] { urlOption, idOption, tokenFileOption, fileOption, nameOption, formatOption, typeOption, expireInOption })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var jobId = parseResult.GetValue(idOption);
            var file = parseResult.GetValue(fileOption);
            if (!GitLabUrl.TryApiBase(parseResult.GetValue(urlOption), out var apiBase, out var urlError))
            {
                error.WriteLine($"artifacts-uploader: {urlError}");
                return 2;
            }

            if (jobId <= 0)
            {
                error.WriteLine("artifacts-uploader: --id must be a positive job id");
                return 2;
            }

            if (!HelperArguments.TryReadToken(parseResult.GetValue(tokenFileOption), out var token, out var tokenError))
            {
                error.WriteLine($"artifacts-uploader: {tokenError}");
                return 2;
            }

            if (string.IsNullOrEmpty(file) || !File.Exists(file))
            {
                error.WriteLine($"artifacts-uploader: the archive '{file}' does not exist");
                return 2;
            }

            var format = parseResult.GetValue(formatOption)!;
            var type = parseResult.GetValue(typeOption);
            var fileName = ArchiveFileName(parseResult.GetValue(nameOption)!, format);
            var what = $"Uploading artifacts as \"{type}\" to coordinator...";
            using var http = GitLabHttp.CreateClient();
            var client = new GitLabArtifacts(http, apiBase, GitLabArtifacts.UserAgent(RunnerIdentity.Current()));
            for (var attempt = 1; ; attempt++)
            {
                await using var archive = File.OpenRead(file);
                var result = await client.UploadAsync(jobId, token, archive, fileName, format, type,
                    parseResult.GetValue(expireInOption), cancellationToken);
                if (result.Outcome == ArtifactsOutcome.Succeeded)
                {
                    output.WriteLine($"{what} 201 Created  id={jobId} file={fileName} ({result.Bytes} bytes)");
                    return 0;
                }

                var limit = result.StatusCode == 503 ? MaxServiceUnavailableAttempts : MaxAttempts;
                if (result.Outcome != ArtifactsOutcome.Retry || attempt >= limit)
                {
                    error.WriteLine($"ERROR: {what} {result.Message}  id={jobId} attempt={attempt}");
                    error.WriteLine(result.Outcome switch
                    {
                        ArtifactsOutcome.TooLarge => "FATAL: too large: the archive exceeds the maximum artifacts size GitLab accepts",
                        ArtifactsOutcome.Forbidden => "FATAL: permission denied: the job token was refused",
                        _ => "FATAL: the artifacts were not uploaded",
                    });
                    return 1;
                }

                error.WriteLine($"WARNING: {what} {result.Message}  id={jobId} attempt={attempt}: retrying");
                await Task.Delay(Backoff.Delay(attempt, result.RetryAfter), cancellationToken);
            }
        });
        return command;
    }

    /// <summary>The multipart file name: the artifact name's last path component (as GitLab Runner) with the extension of its
    /// format (.zip, .gz, none for raw).</summary>
    public static string ArchiveFileName(string name, string format)
    {
        name = name.Trim().TrimEnd('/');
        name = name[(name.LastIndexOf('/') + 1)..];
        if (name is "." or "..")
        {
            name = "";
        }

        var extension = format switch
        {
            "zip" or "zipzstd" => ".zip",
            "gzip" => ".gz",
            "tarzstd" => ".tar.zst",
            _ => "",
        };
        var baseName = string.IsNullOrWhiteSpace(name) ? "artifacts" : name;
        return extension.Length > 0 && baseName.EndsWith(extension, StringComparison.OrdinalIgnoreCase) ? baseName : baseName + extension;
    }
}
