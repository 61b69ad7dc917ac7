using System.Text;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class ContainerLogTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "log-tests-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ContainerLog SampleLog()
    {
        var log = new ContainerLog(Path.Combine(_dir, "0.log"));
        log.Append("stdout", "one\ntwo\n"u8, T0);
        log.Append("stderr", "oops\n"u8, T0.AddSeconds(10));
        log.Append("stdout", "thr"u8, T0.AddSeconds(20));
        log.Append("stdout", "ee\nfour"u8, T0.AddSeconds(30));
        log.Complete();
        return log;
    }

    private static async Task<string> Serve(ContainerLog log, PodLogOptions options, DateTimeOffset? now = null)
    {
        using var output = new MemoryStream();
        await log.ServeAsync(options, now ?? T0.AddMinutes(1), output, CancellationToken.None);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    public static TheoryData<PodLogOptions, string> Cases => new()
    {
        { new PodLogOptions(), "one\ntwo\noops\nthree\nfour" },
        { new PodLogOptions { TailLines = 2 }, "three\nfour" },
        { new PodLogOptions { TailLines = 3 }, "oops\nthree\nfour" },
        { new PodLogOptions { TailLines = 0 }, "" },
        { new PodLogOptions { TailLines = 100 }, "one\ntwo\noops\nthree\nfour" },
        { new PodLogOptions { LimitBytes = 6 }, "one\ntw" },
        { new PodLogOptions { TailLines = 2, LimitBytes = 3 }, "thr" },
        { new PodLogOptions { SinceTime = T0.AddSeconds(10) }, "oops\nthree\nfour" },
        { new PodLogOptions { SinceSeconds = 45 }, "three\nfour" },
        { new PodLogOptions { SinceSeconds = long.MaxValue }, "one\ntwo\noops\nthree\nfour" },
        // Filtering is per entry, as kubelet does: the tail of a split line can pass without its head.
        { new PodLogOptions { SinceSeconds = 35 }, "ee\nfour" },
        {
            new PodLogOptions { Timestamps = true, TailLines = 3 },
            "2026-01-02T03:04:15.000000000Z oops\n2026-01-02T03:04:25.000000000Z three\n2026-01-02T03:04:35.000000000Z four"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Serves_like_kubelet(PodLogOptions options, string expected)
    {
        Assert.Equal(expected, await Serve(SampleLog(), options));
    }

    [Fact]
    public void The_file_is_in_cri_format()
    {
        SampleLog();

        var lines = File.ReadAllLines(Path.Combine(_dir, "0.log"));

        Assert.Equal("2026-01-02T03:04:05.000000000Z stdout F one", lines[0]);
        Assert.Equal("2026-01-02T03:04:15.000000000Z stderr F oops", lines[2]);
        Assert.Equal("2026-01-02T03:04:25.000000000Z stdout P thr", lines[3]);
        Assert.Equal("2026-01-02T03:04:35.000000000Z stdout P four", lines[5]);
    }

    [Fact]
    public async Task Follow_writes_appends_as_they_come_and_ends_on_completion()
    {
        var log = new ContainerLog(Path.Combine(_dir, "follow.log"));
        log.Append("stdout", "before\n"u8, T0);
        var output = new MemoryStream();
        var serving = log.ServeAsync(new PodLogOptions { Follow = true }, T0, output, CancellationToken.None);

        await Task.Delay(100);
        Assert.False(serving.IsCompleted);
        log.Append("stdout", "partial"u8, T0.AddSeconds(1));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Encoding.UTF8.GetString(output.ToArray()) != "before\npartial" && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.Equal("before\npartial", Encoding.UTF8.GetString(output.ToArray()));
        log.Complete();

        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Follow_stops_when_cancelled()
    {
        var log = new ContainerLog(Path.Combine(_dir, "cancel.log"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            log.ServeAsync(new PodLogOptions { Follow = true }, T0, new MemoryStream(), cancel.Token).WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData("2026-01-02T03:04:05.123456700Z", true)]
    [InlineData("2026-01-02T03:04:05Z", false)]
    [InlineData("garbage", false)]
    public void Parses_only_its_own_timestamps(string text, bool valid)
    {
        Assert.Equal(valid, ContainerLog.TryParseTime(text, out var time));
        if (valid) Assert.Equal(text, ContainerLog.FormatTime(time));
    }

    [Fact]
    public async Task A_log_larger_than_a_read_chunk_is_served_whole_and_in_order()
    {
        var log = new ContainerLog(Path.Combine(_dir, "big.log"));
        var expected = new StringBuilder();
        for (var i = 0; i < 40_000; i++)
        {
            var line = $"line {i:D6} {new string('x', 40)}\n";
            expected.Append(line);
            log.Append(i % 2 == 0 ? "stdout" : "stderr", Encoding.UTF8.GetBytes(line), T0.AddMilliseconds(i));
        }
        log.Complete();

        var served = await Serve(log, new PodLogOptions());

        Assert.True(new FileInfo(Path.Combine(_dir, "big.log")).Length > 2 << 20);
        Assert.Equal(expected.ToString(), served);
        Assert.Equal($"line 039999 {new string('x', 40)}\n", await Serve(log, new PodLogOptions { TailLines = 1 }));
    }
}
