using Akka.Actor;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>When the listener sends a patch while the job runs: a full 1 MiB goes as soon as it is there, a partial one waits
/// for the update interval, and after a failed patch nothing more goes before the next interval (a failing GitLab is not
/// retried at the pace the job prints).</summary>
public sealed class GitLabJobTracePatchTimingTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private const int Chunk = 64 * 1024;
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");
    private readonly HttpClient _http = GitLabHttp.CreateClient();
    private readonly string _traces = Directory.CreateTempSubdirectory("trace-timing-").FullName;
    private FakeGitLabServer _gitLab = null!;

    public async Task InitializeAsync() => _gitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _gitLab.DisposeAsync();
        Directory.Delete(_traces, recursive: true);
    }

    [Fact]
    public async Task Full_patches_go_at_once_and_a_partial_one_waits_for_the_interval()
    {
        // An interval longer than the test (the listener's and GitLab's): every patch seen here was sent because of the
        // bytes, not a tick.
        _gitLab.TraceUpdateIntervalSeconds = 300;
        var (client, job) = await StartJobAsync();
        var listener = Listener(client, job, TimeSpan.FromMinutes(5));
        var header = "Running with scheduler\n"u8.ToArray();
        listener.Tell(new JobTraceChunk(job.Id, 0, header));
        await AwaitAssertAsync(() => Assert.Equal(header.Length, _gitLab.Job(job.Id)!.TraceLength), TimeSpan.FromSeconds(10));
        await Task.Delay(500); // the answer reaches the listener: no patch is in flight when the output below arrives

        // 2.5 MiB more, in the log reader's chunk size, after the first patch was accepted.
        var output = Bytes(40 * Chunk);
        Send(listener, job.Id, header.Length, output);

        var twoFull = header.Length + 2L * TraceUploadState.MaxPatchBytes;
        await AwaitAssertAsync(() => Assert.Equal(twoFull, _gitLab.Job(job.Id)!.TraceLength), TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        Assert.Equal(twoFull, _gitLab.Job(job.Id)!.TraceLength); // the last half MiB waits for the tick
        Assert.Equal(3, _gitLab.RequestsTo(FakeEndpoint.PatchTrace).Count);
        Assert.Equal([.. header, .. output.AsSpan(0, 2 * TraceUploadState.MaxPatchBytes)], _gitLab.Job(job.Id)!.TraceBytes());

        // The end sends the rest: every byte once, in order.
        listener.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));
        Watch(listener);
        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(30));
        Assert.Equal([.. header, .. output], _gitLab.Job(job.Id)!.TraceBytes());
    }

    [Fact]
    public async Task After_a_failed_patch_more_output_does_not_send_again_before_the_interval()
    {
        _gitLab.TraceUpdateIntervalSeconds = 4;
        var (client, job) = await StartJobAsync();
        var interval = TimeSpan.FromSeconds(4);
        var listener = Listener(client, job, interval);
        var first = Bytes(TraceUploadState.MaxPatchBytes);
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 500, count: 1);
        Send(listener, job.Id, 0, first); // the first bytes go at once and fail
        await AwaitAssertAsync(() => Assert.Single(_gitLab.RequestsTo(FakeEndpoint.PatchTrace)), TimeSpan.FromSeconds(10));

        // 4 MiB more arrive at once: no patch until the tick, however much is waiting.
        var more = Bytes(64 * Chunk);
        Send(listener, job.Id, first.Length, more);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Single(_gitLab.RequestsTo(FakeEndpoint.PatchTrace));

        // The tick retries; once a patch is accepted, full patches go back to back again and every byte arrives once.
        var all = first.Concat(more).ToArray();
        await AwaitAssertAsync(() => Assert.Equal(all.Length, _gitLab.Job(job.Id)!.TraceLength), TimeSpan.FromSeconds(20));
        Assert.Equal(all, _gitLab.Job(job.Id)!.TraceBytes());
        Sys.Stop(listener);
    }

    private IActorRef Listener(GitLabClient client, JobPayload job, TimeSpan interval) =>
        Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, interval, _traces));

    private static void Send(IActorRef listener, long jobId, long offset, byte[] bytes)
    {
        for (var at = 0; at < bytes.Length; at += Chunk)
        {
            listener.Tell(new JobTraceChunk(jobId, offset + at, bytes.AsSpan(at, Math.Min(Chunk, bytes.Length - at)).ToArray()));
        }
    }

    private static byte[] Bytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    private async Task<(GitLabClient Client, JobPayload Job)> StartJobAsync()
    {
        Assert.True(GitLabUrl.TryApiBase(_gitLab.Url, out var apiBase, out _));
        var client = new GitLabClient(_http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab"));
        var runnerToken = _gitLab.AddRunner();
        _gitLab.EnqueueJob(runnerToken);
        var job = Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runnerToken, null)).Job;
        await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(global::Scheduler.GitLab.JobState.Running));
        return (client, job);
    }
}
