using System.Runtime.InteropServices;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>Where the built <c>scheduler.dll</c> and the dotnet host are: the processes the harness starts run this build.</summary>
public static class SchedulerBinary
{
    /// <summary>The repository root (the folder holding Scheduler.sln); first, as the others use it.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The Scheduler project's own output (it has the right deps and runtimeconfig files), in the configuration this
    /// test assembly was built with; <c>SCHEDULER_DLL</c> overrides it.</summary>
    public static string Dll { get; } = FindDll();

    /// <summary>The dotnet host of the running runtime: <c>&lt;root&gt;/shared/Microsoft.NETCore.App/&lt;version&gt;/</c> is the
    /// runtime directory, and the host sits at the root.</summary>
    public static string Dotnet { get; } = FindDotnet();

    private static string FindDll()
    {
        if (Environment.GetEnvironmentVariable("SCHEDULER_DLL") is { Length: > 0 } overridden)
        {
            return overridden;
        }

        // <root>/tests/Fleet.Tests/bin/<Configuration>/<tfm>/
        var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var tfm = testDir.Name;
        var configuration = testDir.Parent!.Name;
        var dll = Path.Combine(RepositoryRoot, "src", "Scheduler", "bin", configuration, tfm, "scheduler.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"the scheduler build is not at {dll}; build src/Scheduler in {configuration} first", dll);
        }

        return dll;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Scheduler.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no Scheduler.sln above {AppContext.BaseDirectory}");
    }

    private static string FindDotnet()
    {
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var host = Path.Combine(Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", "..")), "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }
}
