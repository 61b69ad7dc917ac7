using Microsoft.Win32.SafeHandles;

namespace Scheduler.Actors.Trace;

/// <summary>
/// A job's trace as sent so far, kept in an append-only file rather than in memory, so a long trace (or a GitLab that
/// takes it slowly) costs disk, not the runner's memory. Any range can be read back for a resend after a 416. The file is
/// deleted when it is disposed (and by the OS when the process ends, where it supports that). Not thread-safe.
/// </summary>
public sealed class TraceFile : IDisposable
{
    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;

    private TraceFile(FileStream file, string path)
    {
        _file = file;
        _handle = file.SafeFileHandle;
        Path = path;
    }

    public string Path { get; }

    public long Length { get; private set; }

    /// <summary>A new, empty trace file in <paramref name="directory"/> (created if missing), readable only by this user.</summary>
    public static TraceFile Create(string directory, string name)
    {
        Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, $"{name}-{Guid.NewGuid():N}.trace");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            Options = FileOptions.DeleteOnClose,
            BufferSize = 0,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // the trace may hold what masking missed
        }

        return new TraceFile(new FileStream(path, options), path);
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        RandomAccess.Write(_handle, bytes, Length);
        Length += bytes.Length;
    }

    /// <summary>Reads <c>[offset, offset + into.Length)</c>; the range must lie inside the file.</summary>
    public void Read(long offset, Span<byte> into)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + into.Length, Length);
        while (into.Length > 0)
        {
            var read = RandomAccess.Read(_handle, into, offset);
            if (read <= 0)
            {
                throw new IOException($"the trace file {Path} ended early at {offset}");
            }

            into = into[read..];
            offset += read;
        }
    }

    public void Dispose() => _file.Dispose();
}
