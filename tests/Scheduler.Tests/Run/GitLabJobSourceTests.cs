using Scheduler.Actors.Intake;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>The job source's acknowledgement (<c>PUT state=running</c>) against the fake GitLab's faults: a job GitLab handed
/// out is never dropped for want of an answer, and a refusal is final.</summary>
public sealed class GitLabJobSourceTests : IAsyncLifetime
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");
    private readonly HttpClient _http = GitLabHttp.CreateClient();
    private FakeGitLabServer _gitLab = null!;

    public async Task InitializeAsync() => _gitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _gitLab.DisposeAsync();
    }

    private GitLabJobSource Source(string runnerToken)
    {
        Assert.True(GitLabUrl.TryApiBase(_gitLab.Url, out var apiBase, out _));
        var client = new GitLabClient(_http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab"));
        return new GitLabJobSource(client, new RunnerEntry { Name = "r", Url = _gitLab.Url, Token = runnerToken });
    }

    [Fact]
    public async Task A_job_whose_running_updates_all_lose_their_answers_is_still_run()
    {
        var runner = _gitLab.AddRunner();
        var job = _gitLab.EnqueueJob(runner);
        _gitLab.Chaos = new FakeChaos { LostAnswerRate = 1, LostAnswerEndpoints = new HashSet<FakeEndpoint> { FakeEndpoint.UpdateJob } };

        var outcome = await Source(runner).RequestJobAsync(CancellationToken.None);

        Assert.Equal(job.Id, Assert.IsType<JobRequestOutcome.Received>(outcome).Job.Id);
        Assert.Equal("running", job.Status);
    }

    [Fact]
    public async Task A_job_whose_running_updates_all_fail_with_server_errors_is_still_run()
    {
        var runner = _gitLab.AddRunner();
        var job = _gitLab.EnqueueJob(runner);
        _gitLab.InjectFault(FakeEndpoint.UpdateJob, 503, count: 10);

        var outcome = await Source(runner).RequestJobAsync(CancellationToken.None);

        Assert.Equal(job.Id, Assert.IsType<JobRequestOutcome.Received>(outcome).Job.Id);
    }

    [Fact]
    public async Task A_job_refused_on_start_is_not_run()
    {
        var runner = _gitLab.AddRunner();
        var job = _gitLab.EnqueueJob(runner);
        _gitLab.InjectFault(FakeEndpoint.UpdateJob, 403);

        var outcome = await Source(runner).RequestJobAsync(CancellationToken.None);

        Assert.Contains($"job {job.Id} was refused on start (403)", Assert.IsType<JobRequestOutcome.Failed>(outcome).Message);
    }
}
