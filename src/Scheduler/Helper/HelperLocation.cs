using Scheduler.Actors.Scripts;

namespace Scheduler.Helper;

/// <summary>How a pod on the embedded cluster runs this build's <c>scheduler helper</c>: its containers see the host's
/// filesystem but get a clean environment, so the command names the dotnet host and <c>scheduler.dll</c> by absolute path.</summary>
public static class HelperLocation
{
    public const string DefaultDotnetRoot = "/usr/share/dotnet";

    public static HelperInvocation ForThisBuild() =>
        HelperInvocation.ForAssembly(DotnetHost(), PodReachableCopy.BuildFile(typeof(HelperLocation).Assembly.Location));

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
