using System.Text;
using Scheduler.Actors.Trace;

namespace Scheduler.Actors.Tests.Trace;

/// <summary>The streaming masker against the first masker (<see cref="ReferenceTraceMasker"/>) on random streams cut at
/// random points, and GitLab Runner's token prefix and URL parameter masking.</summary>
public class StreamingMaskerTests
{
    // A byte no generated secret holds: fed to the reference after the stream, it gives the reference full lookahead at
    // every position, so its answer is the masking of the whole stream at once.
    private const byte Sentinel = (byte)'#';

    [Theory]
    [InlineData(1, "ab", 3, 40, 4)]
    [InlineData(2, "abc", 6, 200, 4)]
    [InlineData(3, "aab", 2, 80, 4)]
    [InlineData(4, "abcdxyz", 12, 400, 4)]
    // More secrets than the matcher tries in turn: it looks them up by first byte instead.
    [InlineData(5, "abcdxyz", 8, 300, 60)]
    [InlineData(6, "abcdefghij", 5, 200, 40)]
    public void Matches_the_reference_masker_whatever_the_chunking(int seed, string alphabet, int maxSecret, int maxInput, int maxSecrets)
    {
        var random = new Random(seed);
        for (var round = 0; round < 1500; round++)
        {
            var secrets = Enumerable.Range(0, random.Next(1, maxSecrets + 1)).Select(_ => RandomText(random, alphabet, random.Next(1, maxSecret + 1))).ToList();
            var input = Encoding.ASCII.GetBytes(RandomText(random, alphabet, random.Next(0, maxInput)));

            var reference = new ReferenceTraceMasker(secrets);
            var expected = reference.Process([.. input, Sentinel]);
            Assert.Equal(Sentinel, expected[^1]);
            Assert.Empty(reference.Flush());

            var actual = Run(new TraceMasker(secrets), Cut(random, input));
            Assert.True(expected[..^1].SequenceEqual(actual),
                $"secrets [{string.Join(", ", secrets)}], input {Encoding.ASCII.GetString(input)}: " +
                $"expected {Encoding.ASCII.GetString(expected[..^1])}, got {Encoding.ASCII.GetString(actual)}");
        }
    }

    [Fact]
    public void Masks_a_secret_inside_the_unfinished_prefix_of_a_longer_one_at_the_end_of_the_stream()
    {
        // "ab" could begin "abc" until the stream ends; then "b" is a secret of its own. The first masker let it through.
        Assert.Equal("a[MASKED]", Encoding.ASCII.GetString(Run(new TraceMasker(["abc", "b"]), ["ab"u8.ToArray()])));
    }

    [Fact]
    public void Holds_back_less_than_the_longest_secret()
    {
        var random = new Random(7);
        var masker = new TraceMasker(["0123456789abcdef", "x"]);
        for (var i = 0; i < 2000; i++)
        {
            masker.Process(Encoding.ASCII.GetBytes(RandomText(random, "0123456789abcdefx", random.Next(0, 50))));
            Assert.True(masker.PendingCount < 16, $"{masker.PendingCount} bytes held back");
        }
    }

    [Theory]
    [InlineData("token glpat-abcDEF123_-.=x end", "token glpat-[MASKED] end")]
    [InlineData("glpat-", "glpat-")] // a prefix without a token is left alone
    [InlineData("glpat- x", "glpat- x")]
    [InlineData("(glcbt-12_abc)", "(glcbt-[MASKED])")]
    [InlineData("glrtr-xyz glrt-xyz", "glrtr-[MASKED] glrt-[MASKED]")]
    [InlineData("mytok_abc", "mytok_[MASKED]")] // from the job's features.token_mask_prefixes
    [InlineData("https://h/x?private_token=abc&b=1", "https://h/x?private_token=[MASKED]&b=1")]
    [InlineData("s3?X-Amz-Credential=AK/2026/us/s3/aws4_request&X-Amz-Signature=f00d beef", "s3?X-Amz-Credential=[MASKED]&X-Amz-Signature=[MASKED] beef")]
    [InlineData("&x-amz-security-token=abc\nnext", "&x-amz-security-token=[MASKED]\nnext")]
    [InlineData("?authenticity_token=", "?authenticity_token=[MASKED]")]
    [InlineData("?private_tokens=abc", "?private_tokens=abc")]
    [InlineData("private_token=abc", "private_token=abc")] // not a URL parameter
    public void Masks_token_prefixes_and_url_parameters_as_GitLab_Runner(string input, string expected)
    {
        var rules = TraceMaskRules.For([], ["mytok_"]);
        var bytes = Encoding.UTF8.GetBytes(input);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var actual = Encoding.UTF8.GetString(Run(new TraceMasker(rules), [bytes[..split], bytes[split..]]));
            Assert.Equal(expected, actual);
        }

