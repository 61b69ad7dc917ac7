using System.CommandLine;
using Scheduler.Cli;

var root = new RootCommand("scheduler: a GitLab CI runner that runs every job as a Kubernetes pod");
foreach (var command in Commands.All())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
