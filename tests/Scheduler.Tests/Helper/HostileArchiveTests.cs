using System.IO.Compression;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>Archives made by a job (a cache, a dependency's artifacts) are extracted by the helper in later jobs: a zip
/// bomb, too many entries or a setuid file are refused or neutralised.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileArchiveTests : IDisposable
{
    private readonly TemporaryDirectory _dir = new();
    private string Target => Path.Combine(_dir.Path, "target");
    private string Zip => Path.Combine(_dir.Path, "hostile.zip");

    public void Dispose() => _dir.Dispose();

    private void Make(Action<ZipArchive> fill)
    {
        using var archive = ZipFile.Open(Zip, ZipArchiveMode.Create);
        fill(archive);
    }

    private static void Write(ZipArchive archive, string name, int unixMode, byte[] content, int type = 0x8000)
    {
        var entry = archive.CreateEntry(name, CompressionLevel.SmallestSize);
        entry.ExternalAttributes = (type | unixMode) << 16;
        using var stream = entry.Open();
        stream.Write(content);
    }

    [Theory]
    [InlineData(0b110_111_101_101, 0b111_101_101)] // setuid + setgid, rwxr-xr-x
    [InlineData(0b001_111_111_111, 0b111_111_111)] // sticky, rwxrwxrwx
    [InlineData(0b100_110_100_100, 0b110_100_100)] // setuid, rw-r--r--
    public void Setuid_setgid_and_sticky_bits_are_dropped(int archived, int extracted)
    {
        Make(archive => Write(archive, "tool", archived, "#!/bin/sh\n"u8.ToArray()));

        ZipArchives.Extract(Zip, Target);

        Assert.Equal((UnixFileMode)extracted, File.GetUnixFileMode(Path.Combine(Target, "tool")));
    }

    [Fact]
    public void A_zip_bomb_stops_at_the_size_limit()
    {
        // 64 MiB of zeros compress to a few KiB.
        Make(archive => Write(archive, "bomb", 0x1A4, new byte[64 * 1024 * 1024]));
        Assert.True(new FileInfo(Zip).Length < 1024 * 1024);

        var error = Assert.Throws<InvalidDataException>(() => ZipArchives.Extract(Zip, Target, new ExtractLimits(10, 1024 * 1024)));

        Assert.Contains("over the 1048576 bytes allowed", error.Message, StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(Target, "bomb")).Length <= 1024 * 1024);
    }

    [Fact]
    public void The_size_limit_counts_every_entry()
    {
        Make(archive =>
        {
            for (var i = 0; i < 5; i++)
            {
                Write(archive, $"part{i}", 0x1A4, new byte[300 * 1024]);
            }
        });

        Assert.Throws<InvalidDataException>(() => ZipArchives.Extract(Zip, Target, new ExtractLimits(10, 1024 * 1024)));
        Assert.Equal(5, ZipArchives.Extract(Zip, Path.Combine(_dir.Path, "ok"), new ExtractLimits(10, 2 * 1024 * 1024)));
    }

    [Fact]
    public void Too_many_entries_are_refused_before_anything_is_written()
    {
        Make(archive =>
        {
            for (var i = 0; i < 101; i++)
            {
                Write(archive, $"f{i}", 0x1A4, []);
            }
        });

        var error = Assert.Throws<InvalidDataException>(() => ZipArchives.Extract(Zip, Target, new ExtractLimits(100, 1024)));

        Assert.Contains("101 entries, more than the 100 allowed", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Target) && Directory.EnumerateFileSystemEntries(Target).Any());
    }

    [Fact]
    public void The_entry_count_is_read_from_a_zip64_end_record()
    {
        Make(archive =>
        {
            for (var i = 0; i < 70_000; i++)
            {
                archive.CreateEntry($"d{i}/", CompressionLevel.NoCompression);
            }
        });

        Assert.Equal(70_000, ZipArchives.DeclaredEntries(Zip));
        var error = Assert.Throws<InvalidDataException>(() => ZipArchives.Extract(Zip, Target, new ExtractLimits(65_000, 1024)));
        Assert.Contains("70000 entries", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_link_with_a_huge_target_is_refused()
    {
        Make(archive => Write(archive, "link", 0x1FF, new byte[1024 * 1024].Select(_ => (byte)'a').ToArray(), type: 0xA000));

        var error = Assert.Throws<InvalidDataException>(() => ZipArchives.Extract(Zip, Target));

        Assert.Contains("longer than 4096 bytes", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Target, "link")));
    }

    [Fact]
    public void A_refused_cache_is_a_failed_extraction_with_the_reason()
    {
        Make(archive => Write(archive, "link", 0x1FF, [], type: 0xA000));
        var error = new StringWriter();

        Assert.Equal(1, CacheExtractor.Run(Target, Zip, new StringWriter(), error));
        Assert.Contains("symbolic link whose target is empty", error.ToString(), StringComparison.Ordinal);
    }
}
