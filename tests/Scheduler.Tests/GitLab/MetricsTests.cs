using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.GitLab;

public sealed class MetricsTests : FakeGitLabTest
{
    [Fact]
    public async Task Client_counts_each_answer_by_endpoint_and_status()
    {
        var runner = GitLab.AddRunner();
        var client = Client(runnerLabel: "abc123");
        await client.RequestJobAsync(runner, null);
        await client.RequestJobAsync(runner, null);
        GitLab.InjectFault(FakeEndpoint.RequestJob, 429, retryAfterSeconds: 1);
        await client.RequestJobAsync(runner, null);
        var job = await StartJobAsync(client, runner);
        await client.PatchTraceAsync(job.Id, job.Token, 0, "x"u8.ToArray());

        var text = await Metrics.ExportTextAsync();

        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"abc123\",endpoint=\"request_job\",status=\"204\",method=\"POST\"} 2", text);
        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"abc123\",endpoint=\"request_job\",status=\"429\",method=\"POST\"} 1", text);
        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"abc123\",endpoint=\"request_job\",status=\"201\",method=\"POST\"} 1", text);
        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"abc123\",endpoint=\"update_job\",status=\"200\",method=\"PUT\"} 1", text);
        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"abc123\",endpoint=\"patch_trace\",status=\"202\",method=\"PATCH\"} 1", text);
        Assert.DoesNotContain(runner, text);
    }

    [Fact]
    public async Task Job_counts_durations_and_our_own_metrics_are_exported()
    {
        var metrics = new RunnerMetrics();
        metrics.SetConcurrent(4);
        metrics.SetLimit("r1", 2);
        metrics.JobStarted("r1");
        metrics.JobStarted("r1");
        metrics.JobStarted("r2");
        metrics.JobFinished("r1", TimeSpan.FromSeconds(45), "script_failure");
        metrics.SetPods("Running", 2);
        metrics.WatchRestarted();
        metrics.KubernetesRequestsForJob(12);
        metrics.Error("error");

        var text = await metrics.ExportTextAsync();

        Assert.Contains("gitlab_runner_jobs{runner=\"r1\",state=\"running\"} 1", text);
        Assert.Contains("gitlab_runner_jobs{runner=\"r2\",state=\"running\"} 1", text);
        Assert.Contains("gitlab_runner_jobs_total{runner=\"r1\"} 2", text);
        Assert.Contains("gitlab_runner_failed_jobs_total{runner=\"r1\",failure_reason=\"script_failure\"} 1", text);
        Assert.Contains("gitlab_runner_job_duration_seconds_bucket{runner=\"r1\",le=\"60\"} 1", text);
        Assert.Contains("gitlab_runner_job_duration_seconds_bucket{runner=\"r1\",le=\"30\"} 0", text);
        Assert.Contains("gitlab_runner_concurrent 4", text);
        Assert.Contains("gitlab_runner_limit{runner=\"r1\"} 2", text);
        Assert.Contains("scheduler_pods{phase=\"Running\"} 2", text);
        Assert.Contains("scheduler_watch_restarts_total 1", text);
        Assert.Contains("scheduler_kubernetes_requests_per_job_bucket{le=\"20\"} 1", text);
        Assert.Contains("gitlab_runner_errors_total{level=\"error\"} 1", text);
    }

    [Fact]
    public async Task Registries_are_isolated()
    {
        var first = new RunnerMetrics();
        var second = new RunnerMetrics();
        first.JobStarted("r");

        Assert.Contains("gitlab_runner_jobs_total{runner=\"r\"} 1", await first.ExportTextAsync());
        Assert.DoesNotContain("gitlab_runner_jobs_total{runner=\"r\"}", await second.ExportTextAsync());
    }

    [Fact]
    public async Task Endpoint_serves_metrics_health_and_readiness()
    {
        var metrics = new RunnerMetrics();
        metrics.SetConcurrent(3);
        var ready = false;
        await using var endpoint = await MetricsEndpoint.StartAsync("127.0.0.1:0", metrics.Registry, () => ready);
        var baseUrl = endpoint.Address.ToString().TrimEnd('/');

        var scrape = await Http.GetAsync(baseUrl + "/metrics");
        var health = await Http.GetAsync(baseUrl + "/health");
        var notReady = await Http.GetAsync(baseUrl + "/ready");
        ready = true;
        var nowReady = await Http.GetAsync(baseUrl + "/ready");
        var unknown = await Http.GetAsync(baseUrl + "/debug");
        var post = await Http.PostAsync(baseUrl + "/metrics", new StringContent(""));

        Assert.Equal(200, (int)scrape.StatusCode);
        Assert.Contains("gitlab_runner_concurrent 3", await scrape.Content.ReadAsStringAsync());
        Assert.StartsWith("text/plain", scrape.Content.Headers.ContentType!.ToString());
        Assert.Equal(200, (int)health.StatusCode);
        Assert.Equal((503, 200, 404, 405), ((int)notReady.StatusCode, (int)nowReady.StatusCode, (int)unknown.StatusCode, (int)post.StatusCode));
    }

    [Theory]
    [InlineData("127.0.0.1:9090", "127.0.0.1:9090")]
    [InlineData(":9252", "0.0.0.0:9252")]
    [InlineData("0.0.0.0", "0.0.0.0:9252")]
    [InlineData("localhost:8080", "127.0.0.1:8080")]
    [InlineData("[::1]:9000", "[::1]:9000")]
    public void Listen_address_parses_like_gitlab_runner(string listenAddress, string expected)
    {
        Assert.True(MetricsEndpoint.TryParseListenAddress(listenAddress, out var endpoint, out var error), error);
        Assert.Equal(expected, endpoint.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("host:notaport")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("gitlab.example.com:9252")]
    public void Bad_listen_addresses_are_refused(string listenAddress)
    {
        Assert.False(MetricsEndpoint.TryParseListenAddress(listenAddress, out _, out var error));
        Assert.StartsWith("listen_address", error);
    }
}
