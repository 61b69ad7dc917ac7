using System.Net;
using k8s;
using k8s.Autorest;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>The fault classifier and the retry budget (pure).</summary>
public sealed class KubernetesFaultsTests
{
    private static HttpOperationException Http(HttpStatusCode status, string? retryAfter = null, string content = "")
    {
        var response = new HttpResponseMessage(status);
        if (retryAfter is not null)
        {
            response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
        }

        return new HttpOperationException($"Operation returned an invalid status code '{status}'")
        {
            Response = new HttpResponseMessageWrapper(response, content),
        };
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, FaultKind.Transient)]
    [InlineData(HttpStatusCode.InternalServerError, FaultKind.Transient)]
    [InlineData(HttpStatusCode.ServiceUnavailable, FaultKind.Transient)]
    [InlineData(HttpStatusCode.RequestTimeout, FaultKind.Transient)]
    [InlineData(HttpStatusCode.Forbidden, FaultKind.Permanent)]
    [InlineData(HttpStatusCode.UnprocessableEntity, FaultKind.Permanent)]
    [InlineData(HttpStatusCode.BadRequest, FaultKind.Permanent)]
    public void Statuses_are_transient_or_permanent(HttpStatusCode status, FaultKind expected) =>
        Assert.Equal(expected, KubernetesFaults.Classify(Http(status), CancellationToken.None));

    [Fact]
    public void A_cancellation_is_stopped_only_when_the_actor_token_was_cancelled()
    {
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();

        Assert.Equal(FaultKind.Transient, KubernetesFaults.Classify(new TaskCanceledException("timed out"), CancellationToken.None));
        Assert.Equal(FaultKind.Stopped, KubernetesFaults.Classify(new TaskCanceledException("cancelled"), stopped.Token));
        Assert.Equal(FaultKind.Transient, KubernetesFaults.Classify(new TimeoutException("no answer"), CancellationToken.None));
    }

    [Fact]
    public void A_status_wrapped_by_the_gateway_decides_and_its_message_is_kept()
    {
        var refused = new KubernetesException("exec in ns/pod (build) was refused: 500 boom", Http(HttpStatusCode.InternalServerError));

        Assert.Equal(FaultKind.Transient, KubernetesFaults.Classify(refused, CancellationToken.None));
        Assert.Equal(HttpStatusCode.InternalServerError, KubernetesFaults.StatusOf(refused));
        Assert.Equal("exec in ns/pod (build) was refused: 500 boom", KubernetesFaults.Describe(refused));
    }

    [Fact]
    public void Describe_names_the_status_and_the_api_servers_message()
    {
        var error = Http(HttpStatusCode.Forbidden,
            content: """{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods is forbidden: no","code":403}""");

        Assert.Equal("403 Forbidden: pods is forbidden: no", KubernetesFaults.Describe(error));
    }

    [Fact]
    public void Retry_after_in_seconds_is_read_and_wins_over_the_backoff_up_to_the_cap()
    {
        var settings = new RetrySettings(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));

        Assert.Equal(TimeSpan.FromSeconds(7), KubernetesFaults.RetryAfter(Http(HttpStatusCode.TooManyRequests, "7")));
        Assert.Null(KubernetesFaults.RetryAfter(Http(HttpStatusCode.TooManyRequests)));
        Assert.Equal(TimeSpan.FromSeconds(7), RetryBudget.DelayFor(settings, 1, TimeSpan.FromSeconds(7), 0.5));
        Assert.Equal(TimeSpan.FromSeconds(10), RetryBudget.DelayFor(settings, 1, TimeSpan.FromSeconds(90), 0.5));
    }

    [Fact]
    public void The_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half()
    {
        var settings = new RetrySettings(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));

        Assert.Equal(TimeSpan.FromSeconds(1), RetryBudget.DelayFor(settings, 1, null, 1.0));
        Assert.Equal(TimeSpan.FromSeconds(4), RetryBudget.DelayFor(settings, 3, null, 1.0));
        Assert.Equal(TimeSpan.FromSeconds(2), RetryBudget.DelayFor(settings, 3, null, 0.0));
        Assert.Equal(TimeSpan.FromSeconds(10), RetryBudget.DelayFor(settings, 20, null, 1.0));
    }

    [Fact]
    public void A_budget_gives_its_retries_once_for_the_whole_job()
    {
        var budget = new RetryBudget(new RetrySettings(2, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10)), () => 1.0);

        Assert.True(budget.TryTake(1, null, out var first));
        Assert.True(budget.TryTake(1, null, out _));
        Assert.False(budget.TryTake(1, null, out var none));

        Assert.Equal(TimeSpan.FromSeconds(1), first);
        Assert.Equal(TimeSpan.Zero, none);
        Assert.Equal((2, 0), (budget.Used, budget.Left));
    }

    [Theory]
    // retry_limit, retry_backoff_max (ms) → retries one call gets, the longest pause
    [InlineData(null, null, 30, 30_000)]   // unset: the job's budget (30) and 30 s
    [InlineData(5, 2000, 4, 2000)]         // GitLab Runner's defaults: 5 tries of a call, pauses capped at 2 s
    [InlineData(1, null, 0, 30_000)]       // one try: no retry
    public void Retry_limit_and_retry_backoff_max_bound_each_call_as_in_GitLab_Runner(int? limit, int? backoffMax, int retries,
        int longestMs)
    {
        var budget = new RetryBudget(RetrySettings.Default.For(limit, backoffMax), () => 1.0);

        var granted = 0;
        var longest = TimeSpan.Zero;
        for (var attempt = 1; attempt <= 50 && budget.TryTake(attempt, null, out var delay); attempt++)
        {
            granted++;
            longest = delay > longest ? delay : longest;
        }

        Assert.Equal(retries, granted);
        if (retries > 0)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(Math.Min(longestMs, 500 * Math.Pow(2, retries - 1))), longest);
        }

        Assert.True(budget.TryTake(1, null, out _) || retries == 0 || granted == RetrySettings.Default.MaxRetriesPerJob,
            "a new call starts counting its own tries again (within the job's budget)");
    }

    [Fact]
    public void A_dropped_exec_is_transient()
    {
        Assert.Equal(FaultKind.Transient, KubernetesFaults.Classify(new ExecConnectionLostException("dropped"), CancellationToken.None));
        Assert.Equal(FaultKind.Permanent, KubernetesFaults.Classify(new InvalidOperationException("a bug"), CancellationToken.None));
    }
}
