using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>The gzip and raw artifact formats GitLab expects for reports, made as GitLab Runner makes them.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ArtifactFormatsTests : IDisposable
{
    private readonly TemporaryDirectory _dir = new();
    private string Project => Path.Combine(_dir.Path, "project");

    public ArtifactFormatsTests()
    {
        _dir.Write("project/reports/unit.xml", "<testsuites><testsuite name=\"unit\"/></testsuites>\n");
        _dir.Write("project/reports/api.xml", "<testsuites><testsuite name=\"api\"/></testsuites>\n");
        _dir.Write("project/build.env", "VERSION=1.2.3\n");
    }

    public void Dispose() => _dir.Dispose();

    private (int Code, string Output, string Error) Run(string format, string output, params string[] paths)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = ArtifactsArchiver.Run(Project, output, paths, [], false, stdout, stderr, format);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Gzip_is_one_member_per_file_in_path_order_that_decompresses_to_their_concatenation()
    {
        var output = Path.Combine(_dir.Path, "out", "0.gz");
        Assert.Equal(0, Run("gzip", output, "reports/*.xml").Code);

        using (var gzip = new GZipStream(File.OpenRead(output), CompressionMode.Decompress))
        using (var reader = new StreamReader(gzip, Encoding.UTF8))
        {
            Assert.Equal("<testsuites><testsuite name=\"api\"/></testsuites>\n<testsuites><testsuite name=\"unit\"/></testsuites>\n",
                reader.ReadToEnd());
        }

        // Each member's header names its file (base name, then the relative path as the comment), as GitLab Runner writes it.
        var bytes = File.ReadAllBytes(output);
        Assert.Equal([0x1f, 0x8b, 8, 0x18], bytes[..4]);
        var headerStrings = Encoding.Latin1.GetString(bytes, 10, 40).Split('\0');
        Assert.Equal(("api.xml", "reports/api.xml"), (headerStrings[0], headerStrings[1]));
        Assert.Equal(2, CountMembers(bytes));
    }

    [Fact]
    public void Gzip_members_have_valid_checksums_for_the_system_gzip()
    {
        var output = Path.Combine(_dir.Path, "1.gz");
        File.WriteAllBytes(Path.Combine(Project, "big.bin"), Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7 % 251)).ToArray());
        Assert.Equal(0, Run("gzip", output, "big.bin", "build.env").Code);
        var (code, text) = Gzip("-t", output);
        Assert.True(code == 0, text);
        Assert.Equal(0xCBF43926u, ArtifactsGzip.Crc32.Append(0, "123456789"u8));
    }

    [Fact]
    public void Gzip_refuses_a_directory_in_the_selection_as_GitLab_Runner_does()
    {
        var output = Path.Combine(_dir.Path, "2.gz");
        var (code, _, error) = Run("gzip", output, "reports");
        Assert.Equal(1, code);
        Assert.Contains("the \"reports\" is not a regular file", error, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Raw_is_the_single_file_as_it_is()
    {
        var output = Path.Combine(_dir.Path, "3.raw");
        Assert.Equal(0, Run("raw", output, "build.env").Code);
        Assert.Equal("VERSION=1.2.3\n", File.ReadAllText(output));
    }

    [Fact]
    public void Raw_with_more_than_one_file_fails_and_makes_nothing()
    {
        var output = Path.Combine(_dir.Path, "4.raw");
        var (code, _, error) = Run("raw", output, "reports/*.xml");
        Assert.Equal(1, code);
        Assert.Contains("only one file can be sent as raw", error, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void An_unknown_format_is_a_usage_error()
    {
        var (code, _, error) = Run("tarzstd", Path.Combine(_dir.Path, "5"), "build.env");
        Assert.Equal(2, code);
        Assert.Contains("unsupported artifact format 'tarzstd'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("junit.xml", "gzip", "junit.xml.gz")]
    [InlineData(".env", "gzip", ".env.gz")]
    [InlineData("reports/junit", "gzip", "junit.gz")]
    [InlineData("out/", "zip", "out.zip")]
    [InlineData(".", "zip", "artifacts.zip")]
    [InlineData("metrics.txt", "raw", "metrics.txt")]
    public void Upload_file_name_is_the_names_last_component_with_the_formats_extension(string name, string format, string expected) =>
        Assert.Equal(expected, ArtifactsUploaderCommand.ArchiveFileName(name, format));

    private static int CountMembers(byte[] bytes)
    {
        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        gzip.CopyTo(Stream.Null);
        var count = 0;
        for (var i = 0; i + 3 < bytes.Length; i++)
        {
            if (bytes[i] == 0x1f && bytes[i + 1] == 0x8b && bytes[i + 2] == 8 && bytes[i + 3] == 0x18)
            {
                count++;
            }
        }

        return count;
    }

    private static (int Code, string Output) Gzip(params string[] args)
    {
        var start = new ProcessStartInfo("gzip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var text = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, text);
    }
}
