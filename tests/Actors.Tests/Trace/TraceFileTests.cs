using Scheduler.Actors.Trace;

namespace Scheduler.Actors.Tests.Trace;

/// <summary>A job's sent trace: short ones stay in memory, longer ones move to a private file that goes with the trace,
/// and every range reads back as it was appended wherever it is kept.</summary>
public sealed class TraceFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"trace-file-tests-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void A_short_trace_makes_no_file()
    {
        using var trace = TraceFile.Create(_directory, "job-1");
        var bytes = Bytes(TraceFile.InMemoryBytes, seed: 1);
        trace.Append(bytes.AsSpan(0, 100));
        trace.Append(bytes.AsSpan(100));

        Assert.Null(trace.Path);
        Assert.False(Directory.Exists(_directory) && Directory.EnumerateFiles(_directory).Any());
        Assert.Equal(bytes, ReadAll(trace));
    }

    [Theory]
    [InlineData(1)] // one byte past memory
    [InlineData(200_000)] // a first chunk far larger than memory
    public void A_longer_trace_moves_to_a_private_file_with_every_byte_in_place(int pastMemory)
    {
        var bytes = Bytes(TraceFile.InMemoryBytes + pastMemory, seed: 2);
        var trace = TraceFile.Create(_directory, "job-2");
        if (pastMemory == 1)
        {
            trace.Append(bytes.AsSpan(0, 7));
            trace.Append(bytes.AsSpan(7, TraceFile.InMemoryBytes - 7));
            Assert.Null(trace.Path);
            trace.Append(bytes.AsSpan(TraceFile.InMemoryBytes));
        }
        else
        {
            trace.Append(bytes);
        }

        Assert.NotNull(trace.Path);
        Assert.True(File.Exists(trace.Path));
        Assert.Equal(bytes.Length, new FileInfo(trace.Path).Length);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(trace.Path));
        }

        Assert.Equal(bytes, ReadAll(trace));
        // A range across the point where memory ended.
        var across = new byte[500 + Math.Min(pastMemory, 500)];
        trace.Read(TraceFile.InMemoryBytes - 500, across);
        Assert.Equal(bytes.AsSpan(TraceFile.InMemoryBytes - 500, across.Length).ToArray(), across);

        var path = trace.Path;
        trace.Dispose();
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Reading_past_the_end_is_refused_in_memory_and_on_disk()
    {
        using var trace = TraceFile.Create(_directory, "job-3");
        trace.Append(new byte[10]);
        Assert.Throws<ArgumentOutOfRangeException>(() => trace.Read(5, new byte[6]));
        trace.Append(new byte[TraceFile.InMemoryBytes]);
        Assert.Throws<ArgumentOutOfRangeException>(() => trace.Read(TraceFile.InMemoryBytes, new byte[11]));
    }

    [Fact]
    public void A_file_that_cannot_be_made_leaves_the_whole_trace_in_memory_and_says_why()
    {
        var blocker = Path.GetTempFileName(); // a regular file: no directory can be made under it
        try
        {
            using var trace = TraceFile.Create(Path.Combine(blocker, "traces"), "job-4");
            var bytes = Bytes(3 * TraceFile.InMemoryBytes, seed: 4);
            for (var offset = 0; offset < bytes.Length; offset += 5000)
            {
                trace.Append(bytes.AsSpan(offset, Math.Min(5000, bytes.Length - offset)));
            }

            Assert.NotNull(trace.FileError);
            Assert.Null(trace.Path);
            Assert.Equal(bytes, ReadAll(trace));
        }
        finally
        {
            File.Delete(blocker);
        }
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] ReadAll(TraceFile trace)
    {
        var all = new byte[trace.Length];
        trace.Read(0, all);
        return all;
    }
}
