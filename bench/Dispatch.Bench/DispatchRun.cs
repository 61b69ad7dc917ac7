using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Tests.Execution;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Run;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// Jobs per second through the whole actor path of <c>scheduler run</c> (RunHost: intakes, GitLab job source and listeners,
/// coordinator, slots, JobActor, stages) against <see cref="LeanGitLab"/> and an in-memory Kubernetes whose pods run at once
/// and whose stages exit 0 at once; beside it, in the same run, the same HTTP exchanges per job (request, running, trace,
/// final update) made directly over loopback with as many loops as the runner has intakes.
/// </summary>
public static class DispatchRun
{
    private static readonly RunnerIdentity Identity = new("bench", "bench", "amd64", "dispatch-bench");

    /// <param name="baseline">False: the actor path only (to profile it alone).</param>
    /// <param name="allocationTypes">Also print the types the actor path's allocated bytes go to (sampled).</param>
    /// <param name="fakeCluster">The actor tests' FakeCluster (JSON copies, one lock) instead of <see cref="LeanCluster"/>:
    /// as the figures before 2026-12-05 were taken.</param>
    public static async Task RunAsync(int runners, int concurrent, TimeSpan warmUp, TimeSpan measure, bool baseline = true,
        bool allocationTypes = false, bool fakeCluster = false, bool exceptions = false)
    {
        await using var gitlab = await LeanGitLab.StartAsync();
        Console.WriteLine($"lean GitLab at {gitlab.Url}; {Environment.ProcessorCount} cores; {runners} runner entries, concurrent = {concurrent}");

        using var sampler = allocationTypes ? new AllocationSampler() : null;
        var (jobsPerSecond, requestsPerJob) = await ActorPathAsync(gitlab, runners, concurrent, warmUp, measure, sampler, fakeCluster,
            exceptions);
        if (sampler is not null)
        {
            foreach (var (type, bytes, share) in sampler.Top(25))
            {
                Console.WriteLine($"  allocated (sampled): {100 * share,5:F1} % {bytes / 1024 / 1024,6} MiB  {type}");
            }
        }

        if (!baseline)
        {
            Console.WriteLine($"actor path: {jobsPerSecond:F0} jobs/s; {requestsPerJob:F1} GitLab requests per job");
            return;
        }

        var baselineRate = await BaselineAsync(gitlab, runners, warmUp, measure);
        Console.WriteLine($"loopback HTTP baseline: {baselineRate:F0} jobs/s ({runners} loops of request, running, trace, success)");
        Console.WriteLine($"actor path: {jobsPerSecond:F0} jobs/s = {100 * jobsPerSecond / baselineRate:F0} % of the baseline; " +
                          $"{requestsPerJob:F1} GitLab requests per job");
    }

