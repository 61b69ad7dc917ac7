namespace Scheduler.Helper;

/// <summary><c>scheduler helper artifacts-archiver --output F --path P… [--exclude E…] [--untracked]</c>: archives the
/// selected files of the working directory for upload. Nothing selected is a warning, not a failure, and makes no archive
/// (GitLab Runner: "No files to upload").</summary>
public static class ArtifactsArchiver
{
    public static int Run(string projectDir, string outputFile, IReadOnlyList<string> paths, IReadOnlyList<string> excludes, bool untracked,
        TextWriter output, TextWriter error)
    {
        output.WriteLine("Uploading artifacts...");
        try
        {
            var entries = FileSelection.Select(projectDir, paths, excludes, untracked, output);
            if (entries.Count == 0)
            {
                output.WriteLine("ERROR: No files to upload");
                return 0;
            }

            ZipArchives.Create(projectDir, entries, outputFile);
            output.WriteLine($"Artifacts archive {outputFile}: {entries.Count} files and directories");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"artifacts-archiver: {e.Message}");
            return 1;
        }
    }
}
