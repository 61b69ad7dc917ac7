using Scheduler.Actors.Scripts;

namespace Scheduler.Helper;

/// <summary>How a pod on the embedded cluster runs this build's helper: its containers see the host's filesystem but get
/// a clean environment, so the command names the dotnet host and <c>scheduler.dll</c> by absolute path, and the native
/// <c>scheduler-helper</c> by its path when one is found (see <see cref="FindNative"/>).</summary>
public static class HelperLocation
{
    public const string DefaultDotnetRoot = "/usr/share/dotnet";

    /// <summary>The native helper's file name.</summary>
    public const string NativeName = "scheduler-helper";

    /// <summary>An environment variable that names the native helper's path (it wins over the places searched).</summary>
    public const string NativePathVariable = "SCHEDULER_HELPER";

    /// <summary>Where <c>dotnet publish src/PodHelper -c Release -o artifacts/pod-helper</c> puts it, relative to the
    /// repository: found from a build anywhere below the repository (<c>dotnet run</c>, tests, benchmarks).</summary>
    public const string RepositoryPublishPath = "artifacts/pod-helper/" + NativeName;

    public static HelperInvocation ForThisBuild() =>
        WithNative(HelperInvocation.ForAssembly(DotnetHost(), PodReachableCopy.BuildFile(typeof(HelperLocation).Assembly.Location)));

    /// <summary><paramref name="managed"/>, with the native helper for the commands it has when one is found (a copy pods can
    /// reach, as the managed build is); logs which one pods run.</summary>
    public static HelperInvocation WithNative(HelperInvocation managed) =>
        WithNative(managed, FindNative(AppContext.BaseDirectory, Environment.GetEnvironmentVariable(NativePathVariable)));

    /// <summary><paramref name="managed"/> with the native helper at <paramref name="native"/> (null: none) for the commands it
    /// has. A helper built before the artifact uploader and downloader became native (an old artifacts/pod-helper, or one
    /// SCHEDULER_HELPER names) leaves those two to the managed helper: its help, asked once here, does not list them.</summary>
    internal static HelperInvocation WithNative(HelperInvocation managed, string? native)
    {
        if (native is null)
        {
            Serilog.Log.Information("pods run the managed helper ({Helper}): no native {Native} found (see docs/execution.md)",
                string.Join(' ', managed.Prefix), NativeName);
            return managed;
        }

        var reachable = PodReachableCopy.BuildFile(native);
        if (!HelpListsCommands(HelpOf(native), HelperInvocation.LaterNativeCommands))
        {
            Serilog.Log.Warning("the native helper {Native} does not have {Commands}: pods run them with the managed helper " +
                                "(publish it again: dotnet publish src/PodHelper/PodHelper.csproj -c Release -o artifacts/pod-helper)",
                native, string.Join(", ", HelperInvocation.LaterNativeCommands));
            return managed with { Native = [reachable], LaterNative = [.. managed.Prefix, "helper"] };
        }

        Serilog.Log.Information("pods run the native helper {Native}", reachable);
        return managed with { Native = [reachable] };
    }

    /// <summary>Whether a helper's <c>--help</c> lists every one of <paramref name="commands"/> (as System.CommandLine prints a
    /// subcommand: two spaces, its name, a space), as the pods' own probe reads it.</summary>
    internal static bool HelpListsCommands(string? help, IEnumerable<string> commands) =>
        help is not null && commands.All(command => help.Contains("  " + command + " ", StringComparison.Ordinal));

    // The helper's --help, or null when it cannot be run or takes longer than a few seconds.
    private static string? HelpOf(string native)
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(native, ["--help"])
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            });
            if (process is null) return null;
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            return output.Wait(TimeSpan.FromSeconds(1)) ? output.Result : null;
        }
        catch (Exception exception) when (exception is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The native helper: <paramref name="fromVariable"/> when set (null when that file does not exist: a named
    /// helper that is missing is not replaced by another), else <c>scheduler-helper</c> beside the runner, else
    /// <see cref="RepositoryPublishPath"/> in a directory above it; null when there is none.</summary>
    public static string? FindNative(string baseDirectory, string? fromVariable)
    {
        if (!string.IsNullOrEmpty(fromVariable))
        {
            return File.Exists(fromVariable) ? Path.GetFullPath(fromVariable) : null;
        }

        var beside = Path.Combine(baseDirectory, NativeName);
        if (File.Exists(beside))
        {
            return beside;
        }

        for (var directory = new DirectoryInfo(baseDirectory); directory is not null; directory = directory.Parent)
        {
            var published = Path.Combine(directory.FullName, RepositoryPublishPath);
            if (File.Exists(published))
            {
                return published;
            }
        }

        return null;
    }

    /// <summary>The running dotnet host when this process is one, else the one under DOTNET_ROOT or the default root.</summary>
    public static string DotnetHost()
    {
        var process = Environment.ProcessPath;
        if (process is not null && Path.GetFileName(process) == "dotnet")
        {
            return process;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        return Path.Combine(string.IsNullOrEmpty(root) ? DefaultDotnetRoot : root, "dotnet");
    }
}
