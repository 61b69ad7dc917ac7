using System.Buffers;
using System.Text;
using Scheduler.LocalCluster.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>How the runtime copies an exec's output to its streams: whole, in order, each stream apart, and all of it
/// before the exec returns its exit code, however slowly the streams take it.</summary>
public sealed class ExecOutputCopyTests : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "exec-output-tests-" + Guid.NewGuid().ToString("N"));
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public async Task InitializeAsync()
    {
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir }, _host);
        _runtime.PodCreated(Pod("exec", Shell("main", "sleep 60")));
        await _host.WaitForStatusAsync("exec", s => s.Phase == "Running");
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private Task<int> ExecAsync(string script, Stream? stdout, Stream? stderr) =>
        _runtime.ExecAsync(new ExecRequest("ci", "exec", null, ["sh", "-c", script], false), new ExecStreams(null, stdout, stderr), CancellationToken.None);

    private static string Numbered(int count, string prefix = "") =>
        string.Concat(Enumerable.Range(1, count).Select(i => $"{prefix}{i}\n"));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Megabytes_on_both_streams_arrive_whole_in_order_and_apart(bool fillable)
    {
        // ~1.3 MB on each stream at the same time: many pipe reads each, interleaved between the two.
        using MemoryStream stdout = fillable ? new FillableOutput() : new SlowOutput();
        using MemoryStream stderr = fillable ? new FillableOutput() : new SlowOutput();

        var code = await ExecAsync("seq 1 200000 & seq 1 200000 | sed 's/^/e/' >&2; wait; exit 7", stdout, stderr);

        Assert.Equal(7, code);
        Assert.Equal(Numbered(200000), Encoding.ASCII.GetString(stdout.ToArray()));
        Assert.Equal(Numbered(200000, "e"), Encoding.ASCII.GetString(stderr.ToArray()));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_that_stalls_past_the_exit_grace_still_gets_every_byte_before_the_exit_code(bool fillable)
    {
        // 60,000 bytes (less than a pipe holds): the command writes them all and exits while the stream holds the first read for 3 s
        // (longer than the 2 s a quiet pipe is given after the exit). The output is late, not quiet: none of it may be lost.
        using MemoryStream stdout = fillable ? new FillableOutput(stallFirst: TimeSpan.FromSeconds(3)) : new SlowOutput(stallFirst: TimeSpan.FromSeconds(3));

        var code = await ExecAsync("yes 0123456789abcdefghi | head -c 60000", stdout, null);

        Assert.Equal(0, code);
        var expected = string.Concat(Enumerable.Repeat("0123456789abcdefghi\n", 3000));
        Assert.Equal(expected, Encoding.ASCII.GetString(stdout.ToArray()));
    }

    [Fact]
    public async Task A_pipe_kept_open_by_a_background_process_ends_the_exec_after_the_grace()
    {
        // The background sleep keeps stdout open but writes nothing: the exec returns once its pipe has been quiet a while,
        // with what was written before.
        using var stdout = new SlowOutput();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var code = await ExecAsync("echo before; sleep 30 & exit 0", stdout, null);

        Assert.Equal(0, code);
        Assert.Equal("before\n", Encoding.ASCII.GetString(stdout.ToArray()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the exec took {clock.Elapsed}");
    }

    /// <summary>A plain stream that can hold its first write back.</summary>
    private sealed class SlowOutput(TimeSpan? stallFirst = null) : MemoryStream
    {
        private bool _stalled;

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_stalled && stallFirst is { } stall)
            {
                _stalled = true;
                await Task.Delay(stall, cancellationToken);
            }

            base.Write(buffer.Span);
        }
    }

    /// <summary>An output that lends its buffer to the runtime, as the API server's exec channel does.</summary>
    private sealed class FillableOutput(TimeSpan? stallFirst = null) : MemoryStream, IFillableOutput
    {
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        private bool _stalled;

        public Memory<byte> GetMemory(int minimum) => _buffer.AsMemory(0, Math.Max(minimum, 64 * 1024));

        public async ValueTask CommitAsync(int count, CancellationToken cancellationToken)
        {
            if (!_stalled && stallFirst is { } stall)
            {
                _stalled = true;
                await Task.Delay(stall, cancellationToken);
            }

            Write(_buffer, 0, count);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) ArrayPool<byte>.Shared.Return(_buffer);
            base.Dispose(disposing);
        }
    }
}
