using System.Text;
using Akka.Actor;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary><c>job_status_final_update_retry_limit</c> against the fake GitLab: the trace after the end and the final update
/// are each given up after that many failures, and a 202 (GitLab still persisting) is not a failure.</summary>
public sealed class FinalUpdateRetryLimitTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly HttpClient _http = GitLabHttp.CreateClient();
    private FakeGitLabServer _gitLab = null!;

    public async Task InitializeAsync() => _gitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _gitLab.DisposeAsync();
    }

    private async Task<(GitLabClient Client, JobPayload Job)> StartJobAsync()
    {
        Assert.True(GitLabUrl.TryApiBase(_gitLab.Url, out var apiBase, out _));
        var client = new GitLabClient(_http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab"));
        var runnerToken = _gitLab.AddRunner();
        _gitLab.EnqueueJob(runnerToken);
        var received = Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runnerToken, null));
        Assert.Equal(UpdateOutcome.Accepted,
            (await client.UpdateJobAsync(received.Job.Id, received.Job.Token, new JobUpdate(global::Scheduler.GitLab.JobState.Running))).Outcome);
        return (client, received.Job);
    }

    private IActorRef Listener(GitLabClient client, JobPayload job, int limit)
    {
        var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, Interval, finalRetryLimit: limit));
        Watch(listener);
        listener.Tell(new JobTraceChunk(job.Id, 0, Encoding.UTF8.GetBytes("the job's output\n")));
        listener.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));
        return listener;
    }

    // The final update is a PUT with a final state; the runner's own PUT state=running came before the listener.
    private int FinalUpdates => _gitLab.RequestsTo(FakeEndpoint.UpdateJob).Count - 1;

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task A_final_update_that_keeps_failing_is_given_up_after_the_limit(int limit)
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.UpdateJob, 500, count: 10_000);

        var listener = Listener(client, job, limit);

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        Assert.Equal(limit, FinalUpdates);
    }

    [Fact]
    public async Task A_trace_patch_that_keeps_failing_after_the_end_is_given_up_after_the_limit()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 500, count: 10_000);

        var listener = Listener(client, job, 3);

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        Assert.InRange(_gitLab.RequestsTo(FakeEndpoint.PatchTrace).Count, 3, 4);
        Assert.Equal("success", _gitLab.Job(job.Id)!.Status);
    }

    [Fact]
    public async Task Answers_202_do_not_count_against_the_limit()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.DeferFinalUpdate(job.Id, 3);

        var listener = Listener(client, job, 2);

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(30));
        Assert.Equal("success", _gitLab.Job(job.Id)!.Status);
        Assert.Equal(4, FinalUpdates);
    }
}
