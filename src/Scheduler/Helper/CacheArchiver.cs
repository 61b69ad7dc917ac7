namespace Scheduler.Helper;

/// <summary><c>scheduler helper cache-archiver --file F --path P… [--untracked] [--url-file U | --url URL]
/// [--max-uploaded-archive-size BYTES] [--timeout MINUTES]</c>: archives the selected files of the working directory into
/// the cache file, then, with a URL, uploads it to the distributed cache, unless it is larger than the limit (then it stays
/// in the pod only, with GitLab Runner's message). Nothing selected leaves an existing cache as it is.</summary>
public static class CacheArchiver
{
    public static int Run(string projectDir, string file, IReadOnlyList<string> paths, bool untracked, TextWriter output, TextWriter error) =>
        RunAsync(projectDir, file, paths, untracked, null, null, 0, output, error, TimeSpan.FromSeconds(1), CancellationToken.None)
            .GetAwaiter().GetResult();

    public static async Task<int> RunAsync(string projectDir, string file, IReadOnlyList<string> paths, bool untracked, string? url,
        HttpClient? http, long maxUploadedArchiveSize, TextWriter output, TextWriter error, TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        long size;
        try
        {
            var entries = FileSelection.Select(projectDir, paths, [], untracked, output);
            if (entries.Count == 0)
            {
                output.WriteLine("WARNING: no files to archive; the cache is left as it was");
                return 0;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
            ZipArchives.Create(projectDir, entries, file);
            size = new FileInfo(file).Length;
            output.WriteLine($"Cache archive {file}: {entries.Count} files and directories");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"cache-archiver: {e.Message}");
            return 1;
        }

        if (url is null || http is null)
        {
            return 0;
        }

        if (maxUploadedArchiveSize > 0 && size > maxUploadedArchiveSize)
        {
            output.WriteLine($"Cache archive size ({size}) is too big (Limit is set to {maxUploadedArchiveSize}). Cache will be stored only locally.");
            return 0;
        }

        try
        {
            return await CacheTransfer.UploadAsync(http, url, file, output, error, retryDelay, cancellationToken) ? 0 : 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"cache-archiver: {file}: {e.Message}");
            return 1;
        }
    }
}
