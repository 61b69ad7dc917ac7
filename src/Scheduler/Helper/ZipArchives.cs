using System.Buffers.Binary;
using System.IO.Compression;

namespace Scheduler.Helper;

/// <summary>Zip archives of project files, with Unix modes and symlinks kept (as GitLab Runner's archiver does), written
/// to a temporary name and renamed so a reader never sees half an archive; extraction treats the archive as untrusted
/// (see <see cref="Extract"/>).</summary>
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

    /// <summary>Extracts <paramref name="archive"/> into <paramref name="root"/>. The archive comes from the job (a cache, a
    /// dependency's artifacts), so it is untrusted: entries may not land outside the root nor be written through a link,
    /// setuid, setgid and sticky bits are dropped, and the number of entries, the bytes written (counted as they are
    /// written, whatever the archive declares) and the length of a link's target are bounded by <paramref name="limits"/>
    /// (<see cref="ExtractLimits.Default"/>): past a limit the extraction stops with an <see cref="InvalidDataException"/>.</summary>
    /// <returns>The number of entries extracted.</returns>
    public static int Extract(string archive, string root, ExtractLimits? limits = null)
    {
        limits ??= ExtractLimits.Default;
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        // The entry count is read from the archive's end record first: opening it reads its whole central directory.
        if (DeclaredEntries(archive) is { } declared && declared > limits.MaxEntries)
        {
            throw new InvalidDataException($"the archive has {declared} entries, more than the {limits.MaxEntries} allowed");
        }

        using var zip = ZipFile.OpenRead(archive);
        if (zip.Entries.Count > limits.MaxEntries)
        {
            throw new InvalidDataException($"the archive has {zip.Entries.Count} entries, more than the {limits.MaxEntries} allowed");
        }

        var count = 0;
        var written = 0L;
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
            // Permission bits only: a setuid or setgid file made by a job must not run as its owner in a later one.
            var mode = (entry.ExternalAttributes >> 16) & PermissionBits;
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
                    File.CreateSymbolicLink(destination, LinkTarget(entry, limits.MaxLinkTargetBytes));
                }
                else
                {
                    using (var input = entry.Open())
                    using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write))
                    {
                        written += CopyBounded(input, output, limits.MaxTotalBytes - written, entry.FullName, limits.MaxTotalBytes);
                    }

                    if (!OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(destination, (UnixFileMode)(mode != 0 ? mode : 0x1A4));
                    }
                }
            }

            count++;
        }

        return count;
    }

    private const int PermissionBits = 0x1FF; // rwxrwxrwx: no setuid, setgid or sticky bit

    private static long CopyBounded(Stream input, Stream output, long left, string name, long limit)
    {
        var buffer = new byte[81920];
        var total = 0L;
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
            if (total > left)
            {
                throw new InvalidDataException($"archive entry \"{name}\" takes the extracted size over the {limit} bytes allowed");
            }

            output.Write(buffer, 0, read);
        }

        return total;
    }

    private static string LinkTarget(ZipArchiveEntry entry, int limit)
    {
        using var input = entry.Open();
        var buffer = new byte[limit + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = input.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        if (length > limit || length == 0)
        {
            throw new InvalidDataException($"archive entry \"{entry.FullName}\" is a symbolic link whose target is empty or longer than {limit} bytes");
        }

        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>The entry count of the archive's end of central directory record (ZIP64 when it has one), or null when the
    /// record is not found (then the zip reader reports the archive as invalid).</summary>
    internal static long? DeclaredEntries(string archive)
    {
        using var file = new FileStream(archive, FileMode.Open, FileAccess.Read);
        // The record is 22 bytes plus a comment of at most 65535 bytes, at the end of the file.
        var tail = (int)Math.Min(file.Length, 22 + 65535);
        var buffer = new byte[tail];
        file.Seek(-tail, SeekOrigin.End);
        file.ReadExactly(buffer);
        for (var at = tail - 22; at >= 0; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(at)) != 0x06054b50)
            {
                continue;
            }

            long entries = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(at + 10));
            // ZIP64: a locator 20 bytes before the record points at the ZIP64 record, whose count is at offset 32.
            if (entries == 0xFFFF && at >= 20 && BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(at - 20)) == 0x07064b50)
            {
                var offset = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(at - 20 + 8));
                if (offset < 0 || offset > file.Length - 56)
                {
                    return null;
                }

                var record = new byte[56];
                file.Seek(offset, SeekOrigin.Begin);
                file.ReadExactly(record);
                return BinaryPrimitives.ReadUInt32LittleEndian(record) == 0x06064b50 ? BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(32)) : null;
            }

            return entries;
        }

        return null;
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

/// <summary>What an extraction may make: at most <paramref name="MaxEntries"/> entries and <paramref name="MaxTotalBytes"/>
/// bytes of file content, and link targets of at most <paramref name="MaxLinkTargetBytes"/> bytes.</summary>
public sealed record ExtractLimits(long MaxEntries, long MaxTotalBytes, int MaxLinkTargetBytes = 4096)
{
    /// <summary>500,000 entries and 10 GiB: more than a large dependency tree's cache, less than a zip bomb.</summary>
    public static ExtractLimits Default { get; } = new(500_000, 10L * 1024 * 1024 * 1024);
}
