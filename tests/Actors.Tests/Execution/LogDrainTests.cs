using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Trace;
using Scheduler.Messages.Protocol;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>The end of the trace, on virtual time: the follow reader reads on to the size the last stage reported and the
/// trace is complete without another exec; a size the log never reaches (a marker the job overwrote) falls back to one
/// final read after <see cref="LogStreamActor.DrainIdle"/>; bytes past the size are not the trace's; a reader that drops
/// while draining resumes from its offset.</summary>
public sealed class LogDrainTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private readonly StringBuilder _trace = new();
    private string _pod = "";

    public LogDrainTests(ITestOutputHelper output) : base(VirtualTime, "log-drain", output)
    {
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private async Task<IActorRef> StartAsync()
    {
        var plan = TestData.Plan();
        _pod = plan.PodName;
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        var log = Sys.ActorOf(LogStreamActor.Props(1, TestActor, TraceMaskRules.ValuesOnly([]), 1024 * 1024, TimeSpan.FromSeconds(1)));
        log.Tell(new StartReading(_cluster, plan.Namespace, plan.PodName, "helper",
            (offset, follow) => ["read-log", offset.ToString(CultureInfo.InvariantCulture), follow ? "follow" : "once"]));
        await AwaitConditionAsync(() => Task.FromResult(_cluster.Count("read-log") == 1), TimeSpan.FromSeconds(10));
        return log;
    }

    /// <summary>Takes trace chunks until the trace is <paramref name="expected"/>.</summary>
    private async Task TraceIsAsync(string expected)
    {
        while (_trace.Length < expected.Length)
        {
            _trace.Append(Encoding.UTF8.GetString((await ExpectMsgAsync<JobTraceChunk>(TimeSpan.FromSeconds(10))).Bytes));
        }

        Assert.Equal(expected, _trace.ToString());
    }

    private async Task DrainedAsync()
    {
        var message = await FishForMessageAsync(m => m is LogDrained or JobTraceChunk, TimeSpan.FromSeconds(10));
        while (message is JobTraceChunk chunk)
        {
            _trace.Append(Encoding.UTF8.GetString(chunk.Bytes));
            message = await FishForMessageAsync(m => m is LogDrained or JobTraceChunk, TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Draining_up_to_the_reported_size_takes_no_exec_of_its_own()
    {
        var log = await StartAsync();
        _cluster.Append(_pod, "hello\n");
        await TraceIsAsync("hello\n");

        log.Tell(new DrainLog(12));
        _cluster.Append(_pod, "world\n");
        await DrainedAsync();

        Assert.Equal("hello\nworld\n", _trace.ToString());
        Assert.Equal(1, _cluster.Count("read-log"));
    }

    [Fact]
    public async Task A_log_read_to_the_reported_size_already_is_drained_at_once()
    {
        var log = await StartAsync();
        _cluster.Append(_pod, "all of it\n");
        await TraceIsAsync("all of it\n");

        log.Tell(new DrainLog(10));
        await ExpectMsgAsync<LogDrained>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _cluster.Count("read-log"));
    }

    [Fact]
    public async Task A_size_the_log_never_reaches_ends_with_one_final_read_after_the_idle_wait()
    {
        var log = await StartAsync();
        _cluster.Append(_pod, "abc\n");
        await TraceIsAsync("abc\n");

        // A marker the job overwrote claims a gigabyte: the drain does not wait for it for ever.
        log.Tell(new DrainLog(1L << 30));
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
        Clock.Advance(LogStreamActor.DrainIdle);
        await DrainedAsync();

        Assert.Equal("abc\n", _trace.ToString());
        Assert.Equal(2, _cluster.Count("read-log")); // the follow reader, then the final read
        Assert.EndsWith(" 4 once", _cluster.History.Last(c => c.Kind == "read-log").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bytes_past_the_reported_size_are_not_part_of_the_trace()
    {
        var log = await StartAsync();

        log.Tell(new DrainLog(4));
        _cluster.Append(_pod, "abc\nwritten later by a process the stage left behind\n");
        await DrainedAsync();

        Assert.Equal("abc\n", _trace.ToString());
    }

    [Fact]
    public async Task A_reader_that_drops_while_draining_resumes_from_its_offset()
    {
        var log = await StartAsync();
        _cluster.DropLogReaderAfter(3);

        log.Tell(new DrainLog(8));
        _cluster.Append(_pod, "abcdefgh");
        await TraceIsAsync("abc");
        await AwaitConditionAsync(() =>
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(_cluster.Count("read-log") == 2);
        }, TimeSpan.FromSeconds(10));
        await DrainedAsync();

        Assert.Equal("abcdefgh", _trace.ToString());
        Assert.EndsWith(" 3 follow", _cluster.History.Last(c => c.Kind == "read-log").Detail, StringComparison.Ordinal);
    }
}
