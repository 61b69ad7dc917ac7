using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Scheduler.Helper;

/// <summary>The <c>gzip</c> artifact format as GitLab Runner writes it for reports: one gzip member (RFC 1952) per
/// selected regular file, in path order, concatenated into one stream; each member's header carries the file's base name,
/// its path relative to the project as the comment, and its modification time. GitLab reads the stream as one
/// decompressed text (junit, dotenv, …). A directory or symlink in the selection is an error, as in GitLab Runner.</summary>
public static class ArtifactsGzip
{
    private const byte FlagName = 0x08;
    private const byte FlagComment = 0x10;

    public static void Create(string root, IReadOnlyList<string> entries, string output)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, "." + Path.GetFileName(output) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                foreach (var relative in entries.Order(StringComparer.Ordinal))
                {
                    WriteMember(stream, RegularFile(root, relative), relative);
                }
            }

            File.Move(temporary, output, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The file at <paramref name="relative"/>, which must be a regular file (not a directory, not a symlink).</summary>
    public static FileInfo RegularFile(string root, string relative)
    {
        var info = new FileInfo(Path.Combine(root, relative));
        if (info.LinkTarget is not null || !info.Exists)
        {
            throw new InvalidDataException($"the \"{relative}\" is not a regular file");
        }

        return info;
    }

    private static void WriteMember(Stream output, FileInfo file, string relative)
    {
        var header = new MemoryStream();
        header.Write([0x1f, 0x8b, 8, FlagName | FlagComment]);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)Math.Clamp(new DateTimeOffset(file.LastWriteTimeUtc).ToUnixTimeSeconds(), 0, uint.MaxValue));
        header.Write(word);
        header.Write([0, 255]); // no extra flags; OS unknown, as Go's writer
        header.Write(Latin1(file.Name));
        header.WriteByte(0);
        header.Write(Latin1(relative));
        header.WriteByte(0);
        output.Write(header.GetBuffer(), 0, (int)header.Length);

        var crc = 0u;
        long size = 0;
        using (var input = file.OpenRead())
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            var buffer = new byte[81920];
            int read;
            while ((read = input.Read(buffer)) > 0)
            {
                crc = Crc32.Append(crc, buffer.AsSpan(0, read));
                size += read;
                deflate.Write(buffer, 0, read);
            }
        }

        BinaryPrimitives.WriteUInt32LittleEndian(word, crc);
        output.Write(word);
        BinaryPrimitives.WriteUInt32LittleEndian(word, unchecked((uint)size));
        output.Write(word);
    }

    // Header strings are ISO-8859-1 and end at NUL; other characters become '_' rather than fail the upload.
    private static byte[] Latin1(string text) =>
        Encoding.Latin1.GetBytes(text.Select(c => c is > '\0' and <= '\u00ff' ? c : '_').ToArray());

    /// <summary>CRC-32 (IEEE 802.3, reflected), the gzip trailer's checksum.</summary>
    internal static class Crc32
    {
        private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
        {
            var c = (uint)n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            return c;
        }).ToArray();

        public static uint Append(uint crc, ReadOnlySpan<byte> data)
        {
            var c = ~crc;
            foreach (var b in data)
            {
                c = Table[(c ^ b) & 0xff] ^ (c >> 8);
            }

            return ~c;
        }
    }
}
