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
    public async Task Follow_waits_for_a_file_that_does_not_exist_yet_and_streams_it_from_the_offset()
    {
        using var dir = new TemporaryDirectory();
        var path = Path.Combine(dir.Path, "output.log");
        var output = new SynchronizedStream();
        using var cancel = new CancellationTokenSource();
        var reading = ReadLog.RunAsync(path, 3, follow: true, TimeSpan.FromMilliseconds(20), output, cancel.Token);

        await Task.Delay(100);
        await File.AppendAllTextAsync(path, "abcdef");
        Assert.True(await output.WaitForAsync("def"));
        await File.AppendAllTextAsync(path, "gh");
        Assert.True(await output.WaitForAsync("defgh"));

        await cancel.CancelAsync();
        Assert.Equal(0, await reading.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Follow_reads_a_replaced_log_from_the_path_not_the_removed_file()
    {
        using var dir = new TemporaryDirectory();
        var path = Path.Combine(dir.Path, "output.log");
        await File.WriteAllTextAsync(path, "abc");
        var output = new SynchronizedStream();
        using var cancel = new CancellationTokenSource();
        var reading = ReadLog.RunAsync(path, 0, follow: true, TimeSpan.FromMilliseconds(20), output, cancel.Token);
        Assert.True(await output.WaitForAsync("abc"));

        // Removed and written again (a job's `rm`, then the next stage's output): the reader goes on from its position.
        File.Delete(path);
        await Task.Delay(60);
        await File.WriteAllTextAsync(path, "xyzdef");
        Assert.True(await output.WaitForAsync("abcdef"));

        await cancel.CancelAsync();
        Assert.Equal(0, await reading.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Follow_keeps_up_with_a_writer_appending_in_pieces_and_every_byte_arrives_once_in_order()
    {
        // A writer appending pieces of every size, with and without pauses: the reader reaches the end of the file many
        // times and must neither skip nor repeat a byte when the file grows again.
        using var dir = new TemporaryDirectory();
        var path = Path.Combine(dir.Path, "output.log");
        var written = new MemoryStream();
        var random = new Random(7);
        var output = new SynchronizedStream();
        using var cancel = new CancellationTokenSource();
        await using (var writer = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
        {
            var reading = ReadLog.RunAsync(path, 0, follow: true, TimeSpan.FromMilliseconds(50), output, cancel.Token);
            for (var i = 0; i < 300; i++)
            {
                var piece = new byte[random.Next(1, i % 10 == 0 ? 200_000 : 3_000)];
                random.NextBytes(piece);
                await writer.WriteAsync(piece);
                written.Write(piece);
                if (i % 7 == 0)
                {
                    await Task.Delay(random.Next(0, 30));
                }
            }

            Assert.True(await output.WaitForLengthAsync(written.Length), $"read {output.Length} of {written.Length} bytes");
            await cancel.CancelAsync();
            Assert.Equal(0, await reading.WaitAsync(TimeSpan.FromSeconds(5)));
        }

        Assert.Equal(written.ToArray(), output.Bytes);
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

        public byte[] Bytes
        {
            get
            {
                lock (_lock)
                {
                    return ToArray();
                }
            }
        }

        public override long Length
        {
            get
            {
                lock (_lock)
                {
                    return base.Length;
                }
            }
        }

        public async Task<bool> WaitForLengthAsync(long length)
        {
            for (var i = 0; i < 500 && Length < length; i++)
            {
                await Task.Delay(20);
            }

            return Length == length;
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

    [Fact]
    public async Task Its_output_pipe_is_enlarged_so_one_chunk_is_one_read_and_everything_arrives_through_it()
    {
        using var dir = new TemporaryDirectory();
        var content = Enumerable.Range(0, 3 * ReadLog.ChunkSize + 77).Select(i => (byte)(i % 251)).ToArray();
        var path = Path.Combine(dir.Path, "output.log");
        await File.WriteAllBytesAsync(path, content);
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, pipe.ClientSafePipeHandle);
        var fd = (int)writer.SafePipeHandle.DangerousGetHandle();

        var size = ReadLog.TryEnlargePipe(fd, ReadLog.PipeBytes);

        if (OperatingSystem.IsLinux() && size is null)
        {
            // A system whose limit is below the size asked for (EPERM): the pipe stays as it was, which is harmless.
            Assert.True(ReadLog.PipeSize(fd) is >= 4096);
        }
        else if (OperatingSystem.IsLinux())
        {
            Assert.Equal(ReadLog.PipeBytes, size);
            Assert.True(ReadLog.PipeSize(fd) >= ReadLog.ChunkSize, "a chunk must fit in the pipe");
        }

        var reading = Task.Run(async () =>
        {
            var received = new MemoryStream();
            await pipe.CopyToAsync(received);
            return received.ToArray();
        });
        Assert.Equal(0, await ReadLog.RunAsync(path, 0, follow: false, ReadLog.DefaultPoll, writer, CancellationToken.None));
        writer.Dispose();
        Assert.Equal(content, await reading.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_refused_pipe_size_leaves_the_pipe_as_it_was()
    {
        // int.MaxValue is more than pipe-max-size allows even root (EINVAL or EPERM), refused as a size over pipe-max-size
        // is for an unprivileged process.
        const int bytes = int.MaxValue;
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, pipe.ClientSafePipeHandle);
        var fd = (int)writer.SafePipeHandle.DangerousGetHandle();
        var before = ReadLog.PipeSize(fd);

        var size = ReadLog.TryEnlargePipe(fd, bytes);

        Assert.Null(size);
        Assert.Equal(before, ReadLog.PipeSize(fd));
    }

    [Fact]
    public void A_pipe_already_larger_is_not_shrunk()
    {
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using var writer = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, pipe.ClientSafePipeHandle);
        var fd = (int)writer.SafePipeHandle.DangerousGetHandle();
        var larger = ReadLog.TryEnlargePipe(fd, 4 * ReadLog.PipeBytes);
        Assert.Equal(4 * ReadLog.PipeBytes, larger);

        var size = ReadLog.TryEnlargePipe(fd, ReadLog.PipeBytes);

        Assert.Equal(4 * ReadLog.PipeBytes, size);
        Assert.Equal(4 * ReadLog.PipeBytes, ReadLog.PipeSize(fd));
    }

    [Fact]
    public void Asking_for_a_pipe_size_on_a_file_or_a_closed_descriptor_is_harmless()
    {
        using var dir = new TemporaryDirectory();
        var path = dir.Write("output.log", "x");
        using var file = File.OpenRead(path);

        Assert.Null(ReadLog.TryEnlargePipe((int)file.SafeFileHandle.DangerousGetHandle(), ReadLog.PipeBytes));
        Assert.Null(ReadLog.TryEnlargePipe(-1, ReadLog.PipeBytes));
        Assert.Null(ReadLog.PipeSize(-1));
    }
}
