using System.Diagnostics;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>What the embedded cluster's non-root pods must read on this machine (the helper build, exec's repository)
/// is handed to them as a copy they can reach when the original sits in a closed directory (a clone under /root).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PodReachableCopyTests : IDisposable
{
    private const UnixFileMode Open = (UnixFileMode)0b111_101_101; // 0755
    private const UnixFileMode Closed = (UnixFileMode)0b111_000_000; // 0700
    private readonly string _root = Directory.CreateTempSubdirectory("pod-reachable-").FullName;

    public PodReachableCopyTests() => File.SetUnixFileMode(_root, Open);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(0b111_101_101, 0b110_100_100, true)] // 0755 directory, 0644 file
    [InlineData(0b111_000_000, 0b110_100_100, false)] // closed directory above
    [InlineData(0b111_101_001, 0b110_100_100, true)] // searchable, not listable: enough
    [InlineData(0b111_101_101, 0b110_000_000, false)] // the file itself unreadable
    public void A_path_is_reachable_when_every_directory_above_is_searchable_and_it_is_readable(int directoryMode, int fileMode, bool reachable)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_root, "d")).FullName;
        var file = Path.Combine(directory, "f");
        File.WriteAllText(file, "x");
        File.SetUnixFileMode(file, (UnixFileMode)fileMode);
        File.SetUnixFileMode(directory, (UnixFileMode)directoryMode);

        Assert.Equal(reachable, PodReachableCopy.ByOthers(file));
    }

    [Fact]
    public void A_build_in_a_closed_directory_is_copied_where_pods_reach_it_as_root_and_left_alone_otherwise()
    {
        var build = Directory.CreateDirectory(Path.Combine(_root, "closed", "bin")).FullName;
        File.WriteAllText(Path.Combine(build, "scheduler"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(build, "scheduler"), Closed);
        Directory.CreateDirectory(Path.Combine(build, "runtimes"));
        File.WriteAllText(Path.Combine(build, "runtimes", "native.so"), "so");
        File.SetUnixFileMode(Path.Combine(_root, "closed"), Closed);

        var used = PodReachableCopy.BuildFile(Path.Combine(build, "scheduler"));

        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Equal(Path.Combine(build, "scheduler"), used); // pods run as this user: nothing to copy
            return;
        }

        try
        {
            Assert.NotEqual(Path.Combine(build, "scheduler"), used);
            Assert.True(PodReachableCopy.ByOthers(used));
            Assert.True(File.GetUnixFileMode(used).HasFlag(UnixFileMode.OtherExecute));
            Assert.Equal("so", File.ReadAllText(Path.Combine(Path.GetDirectoryName(used)!, "runtimes", "native.so")));
            Assert.Equal(used, PodReachableCopy.BuildFile(Path.Combine(build, "scheduler"))); // one copy per build
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(used)!, recursive: true);
        }
    }

    [Fact]
    public async Task A_repository_in_a_closed_directory_is_cloned_where_pods_reach_it_as_root()
    {
        var repository = Directory.CreateDirectory(Path.Combine(_root, "home", "project")).FullName;
        Git(repository, "init", "--quiet", "--initial-branch", "main");
        File.WriteAllText(Path.Combine(repository, "README"), "hello\n");
        Git(repository, "add", "README");
        Git(repository, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first");
        var sha = Git(repository, "rev-parse", "HEAD");
        File.SetUnixFileMode(Path.Combine(_root, "home"), Closed);

        var copy = await PodReachableCopy.RepositoryAsync(repository, CancellationToken.None);

        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Null(copy);
            return;
        }

        try
        {
            Assert.NotNull(copy);
            Assert.True(PodReachableCopy.ByOthers(copy));
            Assert.Equal(sha, Git(copy, "rev-parse", "HEAD"));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(copy!)!, recursive: true);
        }
    }

    [Fact]
    public async Task A_reachable_repository_is_used_as_it_is()
    {
        var repository = Directory.CreateDirectory(Path.Combine(_root, "open")).FullName;
        Git(repository, "init", "--quiet");

        Assert.Null(await PodReachableCopy.RepositoryAsync(repository, CancellationToken.None));
    }

    private static string Git(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
        return output.Trim();
    }
}
