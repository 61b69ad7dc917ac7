using System.Runtime.CompilerServices;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using k8s;
using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Trace;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Trace;

/// <summary>The log path's bounds: a reader never runs ahead of the masker by more than its window, and past
/// <c>output_limit</c> nothing more is read (the 1.8 GB-of-output attack).</summary>
public sealed class LogStreamBoundsTests(ITestOutputHelper output) : TestKit(output: output)
{
    [Fact]
    public async Task A_full_window_holds_the_reader_until_the_consumer_releases()
    {
        var window = new InFlightWindow(100);
        var handed = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                await window.WaitForRoomAsync(stop.Token);
                window.Add(10);
                Interlocked.Add(ref handed, 10);
            }
        });

        await Task.Delay(300);
        Assert.Equal(100, Volatile.Read(ref handed)); // the consumer has released nothing: the reader waits at the limit
        Assert.False(reader.IsCompleted);

        window.Release(30);
        await Task.Delay(300);
        Assert.Equal(130, Volatile.Read(ref handed));

        window.Release(10_000);
        await reader.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(500, handed);
    }

    [Fact]
    public async Task A_waiting_reader_is_released_by_its_cancellation()
    {
        var window = new InFlightWindow(1);
        window.Add(1);
        using var stop = new CancellationTokenSource();
        var wait = window.WaitForRoomAsync(stop.Token);
        Assert.False(wait.IsCompleted);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task Past_the_output_limit_the_log_is_no_longer_read_and_the_trace_says_it_was_cut()
    {
        const int limit = 256 * 1024;
        var gateway = new EndlessLogGateway();
        var log = Sys.ActorOf(LogStreamActor.Props(1, TestActor, TraceMaskRules.ValuesOnly(["secret"]), limit, TimeSpan.FromMilliseconds(50)));
        log.Tell(new StartReading(gateway, "ns", "pod", "helper", (offset, follow) => ["read-log", offset.ToString(), follow ? "follow" : "once"]));

        var trace = new List<byte>();
        var notice = OutputLimiter.Notice(limit);
        while (trace.Count < limit + notice.Length)
        {
            trace.AddRange(ExpectMsg<JobTraceChunk>(TimeSpan.FromSeconds(10)).Bytes);
        }

        Assert.Equal(limit + notice.Length, trace.Count);
        Assert.True(trace.ToArray().AsSpan(limit).SequenceEqual(notice));

        // The reader is cancelled, not left streaming into the void, and no new one starts.
        await gateway.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(500);
        Assert.Equal(1, gateway.Execs);
        Assert.True(gateway.Produced <= limit + LogStreamActor.MaxBytesInFlight + 2 * EndlessLogGateway.ChunkSize,
            $"{gateway.Produced} bytes read for a {limit}-byte limit");

        // Draining after the cut ends at once: there is nothing more to read.
        log.Tell(new DrainLog());
        ExpectMsg<LogDrained>();
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, gateway.Execs);
    }

    [Fact]
    public void A_jobs_trace_masks_its_values_and_GitLabs_token_prefixes_with_the_jobs_own()
    {
        var job = TestData.Job([TestData.Masked("PASSWORD", "hunter2-long")]) with
        {
            Features = new JobFeatures { TokenMaskPrefixes = ["custom_"] },
        };
        var masker = new TraceMasker(LogStreamActor.MaskRulesOf(job));
        var text = $"hunter2-long {job.Token} custom_abc glpat-abc https://x/?private_token=abc";
        var masked = Encoding.UTF8.GetString([.. masker.Process(Encoding.UTF8.GetBytes(text)), .. masker.Flush()]);
        Assert.Equal("[MASKED] [MASKED] custom_[MASKED] glpat-[MASKED] https://x/?private_token=[MASKED]", masked);
    }

    [Fact]
    public void Large_reads_reach_the_listener_in_contiguous_chunks_off_the_large_object_heap_masked_across_every_boundary()
    {
        // Reads of the exec relay's 256 KiB, with a secret across a trace chunk's boundary (64 KiB) and one across two reads.
        const string secret = "hunter2-long-secret";
        const int read = 256 * 1024;
        var log = new byte[3 * read + 1000];
        for (var i = 0; i < log.Length; i++) log[i] = (byte)('a' + i % 23);
        foreach (var at in new[] { LogStreamActor.MaxTraceChunkBytes - 7, read - 5, 2 * read + 3 })
        {
            Encoding.ASCII.GetBytes(secret).CopyTo(log, at);
        }

        var expected = Encoding.ASCII.GetString(log).Replace(secret, "[MASKED]", StringComparison.Ordinal);
        var gateway = new FixedLogGateway(log, read);
        var actor = Sys.ActorOf(LogStreamActor.Props(1, TestActor, TraceMaskRules.ValuesOnly([secret]), long.MaxValue, TimeSpan.FromMilliseconds(50)));
        actor.Tell(new StartReading(gateway, "ns", "pod", "helper", (offset, follow) => ["read-log", offset.ToString(), follow ? "follow" : "once"]));
        actor.Tell(new DrainLog(log.Length), TestActor);

        var trace = new List<byte>();
        var chunks = new List<JobTraceChunk>();
        while (true)
        {
            var message = ExpectMsg<object>(TimeSpan.FromSeconds(10));
            if (message is LogDrained) break;
            var chunk = Assert.IsType<JobTraceChunk>(message);
            Assert.Equal(trace.Count, chunk.Offset);
            chunks.Add(chunk);
            trace.AddRange(chunk.Bytes);
        }

        Assert.Equal(expected, Encoding.ASCII.GetString(trace.ToArray()));
        Assert.All(chunks, chunk => Assert.InRange(chunk.Bytes.Length, 1, LogStreamActor.MaxTraceChunkBytes));
        Assert.Equal(LogStreamActor.MaxTraceChunkBytes, chunks.Max(chunk => chunk.Bytes.Length));
    }

    /// <summary>A pod whose output never ends: a follow read streams 'x' chunks as fast as they are taken.</summary>
    private sealed class EndlessLogGateway : IKubernetesGateway
    {
        public const int ChunkSize = 16 * 1024;
        private static readonly byte[] Chunk = Enumerable.Repeat((byte)'x', ChunkSize).ToArray();
        private long _produced;
        private int _execs;

        public long Produced => Interlocked.Read(ref _produced);
        public int Execs => Volatile.Read(ref _execs);
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
            Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
        {
            Interlocked.Increment(ref _execs);
            try
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    await onStdout!(Chunk);
                    Interlocked.Add(ref _produced, ChunkSize);
                    await Task.Yield();
                }
            }
            finally
            {
                Ended.TrySetResult();
            }
        }

        public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw new NotSupportedException();
        public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct) => throw new NotSupportedException();
        public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task CreateNamespaceAsync(string name, CancellationToken ct) => throw new NotSupportedException();
        public Task DeleteNamespaceAsync(string name, CancellationToken ct) => throw new NotSupportedException();

        public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
            [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            yield break;
        }
    }

    /// <summary>A pod whose log holds fixed bytes: a follow read hands them on in reads of a given size from the offset, then
    /// waits for more that never come.</summary>
    private sealed class FixedLogGateway(byte[] log, int readBytes) : IKubernetesGateway
    {
        public async Task<int> ExecAsync(string ns, string pod, string container, IReadOnlyList<string> command,
            Func<ReadOnlyMemory<byte>, Task>? onStdout, CancellationToken ct)
        {
            for (var at = (int)long.Parse(command[1]); at < log.Length; at += readBytes)
            {
                await onStdout!(log.AsMemory(at, Math.Min(readBytes, log.Length - at)));
            }

            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }

        public Task<V1Pod> CreatePodAsync(V1Pod pod, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Secret> CreateSecretAsync(V1Secret secret, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1PodDisruptionBudget> CreatePodDisruptionBudgetAsync(V1PodDisruptionBudget budget, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Pod?> ReadPodAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyList<V1Pod>> ListPodsAsync(string ns, string labelSelector, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Pod?> ClaimPodAsync(string ns, string name, string expectedResourceVersion, string owner, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task<V1Secret?> SetSecretOwnerAsync(string ns, string name, V1OwnerReference owner, CancellationToken ct) =>
            throw new NotSupportedException();
        public Task DeleteSecretAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw new NotSupportedException();
        public Task DeletePodAsync(string ns, string name, long? gracePeriodSeconds, CancellationToken ct) => throw new NotSupportedException();
        public Task<IReadOnlyList<Corev1Event>> ListWarningEventsAsync(string ns, string podName, int limit, CancellationToken ct) => throw new NotSupportedException();
        public Task<bool> ServiceAccountExistsAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();
        public Task CreateNamespaceAsync(string name, CancellationToken ct) => throw new NotSupportedException();
        public Task DeleteNamespaceAsync(string name, CancellationToken ct) => throw new NotSupportedException();

        public async IAsyncEnumerable<(WatchEventType Type, V1Pod Pod)> WatchPodsAsync(string ns, string labelSelector,
            [EnumeratorCancellation] CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            yield break;
        }
    }
}
