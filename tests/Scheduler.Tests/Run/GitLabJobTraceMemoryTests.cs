using Akka.Actor;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Run;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>A trace GitLab has not taken yet does not grow the runner's memory: the listener keeps it in a file, and when
/// it is sent the whole trace arrives with the right checksum. The heap is the whole process's, so the class runs alone
/// (<see cref="MemoryMeasurementCollection"/>): other tests' allocations would count otherwise.</summary>
[Collection(MemoryMeasurementCollection.Name)]
public sealed class GitLabJobTraceMemoryTests : Akka.TestKit.Xunit2.TestKit, IAsyncLifetime
{
    private static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");
    private readonly HttpClient _http = GitLabHttp.CreateClient();
    private readonly string _traces = Directory.CreateTempSubdirectory("trace-memory-").FullName;
    private FakeGitLabServer _gitLab = null!;

    public async Task InitializeAsync() => _gitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _gitLab.DisposeAsync();
        Directory.Delete(_traces, recursive: true);
    }

    [Fact]
    public async Task A_trace_GitLab_has_not_taken_yet_is_held_on_disk_not_in_memory()
    {
        var (client, job) = await StartJobAsync();
        // An update interval longer than the test. The first bytes go at once and full patches follow back to back, 1 MiB
        // each; either way the whole trace is kept in the listener's file (for GitLab's 416 answers), not in memory.
        var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromMinutes(5), _traces));
        Watch(listener);
        const int chunkBytes = 1024 * 1024;
        const int chunks = 48;
        var chunk = Enumerable.Range(0, chunkBytes).Select(i => (byte)('a' + i % 26)).ToArray(); // one array for every message
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < chunks; i++)
        {
            listener.Tell(new JobTraceChunk(job.Id, (long)i * chunkBytes, chunk));
        }

        var file = await WaitForTraceFileAsync((long)chunks * chunkBytes);
        // The fake GitLab runs in this process and keeps what it was sent: those bytes are GitLab's, not the runner's.
        var heldByGitLab = _gitLab.Job(job.Id)!.TraceLength;
        var growth = GC.GetTotalMemory(forceFullCollection: true) - before - heldByGitLab;
        Assert.True(growth < 16L * 1024 * 1024,
            $"the runner's memory grew by {growth / 1024 / 1024} MiB holding a {chunks} MiB trace (GitLab held {heldByGitLab / 1024 / 1024} MiB of it)");
        Assert.True(file.Exists);

        // The job ends: all of the trace is sent, with its checksum, and the file is gone with the listener.
        listener.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));
        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(60));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal("success", fake.Status);
        Assert.Equal((long)chunks * chunkBytes, fake.TraceBytes().Length);
        Assert.Equal(TraceChecksum.Of(fake.TraceBytes()), fake.Checksum);
        Assert.Empty(Directory.GetFiles(_traces));
    }

    [Fact]
    public async Task A_slow_GitLab_leaves_the_trace_waiting_on_disk_and_then_gets_every_byte_once()
    {
        // GitLab answers each PATCH after a pause while the job prints far faster: what GitLab has not taken waits in the
        // listener's file (bounded by output_limit upstream), not in the runner's memory.
        _gitLab.PatchTraceDelay = TimeSpan.FromMilliseconds(100);
        var (client, job) = await StartJobAsync();
        var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromSeconds(1), _traces));
        Watch(listener);
        const int chunkBytes = 64 * 1024;
        const int chunks = 384; // 24 MiB, in the log reader's chunk size
        var sent = new byte[chunkBytes * chunks];
        new Random(5).NextBytes(sent);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < chunks; i++)
        {
            listener.Tell(new JobTraceChunk(job.Id, (long)i * chunkBytes, sent.AsSpan(i * chunkBytes, chunkBytes).ToArray()));
        }

        await WaitForTraceFileAsync(sent.Length);
        var taken = _gitLab.Job(job.Id)!.TraceBytes().Length;
        var growth = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(taken < sent.Length / 2, $"GitLab had taken {taken} bytes already: it was not slow enough for the test");
        Assert.True(growth < 8L * 1024 * 1024, $"the runner's memory grew by {growth / 1024 / 1024} MiB while GitLab was slow");

        listener.Tell(new JobFinished(job.Id, new JobResult(global::Scheduler.Messages.Protocol.JobState.Success, null, 0, "Job succeeded")));
        await ExpectTerminatedAsync(listener, TimeSpan.FromSeconds(60));
        var fake = _gitLab.Job(job.Id)!;
        Assert.Equal(sent, fake.TraceBytes()); // nothing lost, nothing repeated
        Assert.Equal(TraceChecksum.Of(sent), fake.Checksum);
        // Each patch started where the one before ended: no byte went twice.
        var ranges = _gitLab.RequestsTo(FakeEndpoint.PatchTrace).Select(r => r.Headers["Content-Range"]).ToList();
        var expectedStart = 0L;
        foreach (var range in ranges)
        {
            var parts = range.Split('-');
            Assert.Equal(expectedStart, long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture));
            expectedStart = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + 1;
        }

        Assert.Equal(sent.Length, expectedStart);
    }

    [Fact]
    public async Task The_first_bytes_go_to_GitLab_at_once_without_waiting_for_the_update_interval()
    {
        // An adopted job's listener starts anew: its first PATCH must not wait an update interval (failover time).
        var (client, job) = await StartJobAsync();
        var listener = Sys.ActorOf(GitLabJobTrace.Props(job, "eu", CreateTestProbe().Ref, client, null, TimeSpan.FromMinutes(5), _traces));

        listener.Tell(new JobTraceChunk(job.Id, 0, "Running with scheduler\n"u8.ToArray()));
        await AwaitAssertAsync(() => Assert.Single(_gitLab.RequestsTo(FakeEndpoint.PatchTrace)), TimeSpan.FromSeconds(10));
        Assert.Equal("Running with scheduler\n", _gitLab.Job(job.Id)!.TraceText());
        Sys.Stop(listener);
    }

    /// <summary>A job received from the fake GitLab and set running, with the client that received it.</summary>
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

    private async Task<FileInfo> WaitForTraceFileAsync(long length)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var file = Directory.GetFiles(_traces).Select(f => new FileInfo(f)).FirstOrDefault();
            if (file is { Length: var size } && size >= length)
            {
                return file;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"the listener's trace file did not reach {length} bytes");
    }
}

/// <summary>Tests that measure the process's heap: run after the parallel ones, alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "memory measurements";
}
