using System.Globalization;
using Akka.Actor;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Pods;
using Scheduler.Actors.Tests.Execution;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Scheduler.Run;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// The runner's memory and thread-pool threads per job in flight: N jobs through the whole actor path of <c>scheduler run</c>
/// (<see cref="LeanGitLab"/>, the in-memory Kubernetes) whose <c>step_script</c> never ends, so each job sits where a sleeping
/// job sits (pod running, the stage's wait exec open, the log reader following, the listener holding its trace). The
/// in-memory Kubernetes shares the process, so its own share is measured apart: a second instance loaded with the same pods,
/// Secrets and stage runs alone, and taken off the figure.
/// </summary>
public static class InFlightProbe
{
    private static readonly RunnerIdentity Identity = new("bench", "bench", "amd64", "dispatch-bench");

    public static async Task RunAsync(int n)
    {
        await using var gitlab = await LeanGitLab.StartAsync();
        gitlab.Serving = false;
        var cluster = NewCluster();
        var settings = new GlobalSettings
        {
            Concurrent = n,
            CheckInterval = 1,
            ShutdownTimeout = 5,
            KubernetesApiRate = 1_000_000,
            KubernetesApiBurst = 1_000_000,
            Runners = [Runner(gitlab.Url)],
        };
        using var http = GitLabHttp.CreateClient();
        var host = RunHost.Start(settings, new RunHostOptions(cluster,
            new ExecutionOptions(Identity, Scheduler.Actors.Scripts.HelperInvocation.Default) { Planner = new FakePlanner(FakePlanner.StandardStages) },
            http, Identity, "s_0123456789ab") { HoconOverrides = "akka.loglevel = WARNING" });
        try
        {
            // Warm: one job through the whole path (JIT, pools, the listener's trace directory), then idle.
            gitlab.Serving = true;
            await WaitForAsync(() => gitlab.Succeeded >= 1, TimeSpan.FromSeconds(30));
            gitlab.Serving = false;
            await Task.Delay(1500);
            var (threads0, heap0) = Figures();

            cluster.StageBehaviour["step_script"] = ("sleeping\n", null); // runs until killed
            gitlab.Serving = true;
            await WaitForAsync(() => Running(host) >= n && cluster.LiveRunsOfAnyPod("step_script") >= n, TimeSpan.FromSeconds(120));
            gitlab.Serving = false;
            await Task.Delay(1500); // the log readers and listeners settle
            var pending = ThreadPool.PendingWorkItemCount;
            var (threads1, heap1) = Figures();

            if (int.TryParse(Environment.GetEnvironmentVariable("DISPATCH_BENCH_HOLD"), out var hold))
            {
                // Time to take a heap dump of the jobs in flight (dotnet-gcdump collect -p <pid>).
                Console.WriteLine($"holding {hold} s (pid {Environment.ProcessId})");
                await Task.Delay(TimeSpan.FromSeconds(hold));
            }

            var fake = await FakeShareAsync(gitlab.Url, n);
            var runner = heap1 - heap0 - fake;
            Console.WriteLine($"{n} jobs in flight (step_script running): thread-pool threads {threads0} -> {threads1}, queued work items {pending}");
            Console.WriteLine($"managed heap +{(heap1 - heap0) / 1024.0 / n:F1} KiB per job in all; the in-memory Kubernetes' share " +
                              $"{fake / 1024.0 / n:F1} KiB; the runner's {runner / 1024.0 / n:F1} KiB per job in flight");
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static FakeCluster NewCluster() => new() { InitialPhase = "Running", KeepHistory = false };

    private static RunnerEntry Runner(string url) => new()
    {
        Name = "bench-1",
        Url = url,
        Token = "glrt-bench-1",
        Kubernetes = new KubernetesSettings { Namespace = "default", Image = "alpine:3.20" },
    };

    private static int Running(RunHost host) =>
        host.Supervisor.Ask<CapacityStatus>(GetCapacity.Instance, TimeSpan.FromSeconds(10)).Result.Running;

    // What the in-memory Kubernetes holds for n such jobs: the same pods and Secrets, the owner patch, get_sources done and
    // step_script running, its output in the log.
    private static async Task<long> FakeShareAsync(string url, int n)
    {
        var (_, before) = Figures();
        var cluster = NewCluster();
        cluster.StageBehaviour["step_script"] = ("sleeping\n", null);
        var planner = new FakePlanner(FakePlanner.StandardStages);
        var runner = Runner(url);
        var lean = await LeanGitLab.StartAsync();
        using var stop = new CancellationTokenSource();
        var runs = new List<Task<int>>();
        for (var i = 1; i <= n; i++)
        {
            var job = JobPayloadParser.Parse(lean.JobJson(1_000_000 + i)).Payload!;
            var suffix = i.ToString("x8", CultureInfo.InvariantCulture);
            var plan = planner.Plan(runner, job, i, () => suffix).Plan!;
            foreach (var secret in plan.Pod.Secrets)
            {
                await cluster.CreateSecretAsync(secret, CancellationToken.None);
            }

            var pod = await cluster.CreatePodAsync(plan.Pod.Pod, CancellationToken.None);
            foreach (var secret in plan.Pod.SecretsOwnedBy(pod))
            {
                await cluster.SetSecretOwnerAsync(plan.Pod.Namespace, secret.Metadata.Name, JobPodPlan.OwnerReferenceOf(pod), CancellationToken.None);
            }

            // A stage's exec waits for its exit: get_sources ends at once, step_script sleeps until the probe ends.
            foreach (var stage in plan.Stages.Take(2))
            {
                runs.Add(cluster.ExecAsync(plan.Pod.Namespace, plan.Pod.PodName, stage.Container, stage.Run, _ => Task.CompletedTask, stop.Token));
            }
        }

        await lean.DisposeAsync();
        var (_, after) = Figures();
        await stop.CancelAsync();
        await Task.WhenAll(runs.Select(run => run.ContinueWith(_ => { }, TaskScheduler.Default)));
        GC.KeepAlive(cluster);
        return after - before;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException("the jobs did not get there in time");
            }

            await Task.Delay(100);
        }
    }

    private static (int Threads, long Heap) Figures()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (ThreadPool.ThreadCount, GC.GetTotalMemory(true));
    }
}
