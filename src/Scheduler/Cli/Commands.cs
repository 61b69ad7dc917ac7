using System.CommandLine;

namespace Scheduler.Cli;

/// <summary>Every subcommand of <c>scheduler</c>; each lives in its own file.</summary>
internal static class Commands
{
    public static IEnumerable<Command> All()
    {
        yield return CheckConfigCommand.Create();
        yield return RenderPodCommand.Create();
        yield return LocalClusterCommand.Create();
        yield return RegisterCommand.Create();
        yield return VerifyCommand.Create();
        yield return ExecCommand.Create();
        yield return HelperCommand.Create();
        yield return RunCommand.Create();
        yield return StatusCommand.Create();
    }
}
