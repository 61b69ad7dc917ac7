using System.Net;
using System.Text;
using System.Text.Json;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>What the client makes of an answer's body, whatever GitLab (or a proxy in front of it) sends, and the JSON body it
/// sends: the runner's info first, then the call's own fields.</summary>
public sealed class GitLabAnswerTests
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    /// <summary>Answers every request with one status and body; keeps the last request's body and content type.</summary>
    private sealed class OneAnswer(HttpStatusCode status, string body) : HttpMessageHandler
    {
        public string? RequestBody { get; private set; }
        public string? ContentType { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            RequestBody = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            ContentType = request.Content?.Headers.ContentType?.ToString();
            return new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8) };
        }
    }

    private static (GitLabClient Client, OneAnswer Handler) ClientAnswering(HttpStatusCode status, string body)
    {
        var handler = new OneAnswer(status, body);
        return (new GitLabClient(new HttpClient(handler), new Uri("http://gitlab.test/api/v4/"), new GitLabClientOptions(Identity, "s_0123456789ab")),
            handler);
    }

    [Theory]
    [InlineData(500, "", "Failed (HTTP 500)")]
    [InlineData(500, "200", "Failed (HTTP 500)")]
    [InlineData(502, "<html><body>Bad Gateway</body></html>", "Failed (HTTP 502)")]
    [InlineData(500, "[\"not an object\"]", "Failed (HTTP 500)")]
    [InlineData(500, "{\"message\":", "Failed (HTTP 500)")]
    [InlineData(500, "{\"error\":\"no message field\"}", "Failed (HTTP 500)")]
    [InlineData(500, "{\"message\":\"database is down\"}", "Failed (HTTP 500): database is down")]
    [InlineData(400, "  \n{\"message\":{\"state\":[\"is invalid\",\"is missing\"]}}", "Failed (HTTP 400): state: is invalid, is missing")]
    [InlineData(200, "", "Accepted (HTTP 200)")]
    [InlineData(200, "200", "Accepted (HTTP 200)")]
    public async Task An_answers_message_is_gitlabs_message_field_or_the_fallback(int status, string body, string expected)
    {
        var (client, _) = ClientAnswering((HttpStatusCode)status, body);

        var result = await client.UpdateJobAsync(42, "job-token", new JobUpdate(JobState.Running));

        Assert.Equal(expected, result.Message);
    }

    [Fact]
    public async Task A_body_is_json_with_the_runners_info_first_and_the_same_info_in_every_request()
    {
        var (client, handler) = ClientAnswering(HttpStatusCode.OK, "");

        await client.UpdateJobAsync(42, "job-token", new JobUpdate(JobState.Failed, "script_failure", 2));
        var first = JsonDocument.Parse(handler.RequestBody!).RootElement;
        await client.UpdateJobAsync(43, "other-token", new JobUpdate(JobState.Success));
        var second = JsonDocument.Parse(handler.RequestBody!).RootElement;

        Assert.Equal("application/json; charset=utf-8", handler.ContentType);
        Assert.Equal(["info", "token", "state", "failure_reason", "output", "exit_code"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("job-token", "failed", "script_failure", 2),
            (first.GetProperty("token").GetString(), first.GetProperty("state").GetString(), first.GetProperty("failure_reason").GetString(),
                first.GetProperty("exit_code").GetInt32()));
        Assert.Equal("kubernetes", first.GetProperty("info").GetProperty("executor").GetString());
        Assert.Equal("1.2.3", first.GetProperty("info").GetProperty("version").GetString());
        Assert.True(first.GetProperty("info").GetProperty("features").GetProperty("trace_checksum").GetBoolean());
        Assert.Equal(first.GetProperty("info").GetRawText(), second.GetProperty("info").GetRawText());
        Assert.Equal(("other-token", "success"), (second.GetProperty("token").GetString(), second.GetProperty("state").GetString()));
    }
}
