using System.Text;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Kubernetes;
using Scheduler.LocalCluster;

namespace Scheduler.Scheduler.Tests.Kubernetes;

/// <summary>The real gateway against the in-process embedded cluster, whose pods are sandboxed host processes.</summary>
public sealed class KubernetesGatewayTests : EmbeddedGatewayTestBase
{
    private static V1Pod SleepingPod(string name, string label = "1") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Labels = new Dictionary<string, string> { ["scheduler/job-id"] = label } },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = 1,
            Containers = [new V1Container { Name = "main", Image = "alpine:3", Command = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"] }],
        },
    };

    private async Task<V1Pod> RunningPodAsync(string name)
    {
        await Gateway.CreatePodAsync(SleepingPod(name), CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var pod = await Gateway.ReadPodAsync("default", name, timeout.Token);
            if (pod?.Status?.Phase == "Running" && (pod.Status.ContainerStatuses ?? []).All(c => c.Ready))
            {
                return pod;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    private async Task<(int Code, string Stdout, int Chunks)> ExecAsync(string pod, params string[] command)
    {
        var output = new StringBuilder();
        var chunks = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await Gateway.ExecAsync("default", pod, "main", command, chunk =>
        {
            output.Append(Encoding.UTF8.GetString(chunk.Span));
            chunks++;
            return Task.CompletedTask;
        }, timeout.Token);
        return (code, output.ToString(), chunks);
    }

    [Fact]
    public async Task Create_twice_returns_the_existing_pod_read_of_a_missing_pod_is_null_and_delete_of_a_missing_pod_succeeds()
    {
        var created = await Gateway.CreatePodAsync(SleepingPod("p1"), CancellationToken.None);
        var again = await Gateway.CreatePodAsync(SleepingPod("p1"), CancellationToken.None);

        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.Equal(created.Metadata.Uid, again.Metadata.Uid);
        Assert.NotNull(await Gateway.ReadPodAsync("default", "p1", CancellationToken.None));
        Assert.Null(await Gateway.ReadPodAsync("default", "nothing-here", CancellationToken.None));

        await Gateway.DeletePodAsync("default", "p1", null, CancellationToken.None);
        await Gateway.DeletePodAsync("default", "nothing-here", null, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await Gateway.ReadPodAsync("default", "p1", timeout.Token) is not null)
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    [Fact]
    public async Task A_secret_made_before_its_pod_is_then_owned_by_it_and_collected_with_it()
    {
        var secret = new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "p5-job", NamespaceProperty = "default" },
            StringData = new Dictionary<string, string> { ["job-token"] = "t" },
        };
        await Gateway.CreateSecretAsync(secret, CancellationToken.None);
        var pod = await Gateway.CreatePodAsync(SleepingPod("p5"), CancellationToken.None);

        var owned = await Gateway.SetSecretOwnerAsync("default", "p5-job", JobPodPlan.OwnerReferenceOf(pod),
            CancellationToken.None);
        await Gateway.SetSecretOwnerAsync("default", "p5-job", JobPodPlan.OwnerReferenceOf(pod), CancellationToken.None);

        Assert.Equal(pod.Metadata.Uid, owned!.Metadata.OwnerReferences.Single().Uid);
        var stored = await Client.CoreV1.ReadNamespacedSecretAsync("p5-job", "default");
        Assert.Equal(("Pod", "p5", pod.Metadata.Uid), (stored.Metadata.OwnerReferences.Single().Kind,
            stored.Metadata.OwnerReferences.Single().Name, stored.Metadata.OwnerReferences.Single().Uid));
        Assert.Null(await Gateway.SetSecretOwnerAsync("default", "no-such-secret", JobPodPlan.OwnerReferenceOf(pod),
            CancellationToken.None));

        // Deleting the pod takes the Secret with it (ownerReference garbage collection).
        await Gateway.DeletePodAsync("default", "p5", null, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await Gateway.ReadSecretAsync("default", "p5-job", timeout.Token) is not null)
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    [Fact]
    public async Task Deleting_a_secret_twice_is_not_an_error()
    {
        await Gateway.CreateSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "lonely", NamespaceProperty = "default" },
            StringData = new Dictionary<string, string> { ["k"] = "v" },
        }, CancellationToken.None);

        await Gateway.DeleteSecretAsync("default", "lonely", null, CancellationToken.None);
        await Gateway.DeleteSecretAsync("default", "lonely", null, CancellationToken.None);

        Assert.Null(await Gateway.ReadSecretAsync("default", "lonely", CancellationToken.None));
    }

    [Fact]
    public async Task A_request_the_api_does_not_answer_in_time_ends_as_a_transient_timeout_not_as_a_cancellation()
    {
        var gateway = new KubernetesGateway(Client, new ApiRateLimiter(100, 100), TimeSpan.FromMilliseconds(300));
        Server.Faults = new FaultSettings { Latency = TimeSpan.FromSeconds(3) };
        using var caller = new CancellationTokenSource();

        var error = await Assert.ThrowsAsync<TimeoutException>(() => gateway.ReadPodAsync("default", "slow", caller.Token));

        Assert.False(caller.IsCancellationRequested);
        Assert.Equal(FaultKind.Transient,
            KubernetesFaults.Classify(error, caller.Token));
        Assert.Contains("did not answer", KubernetesFaults.Describe(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_owned_by_the_pod_are_created_once_and_a_second_create_is_not_an_error()
    {
        var pod = await Gateway.CreatePodAsync(SleepingPod("p2"), CancellationToken.None);
        var secret = new V1Secret
        {
            Metadata = new V1ObjectMeta
            {
                Name = "p2-job", NamespaceProperty = "default",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "p2", Uid = pod.Metadata.Uid }],
            },
            StringData = new Dictionary<string, string> { ["job-token"] = "t" },
        };

        var created = await Gateway.CreateSecretAsync(secret, CancellationToken.None);
        await Gateway.CreateSecretAsync(secret, CancellationToken.None);

        Assert.Equal("p2-job", created.Metadata.Name);
        Assert.Equal(2, Server.Requests.Count("create", "secrets")); // the second got 409 AlreadyExists
        var stored = await Client.CoreV1.ReadNamespacedSecretAsync("p2-job", "default");
        Assert.Equal(pod.Metadata.Uid, stored.Metadata.OwnerReferences.Single().Uid);
    }

    [Fact]
    public async Task A_secret_create_that_meets_a_409_returns_the_existing_secret_with_its_own_owner()
    {
        // A restarted job's pod has a new uid; the Secret left by its earlier pod still names the old one, and the caller
        // must see that to replace it.
        var old = await Gateway.CreatePodAsync(SleepingPod("p3"), CancellationToken.None);
        V1Secret OwnedBy(string uid) => new()
        {
            Metadata = new V1ObjectMeta
            {
                Name = "p3-job", NamespaceProperty = "default",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "p3", Uid = uid }],
            },
            StringData = new Dictionary<string, string> { ["job-token"] = "t" },
        };
        await Gateway.CreateSecretAsync(OwnedBy(old.Metadata.Uid), CancellationToken.None);

        var answer = await Gateway.CreateSecretAsync(OwnedBy("a-newer-uid"), CancellationToken.None);

        Assert.Equal(old.Metadata.Uid, answer.Metadata.OwnerReferences.Single().Uid);
        Assert.False(string.IsNullOrEmpty(answer.Metadata.Uid)); // read from the server, not the body given
        Assert.Equal(1, Server.Requests.Count("get", "secrets"));
    }

    [Fact]
    public async Task The_watch_reports_pods_matching_the_label_selector()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, pod) in Gateway.WatchPodsAsync("default", "scheduler/job-id=7", timeout.Token))
            {
                seen.Add($"{type} {pod.Metadata.Name}");
                if (pod.Metadata.Name == "watched")
                {
                    return;
                }
            }
        });
        await Task.Delay(300);

        await Gateway.CreatePodAsync(SleepingPod("unwatched", "8"), CancellationToken.None);
        await Gateway.CreatePodAsync(SleepingPod("watched", "7"), CancellationToken.None);
        await watching;

        Assert.Equal("Added watched", seen[0]);
        Assert.DoesNotContain(seen, s => s.EndsWith("unwatched", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Exec_returns_exit_codes_and_streams_stdout()
    {
        await RunningPodAsync("p3");

        Assert.Equal(0, (await ExecAsync("p3", "sh", "-c", "true")).Code);
        Assert.Equal(3, (await ExecAsync("p3", "sh", "-c", "echo to-stderr >&2; exit 3")).Code);
        var streamed = await ExecAsync("p3", "sh", "-c", "echo first; sleep 1.5; echo second");
        Assert.Equal((0, "first\nsecond\n"), (streamed.Code, streamed.Stdout));
        Assert.True(streamed.Chunks >= 2, $"stdout came in {streamed.Chunks} chunk(s), not as it was written");
    }

    [Fact]
    public async Task A_dropped_exec_connection_is_reported_as_lost_not_as_an_exit()
    {
        await RunningPodAsync("p4");
        Server.Faults = new FaultSettings { ExecDropAfterBytes = 4 };

        await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync("p4", "sh", "-c", "printf 0123456789; sleep 2"));

        Server.Faults = FaultSettings.None;
        Assert.Equal(0, (await ExecAsync("p4", "sh", "-c", "true")).Code);
    }

    [Fact]
    public async Task An_exec_whose_connection_drops_while_the_command_runs_is_lost_not_ended()
    {
        await RunningPodAsync("p5");
        Server.Faults = new FaultSettings { ExecDropAfter = TimeSpan.FromMilliseconds(500) };

        // Nothing on stdout, no status: the drop is the only thing that happens, and it must not read as an exit.
        var lost = await Assert.ThrowsAsync<ExecConnectionLostException>(() => ExecAsync("p5", "sh", "-c", "sleep 5"));
        Assert.Contains("p5", lost.Message);
    }

    [Theory]
    [InlineData("{\"kind\":\"Status\",\"status\":\"Success\"}", 0)]
    [InlineData("{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"42\"}]}}", 42)]
    [InlineData("", null)]
    [InlineData("   ", null)]
    [InlineData("{\"kind\":\"Sta", null)]
    public void The_exit_code_comes_from_the_status_channel(string json, int? expected)
    {
        Assert.Equal(expected, KubernetesGateway.ExitCodeOf(json));
    }

    [Fact]
    public void A_status_that_is_an_error_of_the_exec_itself_throws()
    {
        var e = Assert.Throws<KubernetesException>(() =>
            KubernetesGateway.ExitCodeOf("{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"InternalError\",\"message\":\"no such container\"}"));
        Assert.Contains("no such container", e.Message);
    }
}

