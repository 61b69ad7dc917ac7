using System.Runtime.InteropServices;
using Scheduler.Actors.Scripts;

namespace Scheduler.Exec;

/// <summary>How pods on the embedded cluster run <c>scheduler helper</c>: this very build, which the sandbox sees on the
/// host's filesystem (a copy pods can reach when the build is not, see <see cref="Helper.PodReachableCopy"/>).</summary>
public static class ExecHelper
{
    /// <summary>The apphost when this process is <c>scheduler</c>; otherwise (dotnet run, a test host) the dotnet host
    /// running this assembly's <c>scheduler.dll</c>.</summary>
    public static HelperInvocation ForThisProcess()
    {
        var processPath = Environment.ProcessPath;
        if (processPath is not null && Path.GetFileName(processPath) == "scheduler")
        {
            return Helper.HelperLocation.WithNative(new HelperInvocation([Helper.PodReachableCopy.BuildFile(processPath)]));
        }

        return Helper.HelperLocation.WithNative(
            HelperInvocation.ForAssembly(DotnetHost(), Helper.PodReachableCopy.BuildFile(typeof(ExecHelper).Assembly.Location)));
    }

    /// <summary>The dotnet host of the running runtime: <c>&lt;root&gt;/shared/Microsoft.NETCore.App/&lt;version&gt;/</c> is
    /// the runtime directory, and the host sits at the root.</summary>
    private static string DotnetHost()
    {
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var root = Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", ".."));
        var host = Path.Combine(root, "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }
}
