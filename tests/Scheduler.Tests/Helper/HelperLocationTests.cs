using Scheduler.Actors.Scripts;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary>Which helper pods on the embedded cluster run: a native helper older than the runner keeps the commands it lacks
/// on the managed one.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HelperLocationTests : IDisposable
{
    private const string OldHelp = """
        Commands:
          read-log            Stream a file from a byte offset to stdout
          cache-archiver      Archive the working directory's cache paths, and upload the archive
          cache-extractor     Download a cache archive and extract it into the working directory
          artifacts-archiver  Archive the working directory's artifact paths
        """;

    private const string NewHelp = """
        Commands:
          read-log              Stream a file from a byte offset to stdout
          artifacts-archiver    Archive the working directory's artifact paths
          artifacts-uploader    Upload a job's artifacts archive to GitLab
          artifacts-downloader  Download a job's artifacts archive from GitLab
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("helper-location-").FullName;
    private readonly HelperInvocation _managed = new(["/usr/bin/dotnet", "/opt/scheduler.dll"]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(NewHelp, true)]
    [InlineData(OldHelp, false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    // A name inside another word or a description is not the command.
    [InlineData("  artifacts-uploader-old  x\n  see artifacts-downloader for more", false)]
    public void The_help_lists_the_commands_as_subcommands(string? help, bool lists) =>
        Assert.Equal(lists, HelperLocation.HelpListsCommands(help, HelperInvocation.LaterNativeCommands));

    [Theory]
    [InlineData(NewHelp, true)]
    [InlineData(OldHelp, false)]
    public void An_older_native_helper_leaves_the_artifact_transfers_to_the_managed_one(string help, bool native)
    {
        var helper = FakeHelper("printf '%s\\n' " + Quote(help));

        var invocation = HelperLocation.WithNative(_managed, helper);

        Assert.Equal("read-log", invocation.Command("read-log")[^1]);
        Assert.NotEqual("/usr/bin/dotnet", invocation.Command("read-log")[0]); // the native helper's copy
        var uploader = invocation.Command("artifacts-uploader");
        Assert.Equal(native, uploader[0] != "/usr/bin/dotnet");
        if (!native)
        {
            Assert.Equal(["/usr/bin/dotnet", "/opt/scheduler.dll", "helper", "artifacts-uploader"], uploader);
            Assert.Equal(["/usr/bin/dotnet", "/opt/scheduler.dll", "helper", "artifacts-downloader"], invocation.Command("artifacts-downloader"));
        }
    }

    [Fact]
    public void A_native_helper_that_cannot_answer_its_help_leaves_them_to_the_managed_one()
    {
        var helper = FakeHelper("exit 3");

        var invocation = HelperLocation.WithNative(_managed, helper);

        Assert.Equal(["/usr/bin/dotnet", "/opt/scheduler.dll", "helper", "artifacts-uploader"], invocation.Command("artifacts-uploader"));
    }

    private string FakeHelper(string body)
    {
        var path = Path.Combine(_dir, "scheduler-helper-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''") + "'";
}
