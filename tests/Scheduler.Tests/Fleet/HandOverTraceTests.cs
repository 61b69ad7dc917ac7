using System.Text;
using Akka.Actor;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Fleet;

/// <summary>A job's trace across a hand-over: the leaving node's listener sends what it has and stops without a final
/// update; the adopting node's listener regenerates the trace from 0 and GitLab ends up with it once, whole.</summary>
public sealed class HandOverTraceTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
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

    private async Task<(GitLabClient Client, JobPayload Job)> StartJobAsync()
    {
        Assert.True(GitLabUrl.TryApiBase(_gitLab.Url, out var apiBase, out _));
        var client = new GitLabClient(_http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab"));
        var runnerToken = _gitLab.AddRunner();
        _gitLab.EnqueueJob(runnerToken);
        var received = Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runnerToken, null));
        Assert.Equal(UpdateOutcome.Accepted, (await client.UpdateJobAsync(received.Job.Id, received.Job.Token, new JobUpdate(global::Scheduler.GitLab.JobState.Running))).Outcome);
        return (client, received.Job);
    }

    private IActorRef Listener(GitLabClient client, JobPayload job) =>
        Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromMilliseconds(200)));

    // The leaving node's listener sends what it has of the trace, then stops.
    private async Task LeaveAfterAsync(GitLabClient client, JobPayload job, string trace)
    {
        var leaving = Listener(client, job);
        Watch(leaving);
        leaving.Tell(Chunk(job.Id, 0, trace));
        leaving.Tell(new JobHandedOver(job.Id, "graceful leave"));
        await ExpectTerminatedAsync(leaving, TimeSpan.FromSeconds(10));
    }

    private static JobTraceChunk Chunk(long jobId, long offset, string text) => new(jobId, offset, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task The_leaving_listener_sends_its_trace_and_stops_without_a_final_update()
    {
        var (client, job) = await StartJobAsync();
        var listener = Listener(client, job);
        Watch(listener);

        listener.Tell(Chunk(job.Id, 0, "header\n"));
        listener.Tell(Chunk(job.Id, 7, "step 1\n"));
        listener.Tell(new JobHandedOver(job.Id, "graceful leave"));

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(10));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("header\nstep 1\n", fake.TraceText());
        Assert.Equal("running", fake.Status);
        Assert.Null(fake.Checksum);
    }

    [Fact]
    public async Task The_adopting_listener_sends_at_once_when_its_trace_passes_gitlabs_length()
    {
        // Failover time: neither the first patch nor the first one past GitLab's length waits for the update interval.
        var (client, job) = await StartJobAsync();
        await LeaveAfterAsync(client, job, "header\nstep 1\n");
        var adopting = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromMinutes(5)));

        adopting.Tell(Chunk(job.Id, 0, "header\n")); // behind GitLab: the patch is answered 416 with GitLab's length
        await AwaitAssertAsync(() => Assert.Contains(_gitLab.Requests, r => r.Endpoint == FakeEndpoint.PatchTrace && r.Status == 416),
            TimeSpan.FromSeconds(10));
        adopting.Tell(Chunk(job.Id, 7, "step 1\nstep 2\n"));

        await AwaitAssertAsync(() => Assert.Equal("header\nstep 1\nstep 2\n", _gitLab.Job(job.Id)!.TraceText()), TimeSpan.FromSeconds(10));
        Sys.Stop(adopting);
    }

    [Fact]
    public async Task The_adopting_listener_regenerates_the_trace_and_gitlab_holds_it_once()
    {
        var (client, job) = await StartJobAsync();
        await LeaveAfterAsync(client, job, "header\nstep 1\n");

        // The adopting node produces the trace again from its start, then what the job printed since.
        var adopting = Listener(client, job);
        Watch(adopting);
        adopting.Tell(Chunk(job.Id, 0, "header\nstep 1\n"));
        adopting.Tell(Chunk(job.Id, 14, "step 2\n"));
        adopting.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));

        await ExpectTerminatedAsync(adopting, TimeSpan.FromSeconds(15));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("header\nstep 1\nstep 2\n", fake.TraceText());
        Assert.Equal("success", fake.Status);
        Assert.Equal(TraceChecksum.Of(Encoding.UTF8.GetBytes("header\nstep 1\nstep 2\n")), fake.Checksum);
    }

    [Fact]
    public async Task An_adopting_listener_behind_gitlab_waits_for_its_trace_to_catch_up_instead_of_resending_in_a_loop()
    {
        var (client, job) = await StartJobAsync();
        await LeaveAfterAsync(client, job, "header\nstep 1\n");

        // The adopting node has regenerated only part of what GitLab holds, and stays behind for ten update intervals.
        var adopting = Listener(client, job);
        Watch(adopting);
        adopting.Tell(Chunk(job.Id, 0, "head"));
        await AwaitAssertAsync(() => Assert.Contains(_gitLab.RequestsTo(FakeEndpoint.PatchTrace), r => r.Status == 416),
            TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Single(_gitLab.RequestsTo(FakeEndpoint.PatchTrace), r => r.Status == 416);

        adopting.Tell(Chunk(job.Id, 4, "er\nstep 1\nstep 2\n"));
        adopting.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));
        await ExpectTerminatedAsync(adopting, TimeSpan.FromSeconds(15));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("header\nstep 1\nstep 2\n", fake.TraceText());
        Assert.Equal("success", fake.Status);
    }
}
