using System.Buffers.Binary;

namespace Scheduler.Actors.Trace;

/// <summary>
/// CRC-32 (IEEE 802.3, as GitLab's trace checksum) computed as the trace grows, eight bytes a step (slicing-by-8), so the
/// checksum keeps up with the log path rather than costing a table look-up per byte. Not thread-safe.
/// </summary>
public sealed class TraceCrc32
{
    private static readonly uint[][] Tables = BuildTables();
    private uint _crc = 0xFFFFFFFFu;

    public uint Value => _crc ^ 0xFFFFFFFFu;

    /// <summary>As the final job update sends it: <c>crc32:%08x</c>.</summary>
    public override string ToString() => $"crc32:{Value:x8}";

    public void Append(ReadOnlySpan<byte> bytes)
    {
        var crc = _crc;
        var (t0, t1, t2, t3, t4, t5, t6, t7) = (Tables[0], Tables[1], Tables[2], Tables[3], Tables[4], Tables[5], Tables[6], Tables[7]);
        while (bytes.Length >= 8)
        {
            var low = BinaryPrimitives.ReadUInt32LittleEndian(bytes) ^ crc;
            var high = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
            crc = t7[low & 0xFF] ^ t6[(low >> 8) & 0xFF] ^ t5[(low >> 16) & 0xFF] ^ t4[low >> 24] ^
                  t3[high & 0xFF] ^ t2[(high >> 8) & 0xFF] ^ t1[(high >> 16) & 0xFF] ^ t0[high >> 24];
            bytes = bytes[8..];
        }

        foreach (var b in bytes)
        {
            crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        _crc = crc;
    }

    private static uint[][] BuildTables()
    {
        var tables = new uint[8][];
        tables[0] = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            tables[0][i] = c;
        }

        for (var t = 1; t < 8; t++)
        {
            tables[t] = new uint[256];
            for (var i = 0; i < 256; i++)
            {
                var previous = tables[t - 1][i];
                tables[t][i] = (previous >> 8) ^ tables[0][previous & 0xFF];
            }
        }

        return tables;
    }
}
