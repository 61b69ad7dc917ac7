using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Scheduler.FakeGitLab;

namespace Scheduler.Fleet.Tests;

/// <summary>The fake GitLab's random faults (<see cref="FakeChaos"/>) that the chaos test relies on: 5xx answers that change
/// nothing, lost answers whose request took effect, both repeatable with a seed and limited to the chosen endpoints.</summary>
public sealed class FakeGitLabChaosTests : IAsyncLifetime
{
    private FakeGitLabServer _gitLab = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _gitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _gitLab.DisposeAsync();
    }

    /// <summary>A job picked up and acknowledged (running), with chaos still off.</summary>
    private async Task<FakeJob> RunningJobAsync()
    {
        var runner = _gitLab.AddRunner();
        var job = _gitLab.EnqueueJob(runner);
        using var picked = await _http.PostAsync($"{_gitLab.Url}/api/v4/jobs/request",
            new StringContent(new JsonObject { ["token"] = runner }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(201, (int)picked.StatusCode);
        Assert.Equal("running", job.Status);
        return job;
    }

    private Task<HttpResponseMessage> PatchAsync(FakeJob job, long offset, string text)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"{_gitLab.Url}/api/v4/jobs/{job.Id}/trace")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(text)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + text.Length - 1}");
        request.Headers.TryAddWithoutValidation("JOB-TOKEN", job.Token);
        return _http.SendAsync(request);
    }

    /// <summary>The status of each of <paramref name="count"/> one-byte appends, resending from GitLab's size (as a runner does
    /// after a 416), or -1 for a reset connection.</summary>
    private async Task<List<int>> AppendBytesAsync(FakeJob job, int count)
    {
        var statuses = new List<int>();
        for (var i = 0; i < count; i++)
        {
            try
            {
                using var response = await PatchAsync(job, job.TraceBytes().Length, "x");
                statuses.Add((int)response.StatusCode);
            }
            catch (HttpRequestException)
            {
                statuses.Add(-1);
            }
        }

        return statuses;
    }

    [Fact]
    public async Task Server_errors_and_lost_answers_follow_the_rates_and_repeat_with_the_seed()
    {
        var first = await RunningJobAsync();
        var second = await RunningJobAsync();
        var chaos = new FakeChaos { ServerErrorRate = 0.2, LostAnswerRate = 0.1, Seed = 11 };

        _gitLab.Chaos = chaos;
        var a = await AppendBytesAsync(first, 300);
        _gitLab.Chaos = chaos;
        var b = await AppendBytesAsync(second, 300);

        Assert.Equal(a, b);
        Assert.InRange(a.Count(s => s is 500 or 502 or 503), 35, 90);
        Assert.InRange(a.Count(s => s == -1), 12, 50);
        Assert.Equal(300, a.Count(s => s is 202 or 500 or 502 or 503 or -1));
        Assert.Equal([500, 502, 503], a.Where(s => s >= 500).Distinct().Order());

        // A 5xx appended nothing; a lost answer appended its byte: the trace holds one byte per 202 or lost answer.
        Assert.Equal(a.Count(s => s is 202 or -1), first.TraceBytes().Length);
        var recorded = _gitLab.RequestsTo(FakeEndpoint.PatchTrace).Where(r => r.Path.Contains($"/{first.Id}/", StringComparison.Ordinal)).ToArray();
        Assert.Equal(a.Count(s => s == -1), recorded.Count(r => r.Chaos == "lost" && r.Status == 202));
        Assert.Equal(a.Count(s => s >= 500), recorded.Count(r => r.Chaos == "5xx"));
    }

    [Fact]
    public async Task A_lost_final_update_takes_effect_and_the_retry_hears_the_job_is_over()
    {
        var job = await RunningJobAsync();
        _gitLab.Chaos = new FakeChaos { LostAnswerRate = 1, LostAnswerEndpoints = new HashSet<FakeEndpoint> { FakeEndpoint.UpdateJob } };
        var update = new JsonObject { ["token"] = job.Token, ["state"] = "failed", ["failure_reason"] = "script_failure", ["exit_code"] = 3 }
            .ToJsonString();

        await Assert.ThrowsAsync<HttpRequestException>(() =>
            _http.PutAsync($"{_gitLab.Url}/api/v4/jobs/{job.Id}", new StringContent(update, Encoding.UTF8, "application/json")));
        Assert.Equal(("failed", "script_failure", (int?)3), (job.Status, job.FailureReason, job.ExitCode));

        _gitLab.Chaos = null;
        using var retry = await _http.PutAsync($"{_gitLab.Url}/api/v4/jobs/{job.Id}", new StringContent(update, Encoding.UTF8, "application/json"));
        Assert.Equal(403, (int)retry.StatusCode);
        Assert.Equal("failed", retry.Headers.GetValues("Job-Status").Single());
    }

    [Fact]
    public async Task A_server_error_on_a_job_request_hands_out_nothing_and_other_endpoints_are_spared()
    {
        var runner = _gitLab.AddRunner();
        var job = _gitLab.EnqueueJob(runner);
        _gitLab.Chaos = new FakeChaos
        {
            ServerErrorRate = 1,
            ServerErrorEndpoints = new HashSet<FakeEndpoint> { FakeEndpoint.RequestJob },
            LostAnswerRate = 0,
        };
        var body = new JsonObject { ["token"] = runner }.ToJsonString();

        using var failed = await _http.PostAsync($"{_gitLab.Url}/api/v4/jobs/request", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(500, (int)failed.StatusCode);
        Assert.False(job.Picked);
        using var verify = await _http.PostAsync($"{_gitLab.Url}/api/v4/runners/verify", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(200, (int)verify.StatusCode);

        _gitLab.Chaos = null;
        using var picked = await _http.PostAsync($"{_gitLab.Url}/api/v4/jobs/request", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(201, (int)picked.StatusCode);
        Assert.True(job.Picked);
    }
}
