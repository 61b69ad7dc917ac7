using System.IO.Hashing;

namespace Scheduler.GitLab;

/// <summary>CRC-32 (IEEE) over every trace byte, formatted <c>crc32:%08x</c> as the final job update expects.
/// Incremental: feed the trace in chunks as it is sent. System.IO.Hashing's vectorised CRC32.</summary>
public sealed class TraceChecksum
{
    private readonly Crc32 _crc = new();

    public long ByteSize { get; private set; }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        _crc.Append(bytes);
        ByteSize += bytes.Length;
    }

    public uint Value => _crc.GetCurrentHashAsUInt32();

    public override string ToString() => $"crc32:{Value:x8}";

    public static string Of(ReadOnlySpan<byte> bytes)
    {
        var checksum = new TraceChecksum();
        checksum.Append(bytes);
        return checksum.ToString();
    }
}
