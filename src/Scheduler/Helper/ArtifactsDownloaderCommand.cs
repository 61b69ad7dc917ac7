using System.CommandLine;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Helper;

/// <summary>
/// <c>scheduler helper artifacts-downloader --url U --id ID --token-file F --output file.zip [--extract-to DIR]</c>:
/// downloads the artifacts of job ID (<c>GET /jobs/:id/artifacts</c>) and optionally extracts the zip. The archive is
/// written to a temporary file and moved into place only when complete; extraction keeps modes and links and refuses
/// entries that would land outside the folder. As GitLab Runner: 401/403 (permission) and 404 (expired or removed) are
/// final; other failures are retried twice. What it prints goes to the job's trace. Exit 0 when done, 1 when not, 2 for
/// bad arguments.
/// </summary>
internal static class ArtifactsDownloaderCommand
{
    public const int MaxAttempts = 3;

    internal static Command Create()
    {
        var urlOption = new Option<string?>("--url") { Description = "GitLab URL" };
        var idOption = new Option<long>("--id") { Description = "Id of the job whose artifacts to download" };
        var tokenFileOption = new Option<string?>("--token-file") { Description = "File holding the token for the download" };
        var outputOption = new Option<string?>("--output") { Description = "Where to write the archive" };
        var extractOption = new Option<string?>("--extract-to") { Description = "Extract the zip archive into this folder" };
        var command = new Command("artifacts-downloader", "Download a job's artifacts archive from GitLab");
        foreach (var option in new Option[] { urlOption, idOption, tokenFileOption, outputOption, extractOption })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var jobId = parseResult.GetValue(idOption);
            var target = parseResult.GetValue(outputOption);
            if (!GitLabUrl.TryApiBase(parseResult.GetValue(urlOption), out var apiBase, out var urlError))
            {
                error.WriteLine($"artifacts-downloader: {urlError}");
                return 2;
            }

            if (jobId <= 0 || string.IsNullOrEmpty(target))
            {
                error.WriteLine("artifacts-downloader: --id (a positive job id) and --output FILE are required");
                return 2;
            }

            if (!HelperArguments.TryReadToken(parseResult.GetValue(tokenFileOption), out var token, out var tokenError))
            {
                error.WriteLine($"artifacts-downloader: {tokenError}");
                return 2;
            }

            using var http = GitLabHttp.CreateClient();
            var client = new GitLabArtifacts(http, apiBase, GitLabArtifacts.UserAgent(RunnerIdentity.Current()));
            var partial = target + ".part";
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"artifacts-downloader: cannot create the folder of {target}: {HelperArguments.Describe(ex)}");
                return 1;
            }

            ArtifactsResult result;
            for (var attempt = 1; ; attempt++)
            {
                await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write))
                {
                    result = await client.DownloadAsync(jobId, token, file, cancellationToken);
                }

                if (result.Outcome == ArtifactsOutcome.Succeeded)
                {
                    break;
                }

                const string what = "Downloading artifacts from coordinator...";
                if (result.Outcome is not (ArtifactsOutcome.Retry or ArtifactsOutcome.Failed) || attempt >= MaxAttempts)
                {
                    File.Delete(partial);
                    error.WriteLine($"ERROR: {what} {result.Message}  id={jobId} attempt={attempt}");
                    error.WriteLine(result.Outcome switch
                    {
                        ArtifactsOutcome.NotFound => $"FATAL: the artifacts of job {jobId} do not exist: they expired or were removed",
                        ArtifactsOutcome.Forbidden => $"FATAL: permission denied for the artifacts of job {jobId}",
                        _ => $"FATAL: the artifacts of job {jobId} were not downloaded",
                    });
                    return 1;
                }

                error.WriteLine($"WARNING: {what} {result.Message}  id={jobId} attempt={attempt}: retrying");
                await Task.Delay(Backoff.Delay(attempt, result.RetryAfter), cancellationToken);
            }

            File.Move(partial, target, overwrite: true);
            output.WriteLine($"Downloading artifacts from coordinator... ok  id={jobId} responseStatus=200 OK ({result.Bytes} bytes)");
            if (parseResult.GetValue(extractOption) is { Length: > 0 } directory)
            {
                int entries;
                try
                {
                    Directory.CreateDirectory(directory);
                    entries = ZipArchives.Extract(target, directory);
                }
                catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    error.WriteLine($"ERROR: cannot extract the artifacts of job {jobId}: {HelperArguments.Describe(ex)}");
                    return 1;
                }

                output.WriteLine($"Extracted {entries} files and directories to {Path.GetFullPath(directory)}");
            }

            return 0;
        });
        return command;
    }
}
