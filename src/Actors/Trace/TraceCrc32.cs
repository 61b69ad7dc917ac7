using System.IO.Hashing;

namespace Scheduler.Actors.Trace;

/// <summary>
/// CRC-32 (IEEE 802.3, as GitLab's trace checksum) computed as the trace grows, with System.IO.Hashing's vectorised CRC32
/// (carry-less multiplication where the CPU has it), so the checksum costs far less than the log path's other work per
/// byte. Not thread-safe.
/// </summary>
public sealed class TraceCrc32
{
    private readonly Crc32 _crc = new();

    public uint Value => _crc.GetCurrentHashAsUInt32();

    /// <summary>As the final job update sends it: <c>crc32:%08x</c>.</summary>
    public override string ToString() => $"crc32:{Value:x8}";

    public void Append(ReadOnlySpan<byte> bytes) => _crc.Append(bytes);
}
