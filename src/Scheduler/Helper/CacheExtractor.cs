namespace Scheduler.Helper;

/// <summary><c>scheduler helper cache-extractor --file F</c>: extracts a cache archive into the working directory.
/// A missing file is a failure (exit 1) that the stage script reports as a warning, as GitLab Runner does.</summary>
public static class CacheExtractor
{
    public static int Run(string projectDir, string file, TextWriter output, TextWriter error)
    {
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
