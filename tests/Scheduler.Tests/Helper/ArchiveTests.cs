using System.IO.Compression;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ArchiveTests : IDisposable
{
    private readonly TemporaryDirectory _dir = new();
    private string Project => Path.Combine(_dir.Path, "project");

    public ArchiveTests()
    {
        foreach (var file in new[] { "a.txt", "b.log", "src/main.c", "src/lib/util.c", "src/lib/util.o", "build/out/app", "build/out/app.tmp", "docs/x.md" })
        {
            _dir.Write("project/" + file, "content of " + file);
        }
    }

    public void Dispose() => _dir.Dispose();

    private string[] Archive(string[] paths, string[]? excludes = null, bool untracked = false)
    {
        var output = new StringWriter();
        var zip = Path.Combine(_dir.Path, "out", "artifacts.zip");
        if (File.Exists(zip))
        {
            File.Delete(zip);
        }
        Assert.Equal(0, ArtifactsArchiver.Run(Project, zip, paths, excludes ?? [], untracked, output, new StringWriter()));
        if (!File.Exists(zip))
        {
            return [];
        }

        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Select(e => e.FullName).Where(n => !n.EndsWith('/')).Order(StringComparer.Ordinal).ToArray();
    }

    public static TheoryData<string[], string[], string[]> Selections => new()
    {
        { ["a.txt"], [], ["a.txt"] },
        { ["*.txt"], [], ["a.txt"] },
        { ["src"], [], ["src/lib/util.c", "src/lib/util.o", "src/main.c"] },
        { ["src/"], [], ["src/lib/util.c", "src/lib/util.o", "src/main.c"] },
        { ["./src/*.c"], [], ["src/main.c"] },
        { ["src/**/*.c"], [], ["src/lib/util.c", "src/main.c"] },
        { ["**/*.c"], [], ["src/lib/util.c", "src/main.c"] },
        { ["src"], ["**/*.o"], ["src/lib/util.c", "src/main.c"] },
        { ["build/out"], ["build/out/*.tmp"], ["build/out/app"] },
        { ["?.txt", "b.lo[gx]"], [], ["a.txt", "b.log"] },
        { ["docs/../a.txt"], [], ["a.txt"] },
        { ["missing/*"], [], [] },
        { ["../outside.txt", "/etc/passwd"], [], [] },
    };

    [Theory]
    [MemberData(nameof(Selections))]
    public void Artifacts_select_files_like_GitLab(string[] paths, string[] excludes, string[] expected) =>
        Assert.Equal(expected, Archive(paths, excludes));

    [Fact]
    public void Messages_say_what_was_found()
    {
        var output = new StringWriter();
        ArtifactsArchiver.Run(Project, Path.Combine(_dir.Path, "a.zip"), ["src", "nothing-here", "../up"], [], false, output, new StringWriter());
        var text = output.ToString();
        Assert.StartsWith("Uploading artifacts...\n", text, StringComparison.Ordinal);
        Assert.Contains("src: found 5 matching artifact files and directories", text, StringComparison.Ordinal);
        Assert.Contains("WARNING: nothing-here: no matching files", text, StringComparison.Ordinal);
        Assert.Contains("WARNING: ../up: not in the project directory", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Nothing_selected_makes_no_archive_and_does_not_fail()
    {
        var output = new StringWriter();
        var zip = Path.Combine(_dir.Path, "none.zip");
        Assert.Equal(0, ArtifactsArchiver.Run(Project, zip, ["nope"], [], false, output, new StringWriter()));
        Assert.False(File.Exists(zip));
        Assert.Contains("ERROR: No files to upload", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Untracked_adds_the_files_git_does_not_track()
    {
        Git("init", "-q");
        Git("add", "a.txt", "src/main.c");
        Assert.Equal(["b.log", "build/out/app", "build/out/app.tmp", "docs/x.md", "src/lib/util.c", "src/lib/util.o"],
            Archive([], untracked: true));
        Assert.Equal(["a.txt", "b.log", "build/out/app", "docs/x.md", "src/lib/util.c", "src/lib/util.o"],
            Archive(["a.txt"], ["**/*.tmp"], untracked: true));
    }

    [Fact]
    public void Cache_round_trip_keeps_content_modes_and_links()
    {
        File.SetUnixFileMode(Path.Combine(Project, "build/out/app"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.CreateSymbolicLink(Path.Combine(Project, "build/current"), "out/app");
        var cache = Path.Combine(_dir.Path, "cache", "group", "proj", "key", "cache.zip");
        Assert.Equal(0, CacheArchiver.Run(Project, cache, ["build", "src/*.c"], false, new StringWriter(), new StringWriter()));

        var restored = Path.Combine(_dir.Path, "restored");
        Directory.CreateDirectory(restored);
        File.WriteAllText(Path.Combine(restored, "src-main-before"), "x");
        var output = new StringWriter();
        Assert.Equal(0, CacheExtractor.Run(restored, cache, output, new StringWriter()));

        Assert.Equal("content of src/main.c", File.ReadAllText(Path.Combine(restored, "src/main.c")));
        Assert.Equal("content of build/out/app", File.ReadAllText(Path.Combine(restored, "build/out/app")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(restored, "build/out/app")));
        Assert.Equal("out/app", new FileInfo(Path.Combine(restored, "build/current")).LinkTarget);
        Assert.False(File.Exists(Path.Combine(restored, "src/lib/util.c")));
        Assert.True(File.Exists(Path.Combine(restored, "src-main-before")));
    }

    [Fact]
    public void An_empty_selection_leaves_the_existing_cache()
    {
        var cache = Path.Combine(_dir.Path, "cache.zip");
        Assert.Equal(0, CacheArchiver.Run(Project, cache, ["a.txt"], false, new StringWriter(), new StringWriter()));
        var before = File.ReadAllBytes(cache);
        Assert.Equal(0, CacheArchiver.Run(Project, cache, ["missing"], false, new StringWriter(), new StringWriter()));
        Assert.Equal(before, File.ReadAllBytes(cache));
    }

    [Fact]
    public void A_missing_cache_file_fails_with_a_reason()
    {
        var error = new StringWriter();
        Assert.Equal(1, CacheExtractor.Run(Project, Path.Combine(_dir.Path, "none.zip"), new StringWriter(), error));
        Assert.Contains("file does not exist", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../evil.txt")]
    [InlineData("a/../../evil.txt")]
    [InlineData("/tmp/evil.txt")]
    public void Extraction_refuses_entries_outside_the_directory(string entryName)
    {
        var zip = Path.Combine(_dir.Path, "evil.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            using var writer = new StreamWriter(archive.CreateEntry(entryName).Open());
            writer.Write("x");
        }

        var error = new StringWriter();
        Assert.Equal(1, CacheExtractor.Run(Project, zip, new StringWriter(), error));
        Assert.Contains("outside", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "evil.txt")));
    }

    [Fact]
    public void Extraction_does_not_write_through_a_link_from_the_archive()
    {
        var zip = Path.Combine(_dir.Path, "link.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            var link = archive.CreateEntry("escape");
            link.ExternalAttributes = (0xA000 | 0x1FF) << 16;
            using (var writer = new StreamWriter(link.Open()))
            {
                writer.Write(_dir.Path);
            }

            using var file = new StreamWriter(archive.CreateEntry("escape/owned.txt").Open());
            file.Write("x");
        }

        var error = new StringWriter();
        Assert.Equal(1, CacheExtractor.Run(Project, zip, new StringWriter(), error));
        Assert.Contains("symbolic link", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "owned.txt")));
    }

    private void Git(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = Project, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var git = System.Diagnostics.Process.Start(start)!;
        git.WaitForExit();
        Assert.Equal(0, git.ExitCode);
    }
}
