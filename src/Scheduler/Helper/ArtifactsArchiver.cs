namespace Scheduler.Helper;

/// <summary><c>scheduler helper artifacts-archiver --output F --path P… [--exclude E…] [--untracked] [--format zip|gzip|raw]</c>:
/// archives the selected files of the working directory for upload, in the artifact's format as GitLab Runner makes it:
/// <c>zip</c> an archive of files, directories and symlinks; <c>gzip</c> one gzip member per regular file, concatenated
/// in path order (<see cref="ArtifactsGzip"/>); <c>raw</c> the single selected file as it is. Nothing selected is a
/// warning, not a failure, and makes no archive (GitLab Runner: "No files to upload").</summary>
public static class ArtifactsArchiver
{
    public static readonly IReadOnlyList<string> Formats = ["zip", "gzip", "raw"];

    public static int Run(string projectDir, string outputFile, IReadOnlyList<string> paths, IReadOnlyList<string> excludes, bool untracked,
        TextWriter output, TextWriter error, string format = "zip")
    {
        if (!Formats.Contains(format))
        {
            error.WriteLine($"artifacts-archiver: unsupported artifact format '{format}' (zip, gzip or raw)");
            return 2;
        }

        output.WriteLine("Uploading artifacts...");
        try
        {
            var entries = FileSelection.Select(projectDir, paths, excludes, untracked, output);
            if (entries.Count == 0)
            {
                output.WriteLine("ERROR: No files to upload");
                return 0;
            }

            switch (format)
            {
                case "gzip":
                    ArtifactsGzip.Create(projectDir, entries, outputFile);
                    break;
                case "raw":
                    CreateRaw(projectDir, entries, outputFile);
                    break;
                default:
                    ZipArchives.Create(projectDir, entries, outputFile);
                    break;
            }

            output.WriteLine($"Artifacts archive {outputFile}: {entries.Count} files and directories");
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            error.WriteLine($"artifacts-archiver: {e.Message}");
            return 1;
        }
    }

    // GitLab Runner's raw archiver sends exactly one file; more is an error, not a silent pick.
    private static void CreateRaw(string projectDir, IReadOnlyList<string> entries, string outputFile)
    {
        if (entries.Count > 1)
        {
            throw new InvalidDataException($"only one file can be sent as raw ({entries.Count} selected)");
        }

        var source = ArtifactsGzip.RegularFile(projectDir, entries[0]);
        var directory = Path.GetDirectoryName(Path.GetFullPath(outputFile))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(outputFile) + "." + Environment.ProcessId + ".tmp");
        File.Copy(source.FullName, temporary, overwrite: true);
        File.Move(temporary, outputFile, overwrite: true);
    }
}
