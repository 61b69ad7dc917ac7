using System.CommandLine;
using Scheduler.Helper;

namespace Scheduler.Cli;

/// <summary><c>scheduler helper …</c>: the commands stage scripts run in the job's pod (docs/execution.md). Exit codes: 0 ok,
/// 1 failure with a one-line reason on stderr (usage errors included).</summary>
internal static class HelperCommand
{
    internal static Command Create()
    {
        var command = new Command("helper", "Commands that run inside a job's pod: log reading, cache and artifact archives");
        command.Subcommands.Add(ReadLogCommand());
        command.Subcommands.Add(CacheArchiverCommand());
        command.Subcommands.Add(CacheExtractorCommand());
        command.Subcommands.Add(ArtifactsArchiverCommand());
        command.Subcommands.Add(Scheduler.Helper.ArtifactsUploaderCommand.Create());
        command.Subcommands.Add(Scheduler.Helper.ArtifactsDownloaderCommand.Create());
        return command;
    }

    private static Command ReadLogCommand()
    {
        var path = new Option<string>("--path") { Description = "The log file", Required = true };
        var offset = new Option<long>("--offset") { Description = "Byte offset to start at", DefaultValueFactory = _ => 0 };
        var follow = new Option<bool>("--follow") { Description = "Keep streaming as the file grows, until cancelled" };
        var pollMs = new Option<int>("--poll-ms") { Description = "Milliseconds between reads when following", DefaultValueFactory = _ => 200 };
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
        var command = new Command("cache-archiver", "Archive the working directory's cache paths") { file, paths, untracked };
        command.SetAction(parse => CacheArchiver.Run(Environment.CurrentDirectory, parse.GetValue(file)!, parse.GetValue(paths) ?? [],
            parse.GetValue(untracked), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private static Command CacheExtractorCommand()
    {
        var file = new Option<string>("--file") { Description = "The cache archive to extract", Required = true };
        var command = new Command("cache-extractor", "Extract a cache archive into the working directory") { file };
        command.SetAction(parse => CacheExtractor.Run(Environment.CurrentDirectory, parse.GetValue(file)!,
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
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
