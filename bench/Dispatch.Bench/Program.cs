using Scheduler.Dispatch.Bench;

// Usage: dispatch-bench [--runners N] [--concurrent N] [--seconds S]     jobs/s through the actor path beside a loopback baseline
//                      [--no-baseline] [--allocation-types]                the actor path alone; the types its bytes go to
//                      [--fake-cluster]                                    the actor tests' FakeCluster instead of LeanCluster
//                      [--exceptions]                                      the exceptions thrown per job, by origin
//                      [--warmup S]                                        seconds of jobs before measuring (default 2; the
//                                                                          JIT's tiering is not over after 2 s)
//        dispatch-bench --inflight N                                         runner memory and threads per job in flight
//        dispatch-bench --exec N [--sleep SECONDS] [--kubeconfig PATH]   threads and memory of N open execs
var exec = 0;
var inflight = 0;
var sleep = 10;
string? kubeconfig = null;
var runners = 4;
var concurrent = 64;
var seconds = 5;
var warmup = 2;
var baseline = !args.Contains("--no-baseline");
var allocationTypes = args.Contains("--allocation-types");
var fakeCluster = args.Contains("--fake-cluster");
var exceptions = args.Contains("--exceptions");
for (var i = 0; i < args.Length - 1; i++)
{
    switch (args[i])
    {
        case "--exec": exec = int.Parse(args[++i]); break;
        case "--inflight": inflight = int.Parse(args[++i]); break;
        case "--sleep": sleep = int.Parse(args[++i]); break;
        case "--kubeconfig": kubeconfig = args[++i]; break;
        case "--runners": runners = int.Parse(args[++i]); break;
        case "--concurrent": concurrent = int.Parse(args[++i]); break;
        case "--seconds": seconds = int.Parse(args[++i]); break;
        case "--warmup": warmup = int.Parse(args[++i]); break;
    }
}

if (inflight > 0)
{
    await InFlightProbe.RunAsync(inflight);
}
else if (exec > 0)
{
    await ExecProbe.RunAsync(exec, sleep, kubeconfig);
}
else
{
    await DispatchRun.RunAsync(runners, concurrent, TimeSpan.FromSeconds(warmup), TimeSpan.FromSeconds(seconds), baseline, allocationTypes, fakeCluster,
        exceptions);
}
