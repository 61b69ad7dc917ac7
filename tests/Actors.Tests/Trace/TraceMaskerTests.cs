using System.Text;
using Scheduler.Actors.Trace;

namespace Scheduler.Actors.Tests.Trace;

public class TraceMaskerTests
{
    [Theory]
    [InlineData("token=s3cr3t-value end", "token=[MASKED] end")]
    [InlineData("s3cr3t-value", "[MASKED]")]
    [InlineData("s3cr3t-values3cr3t-value", "[MASKED][MASKED]")]
    [InlineData("no secret here", "no secret here")]
    [InlineData("s3cr3t-valu", "s3cr3t-valu")] // a prefix at the end of the stream is not a secret
    [InlineData("ss3cr3t-value", "s[MASKED]")]
    [InlineData("x longer-secret y", "x [MASKED] y")] // the longer of two overlapping secrets wins
    [InlineData("x longer-secre", "x [MASKED]-secre")]
    [InlineData("abc-long", "[MASKED]-long")]
    public void Masks_whole_stream(string input, string expected)
    {
        var masker = new TraceMasker(["s3cr3t-value", "longer-secret", "longer", "abc", ""]);
        Assert.Equal(expected, Run(masker, [input]));
    }

    [Fact]
    public void Masks_a_secret_split_at_every_possible_point()
    {
        const string text = "before s3cr3t-value middle s3cr3t-value after";
        for (var split = 0; split <= text.Length; split++)
        {
            var masker = new TraceMasker(["s3cr3t-value"]);
            Assert.Equal("before [MASKED] middle [MASKED] after", Run(masker, [text[..split], text[split..]]));
        }
    }

    [Fact]
    public void Masks_a_secret_fed_one_byte_at_a_time()
    {
        const string text = "x=s3cr3t-value;y=s3cr3t-valu";
        var masker = new TraceMasker(["s3cr3t-value"]);
        var chunks = text.Select(c => c.ToString()).ToArray();
        Assert.Equal("x=[MASKED];y=s3cr3t-valu", Run(masker, chunks));
    }

    [Fact]
    public void Holds_back_only_what_may_begin_a_secret()
    {
        var masker = new TraceMasker(["s3cr3t-value"]);
        var emitted = Encoding.UTF8.GetString(masker.Process("output s3cr"u8));
        Assert.Equal("output ", emitted);
        Assert.Equal(4, masker.PendingCount);
    }

    [Fact]
    public void Masks_multibyte_secrets()
    {
        var masker = new TraceMasker(["pässwörd"]);
        var bytes = Encoding.UTF8.GetBytes("a pässwörd b");
        var output = new List<byte>();
        foreach (var b in bytes)
        {
            output.AddRange(masker.Process([b]));
        }
        output.AddRange(masker.Flush());
        Assert.Equal("a [MASKED] b", Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void Without_secrets_passes_bytes_through()
    {
        var masker = new TraceMasker([]);
        Assert.Equal("anything", Run(masker, ["any", "thing"]));
    }

    private static string Run(TraceMasker masker, IEnumerable<string> chunks)
    {
        var output = new List<byte>();
        foreach (var chunk in chunks)
        {
            output.AddRange(masker.Process(Encoding.UTF8.GetBytes(chunk)));
        }
        output.AddRange(masker.Flush());
        return Encoding.UTF8.GetString(output.ToArray());
    }
}

public class OutputLimiterTests
{
    [Theory]
    [InlineData(new[] { "hello" }, 10, "hello", false)]
    [InlineData(new[] { "hello", "world" }, 10, "helloworld", false)]
    [InlineData(new[] { "hello", "world!" }, 10, "helloworld", true)]
    [InlineData(new[] { "0123456789abc" }, 4, "0123", true)]
    public void Cuts_at_the_limit_with_one_notice(string[] chunks, long limit, string kept, bool cut)
    {
        var limiter = new OutputLimiter(limit);
        var output = new List<byte>();
        foreach (var chunk in chunks)
        {
            output.AddRange(limiter.Process(Encoding.UTF8.GetBytes(chunk)));
        }
        if (cut)
        {
            Assert.Empty(limiter.Process("more after the cut"u8));
        }

        var expected = kept + (cut ? Encoding.UTF8.GetString(OutputLimiter.Notice(limit)) : "");
        Assert.Equal(expected, Encoding.UTF8.GetString(output.ToArray()));
        Assert.Equal(cut, limiter.LimitReached);
    }

    [Fact]
    public void Counts_what_it_drops()
    {
        var limiter = new OutputLimiter(3);
        limiter.Process("abcdef"u8);
        limiter.Process("gh"u8);
        Assert.Equal(3, limiter.AcceptedBytes);
        Assert.Equal(5, limiter.DroppedBytes);
    }
}
