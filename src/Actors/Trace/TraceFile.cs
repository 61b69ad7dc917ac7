using Microsoft.Win32.SafeHandles;

namespace Scheduler.Actors.Trace;

/// <summary>
/// A job's trace as sent so far. The first <see cref="InMemoryBytes"/> are kept in memory; a longer trace moves to an
/// append-only file, so a long trace (or a GitLab that takes it slowly) costs disk, not the runner's memory, while a short
/// job makes no file at all (creating, writing and deleting one was a visible share of a short job's cost). Any range can
/// be read back for a resend after a 416. The file is deleted when this is disposed (and by the OS when the process ends,
/// where it supports that). When the file cannot be made or written (a full disk, a directory that cannot be created),
/// the trace stays in memory from then on, whole, and <see cref="FileError"/> says why: a runner's disk fault costs
/// memory (bounded by the job's output limit upstream), never trace bytes; only a file that can then not be read back
/// either loses them, and <see cref="Append"/> throws an <see cref="IOException"/>. Not thread-safe.
/// </summary>
public sealed class TraceFile : IDisposable
{
    /// <summary>A trace up to this long stays in memory: bounded per job, and most short jobs print less.</summary>
    public const int InMemoryBytes = 16 * 1024;

    private readonly string _directory;
    private readonly string _name;
    private byte[] _head = [];
    private FileStream? _file;
    private SafeFileHandle? _handle;

    private TraceFile(string directory, string name)
    {
        _directory = directory;
        _name = name;
    }

    /// <summary>The file, once the trace has outgrown memory; null before, and after a file error.</summary>
    public string? Path { get; private set; }

    /// <summary>Why the trace went back to memory (the file could not be made or written); null while all is well.</summary>
    public string? FileError { get; private set; }

    public long Length { get; private set; }

    /// <summary>A new, empty trace whose file, if it needs one, goes in <paramref name="directory"/> (created if missing),
    /// readable only by this user.</summary>
    public static TraceFile Create(string directory, string name) => new(directory, name);

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_handle is null && (FileError is not null || Length + bytes.Length <= InMemoryBytes))
        {
            AppendInMemory(bytes);
            return;
        }

        try
        {
            var handle = _handle ?? MoveToFile();
            RandomAccess.Write(handle, bytes, Length);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            BackToMemory(ex);
            AppendInMemory(bytes);
            return;
        }

        Length += bytes.Length;
    }

    /// <summary>Reads <c>[offset, offset + into.Length)</c>; the range must lie inside the trace.</summary>
    public void Read(long offset, Span<byte> into)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + into.Length, Length);
        if (_handle is null)
        {
            _head.AsSpan((int)offset, into.Length).CopyTo(into);
            return;
        }

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

    public void Dispose() => _file?.Dispose();

    private void AppendInMemory(ReadOnlySpan<byte> bytes)
    {
        var needed = Length + bytes.Length;
        if (needed > Array.MaxLength)
        {
            throw new IOException($"the trace outgrew what memory can hold after its file failed ({FileError})");
        }

        if (needed > _head.Length)
        {
            // Doubling within InMemoryBytes while the file is to come; after a file error, at most 1 MiB beyond what is
            // needed, so memory stays near the trace's length (itself bounded by the job's output limit upstream).
            var size = FileError is null
                ? Math.Min(InMemoryBytes, Math.Max(1024, 2 * needed))
                : Math.Min(Array.MaxLength, Math.Max(needed, Math.Min(2 * needed, needed + 1024 * 1024)));
            Array.Resize(ref _head, (int)size);
        }

        bytes.CopyTo(_head.AsSpan((int)Length));
        Length += bytes.Length;
    }

    // What the file held (every byte appended so far: Length only moves after a whole write) comes back into memory. If
    // the file cannot be read back either, those bytes are lost: the IOException says so, and the trace is no longer whole
    // (its owner must not report it as complete).
    private void BackToMemory(Exception error)
    {
        FileError = $"{error.GetType().Name}: {error.Message}";
        if (_handle is not null)
        {
            if (Length > Array.MaxLength)
            {
                throw new IOException($"the trace file failed ({FileError}) and its {Length} bytes are more than memory can hold");
            }

            var held = new byte[Length];
            Read(0, held);
            _head = held;
            _file!.Dispose();
            _file = null;
            _handle = null;
            Path = null;
        }
    }

    private SafeFileHandle MoveToFile()
    {
        var path = System.IO.Path.Combine(_directory, $"{_name}-{Guid.NewGuid():N}.trace");
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

        FileStream file;
        try
        {
            file = new FileStream(path, options);
        }
        catch (DirectoryNotFoundException)
        {
            // Made only when a file first finds it missing (or a temp cleaner took it), not checked for every trace.
            Directory.CreateDirectory(_directory);
            file = new FileStream(path, options);
        }

        try
        {
            RandomAccess.Write(file.SafeFileHandle, _head.AsSpan(0, (int)Length), 0);
        }
        catch
        {
            file.Dispose(); // deletes it: the trace is still whole in memory
            throw;
        }

        _file = file;
        _handle = file.SafeFileHandle;
        _head = [];
        Path = path;
        return _handle;
    }
}
