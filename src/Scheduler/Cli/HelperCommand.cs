using System.CommandLine;
using Scheduler.Helper;

namespace Scheduler.Cli;

/// <summary><c>scheduler helper …</c>: the commands stage scripts run in the job's pod (docs/execution.md). Exit codes: 0 ok,
/// 1 failure with a one-line reason on stderr (usage errors included).</summary>
internal static class HelperCommand
{
    internal static Command Create()
    {
        var command = new Command("helper", "Commands that run inside a job's pod: log reading, cache and artifact archives and transfers");
        foreach (var podCommand in PodCommands.Create())
        {
            command.Subcommands.Add(podCommand);
        }

        return command;
    }
}
