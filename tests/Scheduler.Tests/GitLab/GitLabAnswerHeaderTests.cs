using System.Net;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>The answer headers the client acts on (Job-Status, X-GitLab-Trace-Update-Interval, Range, X-GitLab-Last-Update),
/// read whatever their case, among other headers, trimmed; several values of one header are joined.</summary>
public sealed class GitLabAnswerHeaderTests
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    private sealed class Answer(HttpStatusCode status, IReadOnlyList<(string Name, string Value)> headers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(status) { Content = new StringContent("") };
            foreach (var (name, value) in headers)
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return Task.FromResult(response);
        }
    }

    private static GitLabClient Answering(HttpStatusCode status, params (string, string)[] headers) =>
        new(new HttpClient(new Answer(status, headers)), new Uri("http://gitlab.test/api/v4/"), new GitLabClientOptions(Identity, "s_0123456789ab"));

    private static readonly (string, string)[] Noise = [("Server", "nginx"), ("X-Request-Id", "abc"), ("Cache-Control", "no-cache")];

    [Theory]
    [InlineData("Job-Status", "canceled", "X-GitLab-Trace-Update-Interval", "30", "canceled", 30)]
    [InlineData("job-status", " running ", "x-gitlab-trace-update-interval", "7", "running", 7)]
    [InlineData("JOB-STATUS", "failed", "X-Gitlab-Trace-Update-Interval", "0", "failed", null)]
    [InlineData("X-Other", "canceled", "X-Other-Interval", "30", null, null)]
    public async Task An_update_reads_the_job_status_and_the_update_interval(string statusName, string status, string intervalName,
        string interval, string? expectedStatus, int? expectedSeconds)
    {
        var client = Answering(HttpStatusCode.OK, [.. Noise, (statusName, status), (intervalName, interval)]);

        var result = await client.UpdateJobAsync(42, "job-token", new JobUpdate(JobState.Running));

        Assert.Equal(expectedStatus, result.JobStatus);
        Assert.Equal(expectedSeconds is { } s ? TimeSpan.FromSeconds(s) : null, result.UpdateInterval);
    }

    [Theory]
    [InlineData("Range", "0-100", 100L)]
    [InlineData("range", "0-7", 7L)]
    [InlineData("X-Range", "0-7", 10L)] // no Range: the patch's end
    public async Task A_patch_reads_gitlabs_range(string name, string value, long expectedOffset)
    {
        var client = Answering(HttpStatusCode.Accepted, [.. Noise, (name, value), ("Job-Status", "running")]);

        var result = await client.PatchTraceAsync(42, "job-token", 0, new byte[10]);

        Assert.Equal((PatchOutcome.Accepted, expectedOffset, "running"), (result.Outcome, result.Offset, result.JobStatus));
    }

    [Fact]
    public async Task A_request_without_a_job_keeps_the_last_update_and_several_values_are_joined()
    {
        var single = await Answering(HttpStatusCode.NoContent, [.. Noise, ("x-gitlab-last-update", "abc123")])
            .RequestJobAsync("glrt-token", null);
        var twice = await Answering(HttpStatusCode.NoContent, [("X-GitLab-Last-Update", "a"), ("X-GitLab-Last-Update", "b")])
            .RequestJobAsync("glrt-token", null);

        Assert.Equal("abc123", Assert.IsType<RequestJobResult.NoJob>(single).LastUpdate);
        Assert.Equal("a,b", Assert.IsType<RequestJobResult.NoJob>(twice).LastUpdate);
    }

    [Fact]
    public void Every_header_name_the_client_reads_is_kept_and_any_other_name_throws()
    {
        var names = typeof(AnswerHeaders).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();

        Assert.Equal(4, names.Count);
        Assert.Equal(names.Order(), AnswerHeaders.Kept.Order());
        Assert.All(names, name => Assert.Equal(name.ToUpperInvariant(), AnswerHeaders.Require(name.ToUpperInvariant())));
        Assert.Throws<ArgumentException>(() => AnswerHeaders.Require("X-GitLab-Something-New"));
    }

    [Fact]
    public void The_client_reads_headers_only_by_the_kept_names()
    {
        // A literal name would bypass AnswerHeaders: every Header(...) call must name one of its constants.
        var source = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "src", "Scheduler", "GitLab", "GitLabClient.cs"));
        var calls = System.Text.RegularExpressions.Regex.Matches(source, @"\bHeader\(([^)]*)\)").Select(m => m.Groups[1].Value).ToList();

        Assert.NotEmpty(calls);
        Assert.All(calls, argument => Assert.True(argument.StartsWith("AnswerHeaders.", StringComparison.Ordinal) || argument == "string name",
            $"Header({argument}) does not read a name of AnswerHeaders"));
    }
}
