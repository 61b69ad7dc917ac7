using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Scheduler.FakeGitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>The fake's answers on the raw protocol where GitLab's rules are strict (reference §8), so tests built on it
/// can trust it.</summary>
public sealed class FakeGitLabTests : FakeGitLabTest
{
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? json = null, string? jobToken = null,
        string? contentRange = null, byte[]? bytes = null)
    {
        using var request = new HttpRequestMessage(method, $"{GitLab.Url}/api/v4/{path}");
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        else if (bytes is not null)
        {
            request.Content = new ByteArrayContent(bytes);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
            if (contentRange is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Range", contentRange);
            }
        }

        if (jobToken is not null)
        {
            request.Headers.TryAddWithoutValidation("JOB-TOKEN", jobToken);
        }

        return await Http.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private async Task<(FakeJob Job, string Runner)> PickWithTwoPhaseAsync()
    {
        var runner = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(runner);
        var body = new JsonObject { ["token"] = runner, ["info"] = new JsonObject { ["features"] = new JsonObject { ["two_phase_job_commit"] = true } } };
        using var picked = await SendAsync(HttpMethod.Post, "jobs/request", body.ToJsonString());
        Assert.Equal(201, (int)picked.StatusCode);
        Assert.Equal("application/json", picked.Content.Headers.ContentType!.MediaType);
        Assert.Null(Header(picked, "X-GitLab-Last-Update"));
        return (job, runner);
    }

    [Fact]
    public async Task Two_phase_job_waits_for_running_accepts_pending_keep_alive_and_refuses_other_states()
    {
        var (job, _) = await PickWithTwoPhaseAsync();

        using var patchBeforeAck = await SendAsync(HttpMethod.Patch, $"jobs/{job.Id}/trace", jobToken: job.Token, contentRange: "0-0", bytes: "x"u8.ToArray());
        using var pending = await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", $$"""{"token":"{{job.Token}}","state":"pending"}""");
        using var success = await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", $$"""{"token":"{{job.Token}}","state":"success"}""");
        using var running = await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", jobToken: job.Token, json: """{"state":"running"}""");

        Assert.Equal((403, "pending"), ((int)patchBeforeAck.StatusCode, Header(patchBeforeAck, "Job-Status")));
        Assert.Equal((200, "pending"), ((int)pending.StatusCode, Header(pending, "Job-Status")));
        Assert.Equal(400, (int)success.StatusCode);
        Assert.Equal((200, "running"), ((int)running.StatusCode, Header(running, "Job-Status")));
        Assert.Equal("running", job.Status);
    }

    [Theory]
    [InlineData("""{"state":"bogus"}""", 400)]
    [InlineData("""{"state":"running"}""", 200)]
    public async Task Update_of_a_running_job_checks_the_state(string json, int expected)
    {
        var (job, _) = await PickWithTwoPhaseAsync();
        (await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", jobToken: job.Token, json: """{"state":"running"}""")).Dispose();

        using var response = await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", jobToken: job.Token, json: json);

        Assert.Equal(expected, (int)response.StatusCode);
        Assert.Equal("running", Header(response, "Job-Status"));
    }

    [Theory]
    [InlineData(true, null, 400)]
    [InlineData(false, "0-0", 403)]
    [InlineData(true, "x-1", 400)]
    [InlineData(true, "0-999", 202)]
    public async Task Trace_patch_needs_job_token_and_content_range_and_ignores_the_end(bool withToken, string? contentRange, int expected)
    {
        var (job, _) = await PickWithTwoPhaseAsync();
        (await SendAsync(HttpMethod.Put, $"jobs/{job.Id}", jobToken: job.Token, json: """{"state":"running"}""")).Dispose();

        using var response = await SendAsync(HttpMethod.Patch, $"jobs/{job.Id}/trace", jobToken: withToken ? job.Token : null,
            contentRange: contentRange, bytes: "ab"u8.ToArray());

        Assert.Equal(expected, (int)response.StatusCode);
        if (expected == 202)
        {
            Assert.Equal("0-2", Header(response, "Range"));
            Assert.Equal("1", Header(response, "X-GitLab-Trace-Update-Interval"));
        }
    }

    [Fact]
    public async Task Unregistered_runner_is_forbidden_afterwards_and_unknown_paths_are_404_json()
    {
        var runner = GitLab.AddRunner();

        using var deleted = await SendAsync(HttpMethod.Delete, "runners", $$"""{"token":"{{runner}}"}""");
        using var again = await SendAsync(HttpMethod.Delete, "runners", $$"""{"token":"{{runner}}"}""");
        using var request = await SendAsync(HttpMethod.Post, "jobs/request", $$"""{"token":"{{runner}}"}""");
        using var unknown = await SendAsync(HttpMethod.Get, "projects");

        Assert.Equal((204, 403, 403, 404), ((int)deleted.StatusCode, (int)again.StatusCode, (int)request.StatusCode, (int)unknown.StatusCode));
        Assert.Equal("403 Forbidden", JsonNode.Parse(await request.Content.ReadAsStringAsync())!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Glrt_verify_without_system_id_is_a_bad_request()
    {
        var token = GitLab.AddRunner("glrt-abcdefghijklmnopqrst");

        using var response = await SendAsync(HttpMethod.Post, "runners/verify", $$"""{"token":"{{token}}"}""");

        Assert.Equal(400, (int)response.StatusCode);
    }

    [Fact]
    public async Task A_job_canceled_while_queued_is_never_handed_out()
    {
        var runner = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(runner);
        GitLab.CancelJob(job.Id);

        using var response = await SendAsync(HttpMethod.Post, "jobs/request", $$"""{"token":"{{runner}}"}""");

        Assert.Equal(204, (int)response.StatusCode);
        Assert.Equal("canceled", job.Status);
    }
}
