namespace Scheduler.Helper;

/// <summary><c>scheduler helper read-log</c>: streams a file from a byte offset; with follow, keeps streaming as the file
/// grows and never ends on its own (the runner cancels it). A file that does not exist yet reads as empty: the first stage
/// may not have written it.</summary>
public static class ReadLog
{
    public static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(200);
    private const int ChunkSize = 64 * 1024;

    /// <returns>0 when the file was read to its end (without follow) or the read was cancelled.</returns>
    public static async Task<int> RunAsync(string path, long offset, bool follow, TimeSpan poll, Stream output, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var buffer = new byte[ChunkSize];
        var position = offset;
        try
        {
            while (true)
            {
                if (File.Exists(path))
                {
                    await using var file = new FileStream(path, new FileStreamOptions
                    {
                        Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0,
                    });
                    file.Seek(position, SeekOrigin.Begin);
                    int read;
                    while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                        position += read;
                    }

                    await output.FlushAsync(cancellationToken);
                }

                if (!follow)
                {
                    return 0;
                }

                // A short sleep between reads: the log's writers are other processes, and a poll costs one stat and one read.
                await Task.Delay(poll, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
    }
}
