using System.Net;
using Scheduler.Fleet;
using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.Metrics;

/// <summary><c>/fleet</c> requests share one fan-out; <c>/ready</c> is asked asynchronously.</summary>
public sealed class SharedAnswerTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly FleetStatus Sample = new("akka.ssl.tcp://scheduler@10.0.0.1:4053", true,
        [new NodeStatus("akka.ssl.tcp://scheduler@10.0.0.1:4053", [], "Up", true, 4, new Dictionary<string, int>(), 4)]);

    [Fact]
    public async Task Callers_during_a_fetch_wait_for_it_and_a_fresh_answer_is_reused_until_it_is_too_old()
    {
        var clock = new ManualClock();
        var fetches = 0;
        var release = new TaskCompletionSource();
        var answer = new SharedAnswer<int>(async _ => { Interlocked.Increment(ref fetches); await release.Task; return fetches; },
            TimeSpan.FromSeconds(2), clock);

        var waiting = Enumerable.Range(0, 50).Select(_ => answer.GetAsync(CancellationToken.None)).ToList();
        release.SetResult();
        Assert.All(await Task.WhenAll(waiting), value => Assert.Equal(1, value));

        clock.Now += TimeSpan.FromSeconds(1.9);
        Assert.Equal(1, await answer.GetAsync(CancellationToken.None));
        clock.Now += TimeSpan.FromSeconds(0.2);
        Assert.Equal(2, await answer.GetAsync(CancellationToken.None));
        Assert.Equal(2, fetches);
    }

    [Fact]
    public async Task A_failed_fetch_is_not_kept_and_a_caller_that_gives_up_does_not_cancel_the_others()
    {
        var clock = new ManualClock();
        var attempt = 0;
        var release = new TaskCompletionSource();
        var answer = new SharedAnswer<string>(async _ =>
        {
            if (Interlocked.Increment(ref attempt) == 1)
            {
                throw new TimeoutException("the fleet did not answer");
            }
            await release.Task;
            return "ok";
        }, TimeSpan.FromSeconds(2), clock);

        await Assert.ThrowsAsync<TimeoutException>(() => answer.GetAsync(CancellationToken.None));

        using var impatient = new CancellationTokenSource();
        var givesUp = answer.GetAsync(impatient.Token);
        var waits = answer.GetAsync(CancellationToken.None);
        impatient.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => givesUp);
        release.SetResult();
        Assert.Equal("ok", await waits);
        Assert.Equal(2, attempt);
    }

    [Fact]
    public async Task A_burst_of_fleet_requests_costs_one_fan_out()
    {
        var fanOuts = 0;
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(),
            _ => Task.FromResult(true), fleetStatus: async _ =>
            {
                Interlocked.Increment(ref fanOuts);
                await Task.Delay(200);
                return Sample;
            }, time: new ManualClock());
        using var http = new HttpClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => http.GetAsync(new Uri(endpoint.Address, "/fleet"))));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        Assert.Equal(1, fanOuts);
    }

    [Fact]
    public async Task Ready_is_asked_asynchronously_and_answers_while_the_check_is_slow()
    {
        var readiness = new TaskCompletionSource<bool>();
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", Prometheus.Metrics.NewCustomRegistry(),
            _ => readiness.Task);
        using var http = new HttpClient();

        var probes = Enumerable.Range(0, 20).Select(_ => http.GetAsync(new Uri(endpoint.Address, "/ready"))).ToList();
        // While every probe waits on the check, the listener still serves other routes.
        var health = await http.GetAsync(new Uri(endpoint.Address, "/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        readiness.SetResult(true);
        Assert.All(await Task.WhenAll(probes), p => Assert.Equal(HttpStatusCode.OK, p.StatusCode));
    }
}
