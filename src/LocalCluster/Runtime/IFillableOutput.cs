namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// An exec output that lends its own buffers: the runtime reads a process's pipe straight into them, with no buffer of its
/// own in between and no copy.
/// </summary>
internal interface IFillableOutput
{
    /// <summary>Room for the next read: at least <paramref name="minimum"/> bytes, at most one of the output's buffers.</summary>
    Memory<byte> GetMemory(int minimum);

    /// <summary>
    /// The first <paramref name="count"/> bytes of the memory given last are output; waits while the output is full.
    /// Throws IOException once the output is gone.
    /// </summary>
    ValueTask CommitAsync(int count, CancellationToken cancellationToken);
}
