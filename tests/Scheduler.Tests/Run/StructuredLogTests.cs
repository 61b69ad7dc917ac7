using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Scheduler.Hosting;

namespace Scheduler.Scheduler.Tests.Run;

/// <summary>Actor logs reach Serilog as structured events (Akka's named template, arguments as properties, ActorPath, JobId, Runner, Pod),
/// and <c>log_format = "json"</c> writes one JSON object per line. In the run collection: the static Serilog logger is shared.</summary>
[Collection(RunClusterCollection.Name)]
public sealed class StructuredLogTests
{
    [Theory]
    [InlineData("akka://run/user/intake-r1-0/job-42", "42", "r1")]
    [InlineData("[akka://run/user/intake-my-runner-3/job-7#12345]", "7", "my-runner")]
    [InlineData("akka://run/user/runner/coordinator/job-1001/pod", "1001", null)]
    [InlineData("akka://run/user/runner/coordinator/slot-3/job-1001/pod", "1001", null)]
    [InlineData("akka://run/user/runner/intake-r1-1/job-42", "42", "r1")]
    [InlineData("akka://run/user/intake-r1-0", null, "r1")]
    [InlineData("akka://run/user/intake-2", null, null)]
    [InlineData("akka://run/user/runner/coordinator/job-x", null, null)]
    [InlineData("akka://run/user/runner/pod-watch", null, null)]
    [InlineData("", null, null)]
    public void The_actor_path_names_the_job_and_the_runner_entry(string path, string? jobId, string? runner)
    {
        var properties = ActorLogContext.FromPath(path).ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(jobId, properties.TryGetValue(ActorLogContext.JobId, out var id) ? id.ToString() : null);
        Assert.Equal(runner, properties.TryGetValue(ActorLogContext.Runner, out var name) ? (string)name : null);
    }

    [Fact]
    public async Task Actor_log_events_carry_their_arguments_and_the_actor_path_as_properties()
    {
        using var log = new CapturedLog();
        using var system = SchedulerActorSystem.Create("structured-log", level: Akka.Event.LogLevel.DebugLevel);
        var intake = system.ActorOf(Props.Create(() => new ParentActor()), "intake-r1-0");
        intake.Tell("go");

        var stage = await WaitForAsync(log, e => e.MessageTemplate.Text.StartsWith("job {JobId}: stage", StringComparison.Ordinal));
        Assert.Equal("job {JobId}: stage {Stage} {Change}", stage.MessageTemplate.Text); // Akka's named template, as written
        Assert.Equal("42", CapturedLog.Property(stage, "JobId"));
        Assert.Equal("build", CapturedLog.Property(stage, "Stage"));
        Assert.Equal("r1", CapturedLog.Property(stage, "Runner"));
        Assert.EndsWith("/user/intake-r1-0/job-42", CapturedLog.Property(stage, "ActorPath"));
        Assert.Equal("job 42: stage build started", stage.RenderMessage().Replace("\"", "", StringComparison.Ordinal));

        var pod = await WaitForAsync(log, e => e.Properties.ContainsKey("Pod"));
        Assert.Equal("runner-abc-project-1-concurrent-0", CapturedLog.Property(pod, "Pod"));
        Assert.Equal("42", CapturedLog.Property(pod, "JobId"));

        var plain = await WaitForAsync(log, e => e.MessageTemplate.Text.Contains("no job here", StringComparison.Ordinal));
        Assert.False(plain.Properties.ContainsKey("JobId"));
        Assert.Equal("r1", CapturedLog.Property(plain, "Runner"));

        // A template that names JobId itself wins over the actor path's job.
        var other = await WaitForAsync(log, e => e.MessageTemplate.Text.Contains("waits for", StringComparison.Ordinal));
        Assert.Equal("7", CapturedLog.Property(other, "JobId"));
        Assert.Equal("r1", CapturedLog.Property(other, "Runner"));

        // A positional template still arrives as written, its arguments as properties by position.
        var positional = await WaitForAsync(log, e => e.MessageTemplate.Text.StartsWith("positional", StringComparison.Ordinal));
        Assert.Equal("x", CapturedLog.Property(positional, "0"));
        Assert.Equal("r1", CapturedLog.Property(positional, "Runner"));

        var json = Format(stage, "json");
        Assert.Single(json.TrimEnd('\n').Split('\n'));
        using var document = JsonDocument.Parse(json);
        Assert.Equal(42, document.RootElement.GetProperty("JobId").GetInt32());
        Assert.Equal("r1", document.RootElement.GetProperty("Runner").GetString());
        Assert.Equal("job 42: stage \"build\" \"started\"", document.RootElement.GetProperty("@m").GetString());
        Assert.Contains("/user/intake-r1-0/job-42", document.RootElement.GetProperty("ActorPath").GetString());

        var text = Format(stage, "runner");
        Assert.Matches(@"^\d\d:\d\d:\d\d \[DBG\] job 42: stage build started\r?\n$", text);
        await system.Terminate();
    }

    [Theory]
    [InlineData("json", true)]
    [InlineData("JSON", true)]
    [InlineData("runner", false)]
    [InlineData("text", false)]
    [InlineData(null, false)]
    public void Json_only_when_log_format_says_json(string? format, bool json) => Assert.Equal(json, LogOutput.IsJson(format));

    private static string Format(Serilog.Events.LogEvent e, string format)
    {
        using var writer = new StringWriter();
        LogOutput.Formatter(format).Format(e, writer);
        return writer.ToString();
    }

    private static async Task<Serilog.Events.LogEvent> WaitForAsync(CapturedLog log, Func<Serilog.Events.LogEvent, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (log.Events.FirstOrDefault(match) is { } found)
            {
                return found;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("the log event did not arrive; got:\n" + string.Join("\n", log.Events.Select(e => e.MessageTemplate.Text)));
    }

    private sealed class ParentActor : ReceiveActor
    {
        public ParentActor()
        {
            var job = Context.ActorOf(Props.Create(() => new JobLikeActor()), "job-42");
            Receive<string>(_ =>
            {
                Context.GetLogger().Info("runner {Runner}: no job here", "r1");
                job.Tell("go");
            });
        }
    }

    private sealed class JobLikeActor : ReceiveActor
    {
        public JobLikeActor()
        {
            var log = Context.GetLogger();
            Receive<string>(_ =>
            {
                log.Debug("job {JobId}: stage {Stage} {Change}", 42L, "build", "started");
                log.Info("pod {Pod} is running", "runner-abc-project-1-concurrent-0");
                log.Info("job {JobId} waits for another", 7L);
                log.Info("positional {0}", "x");
            });
        }
    }
}
