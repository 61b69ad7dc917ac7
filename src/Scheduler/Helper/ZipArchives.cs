using System.IO.Compression;

namespace Scheduler.Helper;

/// <summary>Zip archives of project files, with Unix modes and symlinks kept (as GitLab Runner's archiver does), written
/// to a temporary name and renamed so a reader never sees half an archive; extraction refuses entries that would land
/// outside the target directory.</summary>
public static class ZipArchives
{
    private const int SymlinkType = 0xA000; // S_IFLNK
    private const int DirectoryType = 0x4000; // S_IFDIR
    private const int RegularType = 0x8000; // S_IFREG

    public static void Create(string root, IReadOnlyList<string> entries, string output)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(output) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            using (var zip = new ZipArchive(stream, ZipArchiveMode.Create))
            {
                foreach (var relative in entries)
                {
                    var full = Path.Combine(root, relative);
                    var info = new FileInfo(full);
                    if (info.LinkTarget is { } target)
                    {
                        var link = zip.CreateEntry(relative, CompressionLevel.NoCompression);
                        link.ExternalAttributes = (SymlinkType | 0x1FF) << 16;
                        using var writer = new StreamWriter(link.Open());
                        writer.Write(target);
                    }
                    else if (Directory.Exists(full))
                    {
                        var dir = zip.CreateEntry(relative + "/", CompressionLevel.NoCompression);
                        dir.ExternalAttributes = (DirectoryType | Mode(full, 0x1ED)) << 16;
                    }
                    else if (info.Exists)
                    {
                        var file = zip.CreateEntryFromFile(full, relative, CompressionLevel.Fastest);
                        file.ExternalAttributes = (RegularType | Mode(full, 0x1A4)) << 16;
                    }
                }
            }

            File.Move(temporary, output, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <returns>The number of entries extracted.</returns>
    public static int Extract(string archive, string root)
    {
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        using var zip = ZipFile.OpenRead(archive);
        var count = 0;
        foreach (var entry in zip.Entries)
        {
            var destination = Path.GetFullPath(Path.Combine(target, entry.FullName));
            if (!destination.StartsWith(target + "/", StringComparison.Ordinal) && destination != target)
            {
                throw new InvalidDataException($"archive entry \"{entry.FullName}\" points outside {target}");
            }

            if (ThroughSymlink(target, destination))
            {
                throw new InvalidDataException($"archive entry \"{entry.FullName}\" would be written through a symbolic link");
            }

            var type = (entry.ExternalAttributes >> 16) & 0xF000;
            var mode = (entry.ExternalAttributes >> 16) & 0xFFF;
            if (entry.FullName.EndsWith('/') || type == DirectoryType)
            {
                Directory.CreateDirectory(destination);
            }
            else
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                if (File.Exists(destination) || new FileInfo(destination).LinkTarget is not null)
                {
                    File.Delete(destination);
                }

                if (type == SymlinkType)
                {
                    using var reader = new StreamReader(entry.Open());
                    File.CreateSymbolicLink(destination, reader.ReadToEnd());
                }
                else
                {
                    entry.ExtractToFile(destination, overwrite: true);
                    if (mode != 0 && !OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(destination, (UnixFileMode)mode);
                    }
                }
            }

            count++;
        }

        return count;
    }

    // An earlier entry may have made a link that points elsewhere: nothing is written below one.
    private static bool ThroughSymlink(string target, string destination)
    {
        var current = target;
        foreach (var part in Path.GetRelativePath(target, destination).Split('/').SkipLast(1))
        {
            current = Path.Combine(current, part);
            if (new FileInfo(current).LinkTarget is not null)
            {
                return true;
            }
        }

        return false;
    }

    private static int Mode(string path, int fallback) => OperatingSystem.IsWindows() ? fallback : (int)File.GetUnixFileMode(path);
}