    private static async Task<(double JobsPerSecond, double RequestsPerJob)> ActorPathAsync(LeanGitLab gitlab, int runners, int concurrent,
        TimeSpan warmUp, TimeSpan measure, AllocationSampler? sampler, bool fakeCluster, bool countExceptions)
    {
        // Either fake keeps no per-call history and drops a pod's Secrets with it, so its memory stays flat over a run.
        var lean = fakeCluster ? null : new LeanCluster();
        IKubernetesGatewayFactory cluster = lean ?? (IKubernetesGatewayFactory)new FakeCluster { InitialPhase = "Running", KeepHistory = false };
        Console.WriteLine($"Kubernetes: {(lean is null ? "the actor tests' FakeCluster" : "LeanCluster")}");
        var settings = new GlobalSettings
        {
            Concurrent = concurrent,
            CheckInterval = 3,
            ShutdownTimeout = 5,
            KubernetesApiRate = 1_000_000,
            KubernetesApiBurst = 1_000_000,
            Runners = Enumerable.Range(1, runners).Select(i => new RunnerEntry
            {
                Name = $"bench-{i}",
                Url = gitlab.Url,
                Token = $"glrt-bench-{i}",
                Kubernetes = new KubernetesSettings { Namespace = "default", Image = "alpine:3.20" },
            }).ToList(),
        };
        using var http = GitLabHttp.CreateClient();
        var host = RunHost.Start(settings, new RunHostOptions(cluster, new ExecutionOptions(Identity, Scheduler.Actors.Scripts.HelperInvocation.Default)
        {
            // The stages as the fake cluster understands them (launch/wait/read-log), exiting 0 at once.
            Planner = new FakePlanner(FakePlanner.StandardStages),
        }, http,
            Identity, "s_0123456789ab") { HoconOverrides = "akka.loglevel = WARNING" });
        using var exceptions = countExceptions ? new ExceptionCounter() : null;
        try
        {
            await Task.Delay(warmUp);
            var (jobs0, requests0, calls0) = (gitlab.Succeeded + gitlab.Failed, gitlab.Requests, lean?.Calls ?? 0);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var gc0 = GcFigures.Now();
            sampler?.Counting = true;
            exceptions?.Counting = true;
            var clock = Stopwatch.StartNew();
            await Task.Delay(measure / 2);
            var capacity = await Akka.Actor.Futures.Ask<Scheduler.Messages.Protocol.CapacityStatus>(host.Supervisor,
                Scheduler.Messages.Protocol.GetCapacity.Instance, TimeSpan.FromSeconds(10));
            await Task.Delay(measure / 2);
            var (jobs, requests, calls) = (gitlab.Succeeded + gitlab.Failed - jobs0, gitlab.Requests - requests0, (lean?.Calls ?? 0) - calls0);
            var elapsed = clock.Elapsed.TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
            sampler?.Counting = false;
            exceptions?.Counting = false;
            Console.WriteLine($"actor path: {GcFigures.Now().Since(gc0, jobs)}");
            Console.WriteLine($"actor path: {capacity.Running} jobs in flight halfway (so {1000 * capacity.Running / Math.Max(1, jobs / elapsed):F0} ms per job from admission to its end)");
            Console.WriteLine($"actor path: {jobs} jobs finished in {elapsed:F1} s ({gitlab.Failed} failed in all); " +
                              $"CPU {cpu / elapsed / 10:F0} % of one core, {(jobs == 0 ? 0 : cpu * 1000 / jobs):F0} µs per job (GitLab fake included)");
            if (exceptions is not null)
            {
                Console.WriteLine($"actor path: {(jobs == 0 ? 0 : exceptions.Total / (double)jobs):F2} exceptions thrown per job" +
                                  string.Concat(exceptions.Top(4).Select(e => $"; {e.Count / (double)Math.Max(1, jobs):F2} {e.Kind}")));
            }

            if (lean is not null && jobs > 0)
            {
                Console.WriteLine($"actor path: {calls / (double)jobs:F1} Kubernetes calls per job; LeanCluster alone: {LeanClusterCost(lean, calls / (double)jobs):F1} µs CPU per job");
            }

            return (jobs / elapsed, jobs == 0 ? 0 : requests / (double)jobs);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    // The lean Kubernetes' own cost: the calls of a job (Secret create and owner, pod create, the stages' execs, the pod's
    // delete) made directly, timed by thread CPU on this thread, so that the runner's share can be told apart.
    private static double LeanClusterCost(LeanCluster lean, double callsPerJob)
    {
        const int Jobs = 20_000;
        var pod = new k8s.Models.V1Pod { Metadata = new k8s.Models.V1ObjectMeta { Name = "p", NamespaceProperty = "default" } };
        var secret = new k8s.Models.V1Secret { Metadata = new k8s.Models.V1ObjectMeta { Name = "s", NamespaceProperty = "default" } };
        var owner = new k8s.Models.V1OwnerReference { Name = "p" };
        Func<ReadOnlyMemory<byte>, Task> sink = _ => Task.CompletedTask;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var made = 0;
        for (var i = 0; i < Jobs; i++)
        {
            lean.CreateSecretAsync(secret, default).GetAwaiter().GetResult();
            lean.SetSecretOwnerAsync("default", "s", owner, default).GetAwaiter().GetResult();
            lean.CreatePodAsync(pod, default).GetAwaiter().GetResult();
            for (var stage = 0; stage < callsPerJob - 4; stage++)
            {
                made += lean.ExecAsync("default", "p", "build", ["run", "step"], sink, default).GetAwaiter().GetResult();
            }

            lean.DeletePodAsync("default", "p", null, default).GetAwaiter().GetResult();
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds * 1000 / Jobs + made;
    }

    private static async Task<double> BaselineAsync(LeanGitLab gitlab, int loops, TimeSpan warmUp, TimeSpan measure)
    {
        using var http = GitLabHttp.CreateClient();
        var api = new Uri(gitlab.Url + "/api/v4/");
        long jobs = 0;
        var counting = false;
        using var stop = new CancellationTokenSource(warmUp + measure);
        var clock = new Stopwatch();
        var cpu0 = TimeSpan.Zero;
        var gc0 = GcFigures.Now();
        _ = Task.Delay(warmUp).ContinueWith(_ =>
        {
            Interlocked.Exchange(ref jobs, 0);
            cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            gc0 = GcFigures.Now();
            counting = true;
            clock.Start();
        });
        await Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(async () =>
        {
            var trace = Encoding.UTF8.GetBytes("Running with dispatch-bench\n");
            while (!stop.IsCancellationRequested)
            {
                using var asked = await http.PostAsync(new Uri(api, "jobs/request"), Json("{\"token\":\"glrt-bench\",\"info\":{}}"));
                var job = System.Text.Json.JsonDocument.Parse(await asked.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64();
                using (await http.PutAsync(new Uri(api, $"jobs/{job}"), Json("{\"token\":\"t\",\"state\":\"running\"}")))
                {
                }

                using var patch = new HttpRequestMessage(HttpMethod.Patch, new Uri(api, $"jobs/{job}/trace")) { Content = new ByteArrayContent(trace) };
                patch.Content.Headers.TryAddWithoutValidation("Content-Range", $"0-{trace.Length - 1}");
                using (await http.SendAsync(patch))
                {
                }

                using (await http.PutAsync(new Uri(api, $"jobs/{job}"), Json("{\"token\":\"t\",\"state\":\"success\",\"exit_code\":0}")))
                {
                }

                if (counting)
                {
                    Interlocked.Increment(ref jobs);
                }
            }
        })));
        var done = Interlocked.Read(ref jobs);
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
        Console.WriteLine($"loopback HTTP baseline: {GcFigures.Now().Since(gc0, done)}");
        Console.WriteLine($"loopback HTTP baseline: {done} jobs in {clock.Elapsed.TotalSeconds:F1} s; CPU {cpu / clock.Elapsed.TotalSeconds / 10:F0} % of one core, " +
                          $"{(done == 0 ? 0 : cpu * 1000 / done):F0} µs per job (GitLab fake included)");
        return done / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Bytes allocated by all threads and collections per generation, to report per job.</summary>
    private readonly record struct GcFigures(long Allocated, int Gen0, int Gen1, int Gen2)
    {
        public static GcFigures Now() => new(GC.GetTotalAllocatedBytes(), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));

        public string Since(GcFigures before, long jobs) =>
            $"{(jobs == 0 ? 0 : (Allocated - before.Allocated) / 1024.0 / jobs):F1} KiB allocated per job (GitLab fake included); " +
            $"collections gen0 {Gen0 - before.Gen0}, gen1 {Gen1 - before.Gen1}, gen2 {Gen2 - before.Gen2}";
    }

    private static StringContent Json(string json) => new(json, new MediaTypeHeaderValue("application/json"));
}
