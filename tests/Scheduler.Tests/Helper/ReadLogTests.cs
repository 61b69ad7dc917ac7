using System.Text;
using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

public sealed class ReadLogTests
{
    [Theory]
    [InlineData("hello world", 0, "hello world")]
    [InlineData("hello world", 6, "world")]
    [InlineData("hello world", 11, "")]
    [InlineData("hello world", 500, "")]
    [InlineData("h\u00e9llo", 1, "\u00e9llo")]
    public async Task Reads_from_the_offset_to_the_end(string content, long offset, string expected)
    {
        using var dir = new TemporaryDirectory();
        var path = dir.Write("output.log", content);
        var output = new MemoryStream();
        Assert.Equal(0, await ReadLog.RunAsync(path, offset, follow: false, ReadLog.DefaultPoll, output, CancellationToken.None));
        Assert.Equal(expected, Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public async Task A_missing_file_reads_as_empty()
    {
        using var dir = new TemporaryDirectory();
        var output = new MemoryStream();
        Assert.Equal(0, await ReadLog.RunAsync(Path.Combine(dir.Path, "none.log"), 0, false, ReadLog.DefaultPoll, output, CancellationToken.None));
        Assert.Empty(output.ToArray());
    }

    [Fact]
    public async Task Follow_streams_what_is_appended_until_cancelled()
    {
        using var dir = new TemporaryDirectory();
        var path = Path.Combine(dir.Path, "output.log");
        var output = new SynchronizedStream();
        using var cancel = new CancellationTokenSource();
        var reading = ReadLog.RunAsync(path, 2, follow: true, TimeSpan.FromMilliseconds(20), output, cancel.Token);

        await Task.Delay(100);
        Assert.False(reading.IsCompleted);
        await File.AppendAllTextAsync(path, "0123");
        Assert.True(await output.WaitForAsync("23"));
        await File.AppendAllTextAsync(path, "45\n");
        Assert.True(await output.WaitForAsync("2345\n"));
        await Task.Delay(100);
        Assert.False(reading.IsCompleted, "follow must not end on its own");

        await cancel.CancelAsync();
        Assert.Equal(0, await reading.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("2345\n", output.Text);
    }

    [Fact]
    public async Task A_negative_offset_is_refused() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ReadLog.RunAsync("/x", -1, false, ReadLog.DefaultPoll, Stream.Null, CancellationToken.None));

    /// <summary>A stream the test can read while ReadLog writes to it.</summary>
    private sealed class SynchronizedStream : MemoryStream
    {
        private readonly Lock _lock = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return Encoding.UTF8.GetString(ToArray());
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                base.Write(buffer, offset, count);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.ToArray(), 0, buffer.Length);
            return ValueTask.CompletedTask;
        }

        public async Task<bool> WaitForAsync(string text)
        {
            for (var i = 0; i < 250; i++)
            {
                if (Text == text)
                {
                    return true;
                }

                await Task.Delay(20);
            }

            return false;
        }
    }
}
