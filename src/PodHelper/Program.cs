using System.CommandLine;
using Scheduler.Helper;

// scheduler-helper <command> …: the same commands as `scheduler helper <command> …` (PodCommands), without the runner.
var root = new RootCommand("The commands that run inside a job's pod: log reading, cache and artifact archives");
foreach (var command in PodCommands.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
