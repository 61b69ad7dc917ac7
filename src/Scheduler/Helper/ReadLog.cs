using System.Runtime.InteropServices;

namespace Scheduler.Helper;

/// <summary><c>scheduler helper read-log</c>: streams a file from a byte offset; with follow, keeps streaming as the file
/// grows and never ends on its own (the runner cancels it). A file that does not exist yet reads as empty: the first stage
/// may not have written it.</summary>
public static class ReadLog
{
    /// <summary>The longest wait between two looks at a file that stopped growing.</summary>
    public static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>The first wait after the end of the file: a writer that is only between two writes is caught up with at
    /// once, and the wait doubles up to the poll while the file stays as it is.</summary>
    public static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(1);

    /// <summary>The largest read and write: one system call each for a quarter of a MiB; with the pipe at
    /// <see cref="PipeBytes"/> a write does not wait for the reader on the other end to take it in pieces.</summary>
    public const int ChunkSize = 256 * 1024;

    /// <summary>The size read-log asks for its stdout pipe when it is smaller (Linux's default is 64 KiB): one chunk. Kept
    /// small: every pipe's pages count against its creator's pipe-user-pages limit (the runtime's, which makes one per exec).</summary>
    public const int PipeBytes = ChunkSize;

    private const int SetPipeSize = 1031, GetPipeSize = 1032; // F_SETPIPE_SZ, F_GETPIPE_SZ

    /// <returns>0 when the file was read to its end (without follow) or the read was cancelled.</returns>
    public static async Task<int> RunAsync(string path, long offset, bool follow, TimeSpan poll, Stream output, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var buffer = new byte[ChunkSize];
        var position = offset;
        var wait = FirstWait < poll ? FirstWait : poll;
        FileStream? file = null;
        try
        {
            while (true)
            {
                // The log is only ever appended to, so one handle serves the whole follow; it is opened once the file exists.
                // A local file's read does not block for long: it is read synchronously, a thread-pool hop per read saved.
                file ??= File.Exists(path)
                    ? new FileStream(path, new FileStreamOptions
                    {
                        Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0,
                    })
                    : null;
                var grew = false;
                if (file is not null)
                {
                    int read;
                    while ((read = RandomAccess.Read(file.SafeFileHandle, buffer, position)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                        position += read;
                        grew = true;
                    }

                    await output.FlushAsync(cancellationToken);

                    // A job can remove or replace the log (its run directory is writable): a quiet handle whose file is no
                    // longer the one at the path is reopened by path, so later stages' output is not read from a dead file.
                    if (!grew && follow && !IsStillAtPath(path, file))
                    {
                        await file.DisposeAsync();
                        file = null;
                    }
                }

                if (!follow)
                {
                    return 0;
                }

                // The log's writers are other processes: look again soon after new bytes, less often while it stays quiet
                // (each look is one read).
                wait = grew ? FirstWait : TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, poll.Ticks));
                await Task.Delay(wait, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }
    }

    /// <summary>Asks Linux to enlarge the pipe behind <paramref name="fd"/> to <paramref name="bytes"/>, never to shrink it;
    /// best effort: a descriptor that is not a pipe (a file, a terminal), a size over the system's limit (EPERM) or another
    /// system leaves it as it is, and the log is read all the same in smaller pieces.</summary>
    /// <returns>The pipe's size afterwards (its own when it was already as large), or null when it is not a pipe or the
    /// change was refused.</returns>
    public static int? TryEnlargePipe(int fd, int bytes)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            var current = Fcntl(fd, GetPipeSize, 0);
            if (current < 0)
            {
                return null;
            }

            if (current >= bytes)
            {
                return current;
            }

            return Fcntl(fd, SetPipeSize, bytes) < 0 ? null : Fcntl(fd, GetPipeSize, 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The size of the pipe behind <paramref name="fd"/>, or null when it is not a pipe.</summary>
    public static int? PipeSize(int fd)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var size = Fcntl(fd, GetPipeSize, 0);
        return size < 0 ? null : size;
    }

    // fcntl is variadic: its third argument is read as a pointer-sized value.
    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, nint argument);

    // Without an inode to compare (no stat in .NET's API), a file at the path of another length than the open one's is
    // another file: the open one is quiet, so it did not just grow. A replacement of the same length goes unnoticed.
    private static bool IsStillAtPath(string path, FileStream file)
    {
        var atPath = new FileInfo(path);
        return atPath.Exists && atPath.Length == RandomAccess.GetLength(file.SafeFileHandle);
    }
}
