using Scheduler.GitLab;
using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>The pure rules: API base URL, backoff, trace upload offsets, checksum, short tokens.</summary>
public sealed class GitLabRulesTests
{
    [Theory]
    [InlineData("https://gitlab.com", "https://gitlab.com/api/v4/")]
    [InlineData("https://gitlab.com/", "https://gitlab.com/api/v4/")]
    [InlineData("https://gitlab.com/ci", "https://gitlab.com/api/v4/")]
    [InlineData("https://gitlab.com/ci/", "https://gitlab.com/api/v4/")]
    [InlineData("http://host:8080/gitlab", "http://host:8080/gitlab/api/v4/")]
    [InlineData("http://host/gitlab/ci?x=1", "http://host/gitlab/api/v4/")]
    public void Api_base_strips_slash_and_ci_suffix(string url, string expected)
    {
        Assert.True(GitLabUrl.TryApiBase(url, out var apiBase, out var error), error);
        Assert.Equal(expected, apiBase.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("gitlab.com")]
    [InlineData("ftp://gitlab.com")]
    [InlineData("file:///etc/passwd")]
    public void Api_base_refuses_what_is_not_http(string? url)
    {
        Assert.False(GitLabUrl.TryApiBase(url, out _, out var error));
        Assert.StartsWith("invalid GitLab URL", error);
    }

    [Theory]
    [InlineData(1, 0.0, 50)]
    [InlineData(1, 0.999999, 100)]
    [InlineData(2, 0.0, 100)]
    [InlineData(2, 0.5, 150)]
    [InlineData(4, 0.999999, 800)]
    [InlineData(11, 0.999999, 60_000)]
    [InlineData(500, 0.0, 30_000)]
    public void Backoff_is_exponential_with_jitter_between_half_and_full_ceiling(int attempt, double jitter, double expectedMs)
    {
        var expected = Math.Max(100, expectedMs);
        Assert.Equal(expected, Backoff.Delay(attempt, null, jitter).TotalMilliseconds, 0.1);
    }

    [Theory]
    [InlineData(7, 7)]
    [InlineData(60, 60)]
    [InlineData(3600, 60)]
    public void Backoff_honours_retry_after_up_to_the_maximum(int retryAfterSeconds, int expectedSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), Backoff.Delay(1, TimeSpan.FromSeconds(retryAfterSeconds), 0.3));
    }

    [Theory]
    [InlineData(0, 0, null, null)]
    [InlineData(0, 10, 0L, 10)]
    [InlineData(5, 10, 5L, 5)]
    [InlineData(10, 10, null, null)]
    [InlineData(0, 3 * 1024 * 1024, 0L, 1024 * 1024)]
    [InlineData(1024 * 1024, 1024 * 1024 + 7, 1024L * 1024, 7)]
    [InlineData(12, 10, null, null)]
    public void Next_patch_covers_the_unconfirmed_bytes_up_to_1_MiB(long confirmed, long available, long? expectedStart, int? expectedLength)
    {
        var patch = new TraceUploadState(confirmed).Next(available);

        Assert.Equal(expectedStart, patch?.Start);
        Assert.Equal(expectedLength, patch?.Length);
    }

    [Fact]
    public void Content_range_is_inclusive()
    {
        Assert.Equal("0-9", new TracePatch(0, 10).ContentRange);
        Assert.Equal("10-10", new TracePatch(10, 1).ContentRange);
    }

    [Theory]
    // A lost answer: GitLab already holds the bytes; continue after them, nothing twice.
    [InlineData(10, 20, 30, 20)]
    // GitLab lost bytes: resend from its size, no gap.
    [InlineData(10, 4, 30, 4)]
    [InlineData(10, -3, 30, 0)]
    public void Range_mismatch_moves_to_the_size_gitlab_holds(long confirmed, long serverSize, long available, long expectedNextStart)
    {
        var state = new TraceUploadState(confirmed).RangeMismatch(serverSize);

        Assert.Equal(expectedNextStart, state.Confirmed);
        Assert.Equal(expectedNextStart, state.Next(available)?.Start);
    }

    [Fact]
    public void Stale_accept_changes_nothing_and_reset_starts_over()
    {
        var state = TraceUploadState.Start.Accepted(new TracePatch(0, 10));
        Assert.Equal(10, state.Confirmed);
        Assert.Equal(10, state.Accepted(new TracePatch(0, 10)).Confirmed);
        Assert.True(state.IsComplete(10));
        Assert.False(state.IsComplete(11));
        Assert.True(state.IsAhead(9));
        Assert.Equal(0, state.Reset().Confirmed);
    }

    [Theory]
    [InlineData("", "crc32:00000000")]
    [InlineData("123456789", "crc32:cbf43926")]
    [InlineData("The quick brown fox jumps over the lazy dog", "crc32:414fa339")]
    public void Checksum_is_crc32_ieee(string text, string expected)
    {
        Assert.Equal(expected, TraceChecksum.Of(System.Text.Encoding.ASCII.GetBytes(text)));
    }

    [Fact]
    public void Checksum_is_incremental()
    {
        var checksum = new TraceChecksum();
        checksum.Append("12345"u8);
        checksum.Append("6789"u8);

        Assert.Equal("crc32:cbf43926", checksum.ToString());
        Assert.Equal(9, checksum.ByteSize);
    }

    [Theory]
    [InlineData("glrt-t3_AbCdEfGhIjKlMnOp", "AbCdEfGhI")]
    [InlineData("glrt-AbCdEfGhIjKlMnOp", "AbCdEfGhI")]
    [InlineData("GR1348941AbCdEfGhIjK", "AbCdEfGhI")]
    [InlineData("6337ff461c94fd3fa32b", "6337ff461")]
    [InlineData("short", "short")]
    public void Runner_label_is_the_short_token(string token, string expected)
    {
        Assert.Equal(expected, RunnerMetrics.ShortToken(token));
    }

    [Theory]
    [InlineData("0-10", 10L)]
    [InlineData("0-0", 0L)]
    [InlineData("0--5", null)]
    [InlineData("bytes 0-10/*", null)]
    [InlineData("garbage", null)]
    [InlineData(null, null)]
    public void Range_header_gives_its_second_number(string? header, long? expected)
    {
        Assert.Equal(expected, GitLabClient.RangeEnd(header));
    }
}
