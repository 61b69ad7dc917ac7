using System.Globalization;
using System.Text;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>One entry of a CRI log file: <c>&lt;RFC3339Nano&gt; stdout|stderr F|P &lt;content&gt;</c>; P marks a partial line.</summary>
public sealed record LogEntry(DateTimeOffset Time, string Stream, bool Partial, byte[] Content);

/// <summary>
/// A container's log on the node, in kubelet's CRI format. The container's pipes append to it; readers serve
/// <c>pods/log</c> from it and, with follow, wait for appends until the container has terminated.
/// </summary>
public sealed class ContainerLog
{
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff";
    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly FileStream _file;
    private long _length;
    private bool _completed;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ContainerLog(string path)
    {
        _path = path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    /// <summary>Kubelet's fixed-width RFC3339Nano (nine fractional digits).</summary>
    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture) + "00Z";

    public static bool TryParseTime(string text, out DateTimeOffset time)
    {
        time = default;
        if (text.Length != 30 || !text.EndsWith("00Z", StringComparison.Ordinal)) return false;
        if (!DateTime.TryParseExact(text[..27], TimeFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed)) return false;
        time = new DateTimeOffset(parsed, TimeSpan.Zero);
        return true;
    }

    /// <summary>Appends a chunk read from the container's stdout or stderr: complete lines as F entries, a trailing remainder as P.</summary>
    public void Append(string stream, ReadOnlySpan<byte> chunk, DateTimeOffset now)
    {
        if (chunk.IsEmpty) return;
        var prefix = Encoding.ASCII.GetBytes($"{FormatTime(now)} {stream} ");
        using var buffer = new MemoryStream();
        while (!chunk.IsEmpty)
        {
            var newline = chunk.IndexOf((byte)'\n');
            var partial = newline < 0;
            var content = partial ? chunk : chunk[..newline];
            buffer.Write(prefix);
            buffer.WriteByte(partial ? (byte)'P' : (byte)'F');
            buffer.WriteByte((byte)' ');
            buffer.Write(content);
            buffer.WriteByte((byte)'\n');
            chunk = partial ? [] : chunk[(newline + 1)..];
        }
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_completed) return;
            _file.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            _file.Flush();
            _length += buffer.Length;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The container has terminated and its pipes are drained: followers finish.</summary>
    public void Complete()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_completed) return;
            _completed = true;
            _file.Dispose();
            changed = _changed;
        }
        changed.TrySetResult();
    }

    public static List<LogEntry> ParseEntries(ReadOnlySpan<byte> data)
    {
        var entries = new List<LogEntry>();
        while (!data.IsEmpty)
        {
            var end = data.IndexOf((byte)'\n');
            var line = end < 0 ? data : data[..end];
            data = end < 0 ? [] : data[(end + 1)..];
            var first = line.IndexOf((byte)' ');
            if (first < 0) continue;
            var rest = line[(first + 1)..];
            var second = rest.IndexOf((byte)' ');
            if (second < 0 || rest.Length < second + 3) continue;
            if (!TryParseTime(Encoding.ASCII.GetString(line[..first]), out var time)) continue;
            var stream = Encoding.ASCII.GetString(rest[..second]);
            var partial = rest[second + 1] == (byte)'P';
            entries.Add(new LogEntry(time, stream, partial, rest[(second + 3)..].ToArray()));
        }
        return entries;
    }

    /// <summary>Writes the log as kubelet serves it. With Follow, keeps writing appends until <see cref="Complete"/>.</summary>
    public async Task ServeAsync(PodLogOptions options, DateTimeOffset now, Stream output, CancellationToken cancellationToken)
    {
        var since = options.SinceTime;
        if (options.SinceSeconds is { } seconds)
        {
            // Clamped: a huge sinceSeconds from a client means "everything", not an overflow.
            since = seconds >= (now - DateTimeOffset.UnixEpoch).TotalSeconds ? DateTimeOffset.MinValue : now - TimeSpan.FromSeconds(Math.Max(0, seconds));
        }
        var writer = new LogWriter(options, since, output);

        var (length, completed, changed) = State();
        long offset = 0;
        if (options.TailLines is { } tail)
        {
            await writer.WriteAsync(LastLines(ParseEntries(ReadRange(0, length)), tail), cancellationToken);
            offset = length;
        }
        offset = await WriteRangeAsync(writer, offset, length, cancellationToken);

        while (options.Follow && !completed && !writer.LimitReached)
        {
            await changed.WaitAsync(cancellationToken);
            (length, completed, changed) = State();
            offset = await WriteRangeAsync(writer, offset, length, cancellationToken);
        }
        await output.FlushAsync(cancellationToken);
    }

    private (long Length, bool Completed, Task Changed) State()
    {
        lock (_lock) return (_length, _completed, _changed.Task);
    }

    // Streams the entries in [offset, length) in chunks, so a large log is never held in memory whole.
    private async Task<long> WriteRangeAsync(LogWriter writer, long offset, long length, CancellationToken cancellationToken)
    {
        const int chunkSize = 1 << 20;
        while (offset < length && !writer.LimitReached)
        {
            var data = ReadRange(offset, Math.Min(chunkSize, length - offset));
            if (data.Length == 0) break;
            // Entries are lines of at most a pipe read plus a prefix: a chunk always holds at least one whole entry.
            var end = offset + data.Length == length ? data.Length : Array.LastIndexOf(data, (byte)'\n') + 1;
            if (end <= 0) end = data.Length;
            await writer.WriteAsync(ParseEntries(data.AsSpan(0, end)), cancellationToken);
            offset += end;
        }
        return offset;
    }

    private byte[] ReadRange(long offset, long count)
    {
        if (count <= 0) return [];
        try
        {
            using var reader = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            reader.Seek(offset, SeekOrigin.Begin);
            var data = new byte[count];
            reader.ReadExactly(data);
            return data;
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException or EndOfStreamException)
        {
            // The pod was deleted and its node directory removed: the log ends here.
            return [];
        }
    }

    /// <summary>The entries of the last <paramref name="lines"/> lines; a line is its P entries plus the F entry that ends it.</summary>
    public static List<LogEntry> LastLines(List<LogEntry> entries, long lines)
    {
        if (lines <= 0) return [];
        var seen = 0L;
        for (var index = entries.Count - 1; index >= 0; index--)
        {
            // A line starts after the previous F entry; count a line at each F (and at a trailing run of P entries).
            var endsLine = !entries[index].Partial || index == entries.Count - 1;
            if (endsLine && ++seen > lines) return entries[(index + 1)..];
        }
        return entries;
    }

    private sealed class LogWriter(PodLogOptions options, DateTimeOffset? since, Stream output)
    {
        private bool _atLineStart = true;
        private long _written;

        public bool LimitReached => options.LimitBytes is { } limit && _written >= limit;

        public async Task WriteAsync(List<LogEntry> entries, CancellationToken cancellationToken)
        {
            using var buffer = new MemoryStream();
            foreach (var entry in entries)
            {
                if (since is { } from && entry.Time < from) continue;
                if (options.Timestamps && _atLineStart) buffer.Write(Encoding.ASCII.GetBytes(FormatTime(entry.Time) + " "));
                buffer.Write(entry.Content);
                if (!entry.Partial) buffer.WriteByte((byte)'\n');
                _atLineStart = !entry.Partial;
            }
            var count = buffer.Length;
            if (options.LimitBytes is { } limit) count = Math.Min(count, Math.Max(0, limit - _written));
            if (count == 0) return;
            await output.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)count), cancellationToken);
            await output.FlushAsync(cancellationToken);
            _written += count;
        }
    }
}
