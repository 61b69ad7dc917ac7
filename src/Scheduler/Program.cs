using System.CommandLine;
using System.CommandLine.Invocation;
using Scheduler.Cli;

var root = new RootCommand("scheduler: a GitLab CI runner that runs every job as a Kubernetes pod");
foreach (var command in Commands.All())
{
    root.Subcommands.Add(command);
}

var parsed = root.Parse(args);
// exec handles interrupts itself (the first cancels the job and lets after_script run, the second aborts) and must not be
// cut short while it deletes its pod; run and local-cluster handle their signals too; the other commands keep
// System.CommandLine's default handling.
var invocation = parsed.CommandResult.Command.Name is "exec" or "run" or "local-cluster"
    ? new InvocationConfiguration { ProcessTerminationTimeout = null }
    : new InvocationConfiguration();
return await parsed.InvokeAsync(invocation);
