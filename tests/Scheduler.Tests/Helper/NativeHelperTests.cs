using System.Diagnostics;
using System.IO.Compression;
using Scheduler.Actors.Scripts;
using Scheduler.Helper;
using Xunit.Abstractions;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>The native <c>scheduler-helper</c> (src/PodHelper, published to artifacts/pod-helper by scripts/test.sh) against
/// the managed <c>scheduler helper</c>: the same commands give the same bytes and exit codes; and where the runner finds it.</summary>
public sealed class NativeHelperTests(ITestOutputHelper output) : IDisposable
{
    private readonly TemporaryDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The published native helper, or null. In CI (env CI set) a missing one fails the test with how to build it;
    /// elsewhere the test says why it checked nothing and returns.</summary>
    private string? Native()
    {
        var native = HelperLocation.FindNative(AppContext.BaseDirectory, Environment.GetEnvironmentVariable(HelperLocation.NativePathVariable));
        if (native is null)
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") is null,
                $"the native helper is not built: dotnet publish src/PodHelper -c Release -o artifacts/pod-helper (needs clang and zlib1g-dev)");
            output.WriteLine("not run: no native helper (dotnet publish src/PodHelper -c Release -o artifacts/pod-helper)");
        }

        return native;
    }

    private static IReadOnlyList<string> Managed => HelperInvocation.ForAssembly(HelperLocation.DotnetHost(), typeof(HelperLocation).Assembly.Location).Prefix;

    [Fact]
    public void The_native_helper_has_exactly_the_commands_the_scripts_send_it() =>
        Assert.Equal(HelperInvocation.NativeCommands, PodCommands.Names);

    [Theory]
    [InlineData(0L)]
    [InlineData(7L)]
    [InlineData(100_000L)]
    public void Read_log_gives_the_same_bytes_as_the_managed_helper(long offset)
    {
        if (Native() is not { } native)
        {
            return;
        }

        var log = _dir.Write("output.log", string.Concat(Enumerable.Range(0, 20_000).Select(i => $"line {i}\n")));
        string[] args = ["read-log", "--path", log, "--offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)];

        var fromNative = Run([native, .. args]);
        var fromManaged = Run([.. Managed, "helper", .. args]);

        Assert.Equal(0, fromNative.Code);
        Assert.Equal(fromManaged, fromNative);
        Assert.Equal(File.ReadAllText(log)[(int)offset..], fromNative.Output);
    }

    [Fact]
    public void The_artifacts_archiver_makes_the_same_archive_entries_as_the_managed_helper()
    {
        if (Native() is not { } native)
        {
            return;
        }

        var project = Path.Combine(_dir.Path, "project");
        _dir.Write("project/out/a.txt", "alpha\n");
        _dir.Write("project/out/sub/b.bin", new string('b', 70_000));
        _dir.Write("project/other.txt", "not selected\n");

        var nativeZip = Path.Combine(_dir.Path, "native.zip");
        var managedZip = Path.Combine(_dir.Path, "managed.zip");
        var fromNative = Run([native, "artifacts-archiver", "--output", nativeZip, "--path", "out"], project);
        var fromManaged = Run([.. Managed, "helper", "artifacts-archiver", "--output", managedZip, "--path", "out"], project);

        Assert.True(fromNative.Code == 0, fromNative.Output);
        Assert.Equal(fromManaged, (fromNative.Code, fromNative.Output.Replace(nativeZip, managedZip, StringComparison.Ordinal)));
        Assert.Equal(Entries(managedZip), Entries(nativeZip));
        Assert.Contains(("out/sub/b.bin", new string('b', 70_000)), Entries(nativeZip));
    }

    [Theory]
    [InlineData("read-log")]
    [InlineData("cache-extractor")]
    [InlineData("no-such-command")]
    public void Usage_errors_exit_1_as_in_the_managed_helper(string subcommand)
    {
        if (Native() is not { } native)
        {
            return;
        }

        Assert.Equal(1, Run([native, subcommand]).Code);
    }

    [Fact]
    public void A_helper_named_by_the_variable_wins_and_a_missing_one_is_not_replaced()
    {
        var named = _dir.Write("elsewhere/scheduler-helper", "");
        var build = Directory.CreateDirectory(Path.Combine(_dir.Path, "repo", "src", "Scheduler", "bin", "Debug")).FullName;
        var published = _dir.Write("repo/" + HelperLocation.RepositoryPublishPath, "");

        Assert.Equal(named, HelperLocation.FindNative(build, named));
        Assert.Null(HelperLocation.FindNative(build, Path.Combine(_dir.Path, "missing")));
        Assert.Equal(published, HelperLocation.FindNative(build, null)); // the repository's publish output, found upwards
        var beside = _dir.Write("repo/src/Scheduler/bin/Debug/scheduler-helper", "");
        Assert.Equal(beside, HelperLocation.FindNative(build, null));    // one beside the runner comes first
        Assert.Null(HelperLocation.FindNative(Directory.CreateDirectory(Path.Combine(_dir.Path, "bare")).FullName, null));
    }

    [Fact]
    public void Scripts_run_the_native_helper_for_its_commands_and_the_managed_one_for_the_rest()
    {
        var helper = new HelperInvocation(["scheduler"]) { Native = ["/opt/scheduler-helper"] };

        Assert.Equal(["/opt/scheduler-helper", "read-log"], helper.Command("read-log"));
        Assert.Equal(["/opt/scheduler-helper", "cache-archiver"], helper.Command("cache-archiver"));
        Assert.Equal(["scheduler", "helper", "artifacts-uploader"], helper.Command("artifacts-uploader"));
        Assert.Equal(["scheduler", "helper", "read-log"], (helper with { Native = null }).Command("read-log"));
    }

    private static HashSet<(string Name, string Content)> Entries(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Where(e => !e.FullName.EndsWith('/'))
            .Select(e => (e.FullName, new StreamReader(e.Open()).ReadToEnd())).ToHashSet();
    }

    private static (int Code, string Output) Run(IReadOnlyList<string> argv, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), $"{string.Join(' ', argv)} did not finish");
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
