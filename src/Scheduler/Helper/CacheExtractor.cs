namespace Scheduler.Helper;

/// <summary><c>scheduler helper cache-extractor --file F [--url-file U | --url URL] [--timeout MINUTES]</c>: with a URL, first
/// downloads the archive from the distributed cache into F (a 404 is "no cache yet", not a fault); then extracts F into
/// the working directory. A missing archive is a failure (exit 1) that the stage script reports as a warning and answers
/// with the next fallback key, as GitLab Runner does.</summary>
public static class CacheExtractor
{
    public static int Run(string projectDir, string file, TextWriter output, TextWriter error) =>
        RunAsync(projectDir, file, null, null, output, error, TimeSpan.FromSeconds(1), CancellationToken.None).GetAwaiter().GetResult();

    public static async Task<int> RunAsync(string projectDir, string file, string? url, HttpClient? http, TextWriter output, TextWriter error,
        TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        if (url is not null && http is not null)
        {
            try
            {
                if (await CacheTransfer.DownloadAsync(http, url, file, output, error, retryDelay, cancellationToken) == CacheDownload.Failed)
                {
                    return 1;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"cache-extractor: {file}: {e.Message}");
                return 1;
            }
        }

        if (!File.Exists(file))
        {
            error.WriteLine($"cache-extractor: {file}: file does not exist");
            return 1;
        }

        try
        {
            var count = ZipArchives.Extract(file, projectDir);
            output.WriteLine($"Extracted {count} files and directories from {file}");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            error.WriteLine($"cache-extractor: {file}: {e.Message}");
            return 1;
        }
    }
}