        Assert.Equal(expected, Encoding.UTF8.GetString(Run(new TraceMasker(rules), bytes.Select(b => new[] { b }))));
    }

    [Fact]
    public void Masks_a_token_that_runs_across_many_chunks_without_holding_it_back()
    {
        var masker = new TraceMasker(TraceMaskRules.For([], []));
        var output = new List<byte>();
        output.AddRange(masker.Process("a glpat-"u8));
        for (var i = 0; i < 1000; i++)
        {
            output.AddRange(masker.Process("abcdefgh"u8));
            Assert.Equal(0, masker.PendingCount);
        }

        output.AddRange(masker.Process(" b"u8));
        output.AddRange(masker.Flush());
        Assert.Equal("a glpat-[MASKED] b", Encoding.ASCII.GetString(output.ToArray()));
    }

    [Fact]
    public void Secret_values_are_masked_before_prefixes()
    {
        // The job token itself has a prefix: it is masked whole, and a value that holds a non-token byte is masked whole too.
        var masker = new TraceMasker(TraceMaskRules.For(["glcbt-secret value"], []));
        Assert.Equal("x [MASKED] y glcbt-[MASKED]", Encoding.ASCII.GetString(Run(masker, ["x glcbt-secret value y glcbt-other"u8.ToArray()])));
    }

    [Fact]
    public void Caps_the_jobs_own_prefixes_at_ten()
    {
        var rules = TraceMaskRules.For([], Enumerable.Range(0, 12).Select(i => $"p{i}_"));
        Assert.Contains("p9_", rules.TokenPrefixes);
        Assert.DoesNotContain("p10_", rules.TokenPrefixes);
        Assert.Contains("glpat-", rules.TokenPrefixes);
    }

    [Fact]
    public void A_job_starts_clean_after_another_ended_inside_a_token()
    {
        // One job's stream ends inside a token; the next job's masker (the same prefixes: the same shared tables) starts clean.
        var first = new TraceMasker(TraceMaskRules.For([], []));
        Assert.Equal("a glpat-[MASKED]", Encoding.ASCII.GetString(Run(first, ["a glpat-abc"u8.ToArray()])));
        var second = new TraceMasker(TraceMaskRules.For([], []));
        Assert.Equal("xyz glpat-[MASKED] ok", Encoding.ASCII.GetString(Run(second, ["xyz glpat-def ok"u8.ToArray()])));
    }

    [Fact]
    public void Different_sets_of_job_prefixes_never_share_tables()
    {
        // Sets whose prefixes join to the same text, plainly and with their lengths, must each mask by their own prefixes.
        foreach (var (prefixes, expected) in new (string[], string)[]
                 {
                     (["ab"], "ax ab[MASKED] a1:bx"),
                     (["a", "b"], "a[MASKED] a[MASKED] a[MASKED]:b[MASKED]"),
                     (["a1:b"], "ax abx a1:b[MASKED]"),
                 })
        {
            var masker = new TraceMasker(TraceMaskRules.For([], prefixes));
            Assert.Equal(expected, Encoding.ASCII.GetString(Run(masker, ["ax abx a1:bx"u8.ToArray()])));
        }
    }

    private static string RandomText(Random random, string alphabet, int length) =>
        new(Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());

    private static IEnumerable<byte[]> Cut(Random random, byte[] input)
    {
        var position = 0;
        while (position < input.Length)
        {
            var length = random.Next(0, 4) == 0 ? 0 : random.Next(1, 9);
            length = Math.Min(length, input.Length - position);
            yield return input[position..(position + length)];
            position += length;
        }
    }

    private static byte[] Run(TraceMasker masker, IEnumerable<byte[]> chunks)
    {
        var output = new List<byte>();
        foreach (var chunk in chunks)
        {
            output.AddRange(masker.Process(chunk));
        }

        output.AddRange(masker.Flush());
        return output.ToArray();
    }
}

/// <summary>The trace's incremental CRC-32 against the bytewise one GitLab's checksum is defined by.</summary>
public class TraceCrc32Tests
{
    [Fact]
    public void Matches_the_bytewise_CRC32_whatever_the_chunking()
    {
        Assert.Equal("crc32:cbf43926", Of([Encoding.ASCII.GetBytes("123456789")])); // the standard check value
        var random = new Random(11);
        for (var round = 0; round < 300; round++)
        {
            var data = new byte[random.Next(0, 300)];
            random.NextBytes(data);
            var chunks = new List<byte[]>();
            for (var at = 0; at < data.Length;)
            {
                var length = Math.Min(random.Next(0, 20), data.Length - at);
                chunks.Add(data[at..(at + length)]);
                at += length;
            }

            Assert.Equal(Bytewise(data), Of(chunks));
        }
    }

    [Fact]
    public void Matches_the_bytewise_CRC32_over_chunks_long_enough_for_the_vectorised_path()
    {
        // The vectorised CRC folds 64 bytes and more at a time: chunks of every length around those steps, split anywhere.
        var random = new Random(12);
        for (var round = 0; round < 100; round++)
        {
            var data = new byte[random.Next(0, 20_000)];
            random.NextBytes(data);
            var chunks = new List<byte[]>();
            for (var at = 0; at < data.Length;)
            {
                var length = Math.Min(random.Next(0, 1_500), data.Length - at);
                chunks.Add(data[at..(at + length)]);
                at += length;
            }

            Assert.Equal(Bytewise(data), Of(chunks));
        }
    }

    private static string Of(IEnumerable<byte[]> chunks)
    {
        var crc = new TraceCrc32();
        foreach (var chunk in chunks)
        {
            crc.Append(chunk);
        }

        return crc.ToString();
    }

    private static string Bytewise(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return $"crc32:{crc ^ 0xFFFFFFFFu:x8}";
    }
}