public sealed class ApiRateLimiterTests
{
    [Fact]
    public async Task A_burst_passes_at_once_and_later_requests_wait_for_refills_in_arrival_order()
    {
        using var limiter = new ApiRateLimiter(requestsPerSecond: 20, burst: 2);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        Assert.True(limiter.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        Assert.True(limiter.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        var order = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var waiting = Enumerable.Range(0, 4).Select(i => limiter.WaitAsync(CancellationToken.None).ContinueWith(_ => order.Enqueue(i))).ToList();
        Assert.False(waiting[0].IsCompleted);

        await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(150), $"4 requests beyond the burst at 20/s took only {clock.Elapsed}");
        Assert.Equal([0, 1, 2, 3], order);

        await Task.Delay(400); // the bucket refills, but never above the burst
        Assert.True(limiter.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        Assert.True(limiter.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        Assert.False(limiter.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Theory]
    [InlineData(2, 500, 1)]
    [InlineData(20, 50, 1)]
    [InlineData(20000, 50, 1000)]
    public void The_rate_is_refilled_in_steps_the_timer_can_keep(double rate, int periodMs, int tokens)
    {
        using var limiter = new ApiRateLimiter(rate, 10);

        Assert.Equal(TimeSpan.FromMilliseconds(periodMs), limiter.Period);
        Assert.Equal(tokens, limiter.TokensPerPeriod);
    }

    [Fact]
    public async Task A_waiting_request_is_cancelled_with_its_caller()
    {
        using var limiter = new ApiRateLimiter(1, 1);
        await limiter.WaitAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiting = limiter.WaitAsync(cancel.Token);

        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(-1, 1)]
    [InlineData(1, 0)]
    public void Nonsense_settings_are_refused(double rate, int burst)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ApiRateLimiter(rate, burst));
    }
}

/// <summary>An exec whose WebSocket handshake got an HTTP answer instead of 101: its status decides whether to retry.</summary>
public sealed class ExecHandshakeTests
{
    [Theory]
    [InlineData("The server returned status code '503' when status code '101' was expected.", 503, FaultKind.Transient)]
    [InlineData("The server returned status code '429' when status code '101' was expected.", 429, FaultKind.Transient)]
    [InlineData("The server returned status code '403' when status code '101' was expected.", 403, FaultKind.Permanent)]
    [InlineData("The remote party closed the WebSocket connection", null, FaultKind.Permanent)]
    public void A_refused_handshake_is_transient_only_for_429_and_5xx(string message, int? status, FaultKind kind)
    {
        Assert.Equal(status, ExecHandshake.Status(message));
        var error = status is { } code
            ? new KubernetesException(new V1Status { Code = code, Message = message })
            : new KubernetesException(message);
        Assert.Equal(kind, KubernetesFaults.Classify(error, CancellationToken.None));
    }
}
