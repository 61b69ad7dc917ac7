using System.Diagnostics;
using System.Text;
using Akka.Actor;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>A job's listener when GitLab keeps refusing its trace: after the job ended the trace is retried a bounded number
/// of times, then the final state is reported and the listener stops (so its slot frees); a 416 without a usable Range is
/// resent after a pause, never in a loop.</summary>
public sealed class GitLabJobTraceFaultTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
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

    private IActorRef Listener(GitLabClient client, JobPayload job) =>
        Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, Interval));

    private static JobTraceChunk Chunk(long jobId, long offset, string text) => new(jobId, offset, Encoding.UTF8.GetBytes(text));

    private static JobFinished Succeeded(long jobId) =>
        new(jobId, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded"));

    private int Patches => _gitLab.RequestsTo(FakeEndpoint.PatchTrace).Count;

    [Fact]
    public async Task A_trace_directory_that_cannot_be_made_keeps_the_trace_in_memory_and_GitLab_gets_every_byte()
    {
        // The trace outgrows memory where no file can be made (a path under a regular file): every byte still reaches
        // GitLab, with the checksum of them all, and the runner says where the file could not go.
        var blocker = Path.GetTempFileName();
        try
        {
            var (client, job) = await StartJobAsync();
            var directory = Path.Combine(blocker, "traces");
            var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, Interval, directory));
            Watch(listener);
            var sent = new byte[5 * 10_000];
            new Random(3).NextBytes(sent);
            await EventFilter.Warning(contains: "cannot be kept in a file").ExpectOneAsync(async () =>
            {
                for (var offset = 0; offset < sent.Length; offset += 10_000)
                {
                    listener.Tell(new JobTraceChunk(job.Id, offset, sent.AsSpan(offset, 10_000).ToArray()));
                }

                await Task.Yield();
            });

            listener.Tell(Succeeded(job.Id));
            await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(30));
            var fake = _gitLab.Job(job.Id)!;
            Assert.Equal("success", fake.Status);
            Assert.Equal(sent, fake.TraceBytes());
            Assert.Equal(TraceChecksum.Of(sent), fake.Checksum);
        }
        finally
        {
            File.Delete(blocker);
        }
    }

    [Fact]
    public async Task A_trace_file_that_cannot_be_read_back_ends_the_job_as_a_runner_failure_not_with_a_cut_trace()
    {
        // The trace outgrows memory into its file, and the file is cut behind the runner's back (as a failing disk would
        // lose it): the rest cannot be sent, so GitLab must not be told the job succeeded with what it has.
        var directory = Directory.CreateTempSubdirectory("trace-lost-").FullName;
        try
        {
            var (client, job) = await StartJobAsync();
            var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromMinutes(5), directory));
            Watch(listener);
            listener.Tell(Chunk(job.Id, 0, "Running with scheduler\n"));
            await AwaitAssertAsync(() => Assert.Equal(1, Patches), TimeSpan.FromSeconds(10)); // the first bytes go at once
            listener.Tell(new JobTraceChunk(job.Id, "Running with scheduler\n".Length, new byte[100_000]));
            var file = await AwaitTraceFileAsync(directory);
            // truncate(1) takes no lock (the runner holds the file's advisory lock, which .NET's own open would respect).
            using (var truncate = Process.Start("truncate", ["-s", "0", file]))
            {
                await truncate.WaitForExitAsync();
                Assert.Equal(0, truncate.ExitCode);
            }

            await EventFilter.Error(contains: "lost part of the job's trace").ExpectOneAsync(() =>
            {
                listener.Tell(Succeeded(job.Id));
                return Task.CompletedTask;
            });
            await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(30));
            var fake = _gitLab.Job(job.Id)!;
            Assert.Equal("failed", fake.Status);
            Assert.Equal("runner_system_failure", fake.FailureReason);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<string> AwaitTraceFileAsync(string directory)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (Directory.GetFiles(directory).FirstOrDefault() is { } file && new FileInfo(file).Length > 0)
            {
                return file;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("the listener made no trace file");
    }

    [Theory]
    [InlineData(500)]
    [InlineData(400)]
    public async Task A_trace_patch_that_keeps_failing_after_the_end_is_tried_a_bounded_number_of_times_then_the_state_is_reported(
        int status)
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, status, count: 10_000);
        var listener = Listener(client, job);
        Watch(listener);

        listener.Tell(Chunk(job.Id, 0, "the job's output\n"));
        listener.Tell(Succeeded(job.Id));

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        Assert.InRange(Patches, GitLabJobTrace.MaxFinalPatchFailures, GitLabJobTrace.MaxFinalPatchFailures + 1);
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("success", fake.Status);
        Assert.Equal("", fake.TraceText());
    }

    [Fact]
    public async Task A_trace_gitlab_does_not_know_after_the_end_stops_the_flush_and_the_state_is_reported()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 404, count: 10_000);
        var listener = Listener(client, job);
        Watch(listener);

        listener.Tell(Chunk(job.Id, 0, "the job's output\n"));
        listener.Tell(Succeeded(job.Id));

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        Assert.InRange(Patches, 1, 2);
        Assert.Equal("success", _gitLab.Job(job.Id)!.Status);
    }

    [Fact]
    public async Task A_416_without_a_range_after_the_end_is_not_resent_in_a_loop_and_the_state_is_reported()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 416, count: 10_000);
        var listener = Listener(client, job);
        Watch(listener);

        listener.Tell(Chunk(job.Id, 0, "the job's output\n"));
        listener.Tell(Succeeded(job.Id));

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        Assert.InRange(Patches, 1, GitLabJobTrace.MaxFinalPatchFailures + 1);
        Assert.Equal("success", _gitLab.Job(job.Id)!.Status);
    }

    [Fact]
    public async Task A_416_without_a_range_while_the_job_runs_is_resent_after_a_pause()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 416, count: 10_000);
        var listener = Listener(client, job);
        var clock = Stopwatch.StartNew();

        listener.Tell(Chunk(job.Id, 0, "the job's output\n"));
        await AwaitConditionAsync(() => Task.FromResult(Patches >= 5), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(10));

        // Five patches take at least three update intervals: each resend waits for the next flush (a hot loop takes ms).
        Assert.True(clock.Elapsed >= 3 * Interval, $"5 patches in {clock.Elapsed.TotalMilliseconds:0} ms");
        Sys.Stop(listener);
    }

    [Fact]
    public async Task A_patch_that_fails_a_few_times_after_the_end_still_delivers_the_whole_trace()
    {
        var (client, job) = await StartJobAsync();
        _gitLab.InjectFault(FakeEndpoint.PatchTrace, 500, count: 3);
        var listener = Listener(client, job);
        Watch(listener);

        listener.Tell(Chunk(job.Id, 0, "the job's output\n"));
        listener.Tell(Succeeded(job.Id));

        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(20));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("the job's output\n", fake.TraceText());
        Assert.Equal("success", fake.Status);
        Assert.Equal(TraceChecksum.Of(Encoding.UTF8.GetBytes("the job's output\n")), fake.Checksum);
    }
}
