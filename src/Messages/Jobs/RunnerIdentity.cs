using System.Reflection;
using System.Runtime.InteropServices;

namespace Scheduler.Messages.Jobs;

/// <summary>What this runner says about itself: the values of CI_RUNNER_VERSION, CI_RUNNER_REVISION and
/// CI_RUNNER_EXECUTABLE_ARCH, and the image tag of the default helper image.</summary>
public sealed record RunnerIdentity(string Version, string Revision, string Architecture = "amd64", string? Name = null)
{
    /// <summary>The identity of the running assembly: version and revision from its informational version
    /// (<c>1.2.3+abcdef12</c>), architecture from the process.</summary>
    public static RunnerIdentity Current()
    {
        var assembly = typeof(RunnerIdentity).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                            ?? assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        var plus = informational.IndexOf('+');
        var version = plus < 0 ? informational : informational[..plus];
        var revision = plus < 0 ? "unknown" : informational[(plus + 1)..];
        if (revision.Length > 8)
        {
            revision = revision[..8];
        }

        return new RunnerIdentity(version, revision, GoArchitecture(RuntimeInformation.ProcessArchitecture), "scheduler");
    }

    /// <summary>Architecture names as Go (and so GitLab Runner) spells them.</summary>
    public static string GoArchitecture(Architecture architecture) => architecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        _ => architecture.ToString().ToLowerInvariant(),
    };
}
