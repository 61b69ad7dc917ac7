namespace Scheduler.Helper;

/// <summary><c>scheduler helper cache-archiver --file F --path P… [--untracked]</c>: archives the selected files of the
/// working directory into the cache file. Nothing selected leaves an existing cache as it is.</summary>
public static class CacheArchiver
{
    public static int Run(string projectDir, string file, IReadOnlyList<string> paths, bool untracked, TextWriter output, TextWriter error)
    {
        try
        {
            var entries = FileSelection.Select(projectDir, paths, [], untracked, output);
            if (entries.Count == 0)
            {
                output.WriteLine("WARNING: no files to archive; the cache is left as it was");
                return 0;
            }

            ZipArchives.Create(projectDir, entries, file);
            output.WriteLine($"Cache archive {file}: {entries.Count} files and directories");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"cache-archiver: {e.Message}");
            return 1;
        }
    }
}
