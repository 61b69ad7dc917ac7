using Scheduler.Dispatch.Bench;

// Usage: dispatch-bench [--exec N] [--sleep SECONDS]
var exec = 0;
var sleep = 10;
for (var i = 0; i < args.Length - 1; i++)
{
    switch (args[i])
    {
        case "--exec": exec = int.Parse(args[++i]); break;
        case "--sleep": sleep = int.Parse(args[++i]); break;
    }
}

if (exec > 0)
{
    await ExecProbe.RunAsync(exec, sleep);
}
