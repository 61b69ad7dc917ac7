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
    public static HelperInvocation WithNative(HelperInvocation managed)
    {
        var native = FindNative(AppContext.BaseDirectory, Environment.GetEnvironmentVariable(NativePathVariable));
        if (native is null)
        {
            Serilog.Log.Information("pods run the managed helper ({Helper}): no native {Native} found (see docs/execution.md)",
                string.Join(' ', managed.Prefix), NativeName);
            return managed;
        }

        var reachable = PodReachableCopy.BuildFile(native);
        Serilog.Log.Information("pods run the native helper {Native}", reachable);
        return managed with { Native = [reachable] };
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
