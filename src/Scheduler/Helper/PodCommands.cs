using System.CommandLine;

namespace Scheduler.Helper;

/// <summary>The helper commands that run in job pods: log reading, cache archives and transfers, artifact archives and
/// their upload and download (these through <see cref="GitLab.GitLabArtifacts"/>, not the runner's GitLab client).
/// <c>scheduler helper …</c> and the native <c>scheduler-helper</c> (src/PodHelper) both register these, so the two run
/// the same code. Exit codes: 0 ok, 1 failure with a one-line reason on stderr (usage
/// errors included), 2 for a cache URL that cannot be read.</summary>
public static class PodCommands
{
    /// <summary>The subcommands defined here, by name: what the native helper can run.</summary>
    public static IReadOnlyList<string> Names { get; } =
        ["read-log", "cache-archiver", "cache-extractor", "artifacts-archiver", "artifacts-uploader", "artifacts-downloader"];

    /// <summary>A new instance of each command (System.CommandLine commands have one parent).</summary>
    public static IEnumerable<Command> Create() =>
        [ReadLogCommand(), CacheArchiverCommand(), CacheExtractorCommand(), ArtifactsArchiverCommand(),
            ArtifactsUploaderCommand.Create(), ArtifactsDownloaderCommand.Create()];

    private static Command ReadLogCommand()
    {
        var path = new Option<string>("--path") { Description = "The log file", Required = true };
        var offset = new Option<long>("--offset") { Description = "Byte offset to start at", DefaultValueFactory = _ => 0 };
        var follow = new Option<bool>("--follow") { Description = "Keep streaming as the file grows, until cancelled" };
        var pollMs = new Option<int>("--poll-ms") { Description = "The longest wait in milliseconds between reads when following (the first is 1 ms after new bytes)", DefaultValueFactory = _ => 200 };
        var command = new Command("read-log", "Stream a file from a byte offset to stdout") { path, offset, follow, pollMs };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var from = parse.GetValue(offset);
            var poll = parse.GetValue(pollMs);
            if (from < 0 || poll <= 0)
            {
                parse.InvocationConfiguration.Error.WriteLine("read-log: --offset must be >= 0 and --poll-ms > 0");
                return 1;
            }

            await using var stdout = Console.OpenStandardOutput();
            ReadLog.TryEnlargePipe(1, ReadLog.PipeBytes);
            try
            {
                return await ReadLog.RunAsync(parse.GetValue(path)!, from, parse.GetValue(follow), TimeSpan.FromMilliseconds(poll), stdout, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                parse.InvocationConfiguration.Error.WriteLine($"read-log: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Command CacheArchiverCommand()
    {
        var file = new Option<string>("--file") { Description = "The cache archive to write", Required = true };
        var paths = new Option<string[]>("--path") { Description = "A path or glob to archive (repeatable)" };
        var untracked = new Option<bool>("--untracked") { Description = "Add the files git does not track" };
        var (url, urlFile, timeout) = CacheUrlOptions("Pre-signed URL to upload the archive to");
        var maxSize = new Option<long>("--max-uploaded-archive-size") { Description = "Do not upload an archive larger than this (bytes; 0: no limit)" };
        var command = new Command("cache-archiver", "Archive the working directory's cache paths, and upload the archive") { file, paths, untracked, url, urlFile, timeout, maxSize };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (ReadCacheUrl(parse, url, urlFile, timeout, "cache-archiver") is not { } target)
            {
                return 2;
            }

            using var http = target.Url is null ? null : CacheTransfer.CreateClient(target.Timeout);
            return await CacheArchiver.RunAsync(Environment.CurrentDirectory, parse.GetValue(file)!, parse.GetValue(paths) ?? [],
                parse.GetValue(untracked), target.Url, http, parse.GetValue(maxSize), parse.InvocationConfiguration.Output,
                parse.InvocationConfiguration.Error, TimeSpan.FromSeconds(1), cancellationToken);
        });
        return command;
    }

    private static Command CacheExtractorCommand()
    {
        var file = new Option<string>("--file") { Description = "The cache archive to extract", Required = true };
        var (url, urlFile, timeout) = CacheUrlOptions("Pre-signed URL to download the archive from");
        var command = new Command("cache-extractor", "Download a cache archive and extract it into the working directory") { file, url, urlFile, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (ReadCacheUrl(parse, url, urlFile, timeout, "cache-extractor") is not { } target)
            {
                return 2;
            }

            using var http = target.Url is null ? null : CacheTransfer.CreateClient(target.Timeout);
            return await CacheExtractor.RunAsync(Environment.CurrentDirectory, parse.GetValue(file)!, target.Url, http,
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, TimeSpan.FromSeconds(1), cancellationToken);
        });
        return command;
    }

    // GitLab Runner's --url and --timeout (minutes, default 10); --url-file reads the URL from a file so that it is on no
    // command line (the stage scripts use it with the job Secret's file).
    private static (Option<string?> Url, Option<string?> UrlFile, Option<int> Timeout) CacheUrlOptions(string what) =>
    (
        new Option<string?>("--url") { Description = what },
        new Option<string?>("--url-file") { Description = "A file that holds the URL" },
        new Option<int>("--timeout") { Description = "Minutes the transfer may take", DefaultValueFactory = _ => 10 }
    );

    private sealed record CacheTarget(string? Url, TimeSpan Timeout);

    private static CacheTarget? ReadCacheUrl(ParseResult parse, Option<string?> url, Option<string?> urlFile, Option<int> timeout, string name)
    {
        var minutes = parse.GetValue(timeout);
        var value = CacheTransfer.ReadUrl(parse.GetValue(url), parse.GetValue(urlFile), out var problem);
        if (problem.Length > 0 || minutes <= 0)
        {
            parse.InvocationConfiguration.Error.WriteLine($"{name}: {(problem.Length > 0 ? problem : "--timeout must be at least 1 minute")}");
            return null;
        }

        return new CacheTarget(value, TimeSpan.FromMinutes(minutes));
    }

    private static Command ArtifactsArchiverCommand()
    {
        var output = new Option<string>("--output") { Description = "The archive to write", Required = true };
        var paths = new Option<string[]>("--path") { Description = "A path or glob to archive (repeatable)" };
        var excludes = new Option<string[]>("--exclude") { Description = "A path or glob to leave out (repeatable)" };
        var untracked = new Option<bool>("--untracked") { Description = "Add the files git does not track" };
        var format = new Option<string>("--format") { Description = "zip, gzip or raw", DefaultValueFactory = _ => "zip" };
        var command = new Command("artifacts-archiver", "Archive the working directory's artifact paths") { output, paths, excludes, untracked, format };
        command.SetAction(parse => ArtifactsArchiver.Run(Environment.CurrentDirectory, parse.GetValue(output)!, parse.GetValue(paths) ?? [],
            parse.GetValue(excludes) ?? [], parse.GetValue(untracked), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
            parse.GetValue(format)!));
        return command;
    }
}
