namespace Scheduler.GitLab;

/// <summary>CRC-32 (IEEE) over every trace byte, formatted <c>crc32:%08x</c> as the final job update expects.
/// Incremental: feed the trace in chunks as it is sent.</summary>
public sealed class TraceChecksum
{
    private static readonly uint[] Table = BuildTable();
    private uint _crc = 0xFFFFFFFFu;

    public long ByteSize { get; private set; }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        var crc = _crc;
        foreach (var b in bytes)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        _crc = crc;
        ByteSize += bytes.Length;
    }

    public uint Value => _crc ^ 0xFFFFFFFFu;

    public override string ToString() => $"crc32:{Value:x8}";

    public static string Of(ReadOnlySpan<byte> bytes)
    {
        var checksum = new TraceChecksum();
        checksum.Append(bytes);
        return checksum.ToString();
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
