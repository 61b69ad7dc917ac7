using System.Diagnostics;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>The launch / wait / kill protocol run with /bin/sh on this machine (the embedded-cluster version is in
/// EndToEnd.Tests/StageProtocolTests).</summary>
public sealed class StageCommandsTests
{
    private static PodSandbox Pod(params string[] script) =>
        new(TestData.Job() with { Steps = [new JobStep { Name = "script", Script = script }] });

    private static string Log(PodSandbox pod) => File.ReadAllText(Path.Combine(pod.RunDir, "output.log"));

    [Fact]
    public void Launch_returns_at_once_and_wait_reports_the_exit_code()
    {
        using var pod = Pod("sleep 1", "echo finished", "exit 3");
        var stage = pod.Stage("step_script");
        var clock = Stopwatch.StartNew();
        var launch = pod.Exec(StageCommands.Launch(stage));
        Assert.Equal(0, launch.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(0.9), $"launch took {clock.Elapsed}");

        var wait = pod.Exec(StageCommands.Wait(stage));
        Assert.Equal((0, 3), (wait.ExitCode, StageCommands.ParseExitCode(wait.Output)));
        Assert.Contains("finished\n", Log(pod), StringComparison.Ordinal);
        Assert.Equal("3\n", File.ReadAllText(Path.Combine(pod.RunDir, "step_script.exit")));
    }

    [Fact]
    public void A_second_launch_does_not_run_the_stage_again()
    {
        using var pod = Pod("echo ran-once");
        var stage = pod.Stage("step_script");
        Assert.Equal((0, "launched\n"), pod.Exec(StageCommands.Launch(stage)));
        // The launch decides before it detaches anything: "already launched" is printed on the branch that starts nothing.
        Assert.Equal((0, "already launched\n"), pod.Exec(StageCommands.Launch(stage)));
        Assert.Equal(0, StageCommands.ParseExitCode(pod.Exec(StageCommands.Wait(stage)).Output));
        Assert.Equal((0, "already launched\n"), pod.Exec(StageCommands.Launch(stage)));
        Assert.Single(Log(pod).Split('\n'), line => line == "ran-once");
    }

    [Fact]
    public void Kill_ends_the_stage_and_its_children_and_the_marker_is_written()
    {
        using var pod = Pod("sleep 60 & echo $! > child.pid; wait", "echo never");
        var stage = pod.Stage("step_script");
        pod.Exec(StageCommands.Launch(stage));
        var childPid = Path.Combine(pod.ProjectDir, "child.pid");
        SpinWait.SpinUntil(() => File.Exists(childPid) && File.ReadAllText(childPid).EndsWith('\n'), TimeSpan.FromSeconds(10));

        Assert.Equal(0, pod.Exec(StageCommands.Kill(stage)).ExitCode);
        var wait = pod.Exec(StageCommands.Wait(stage), TimeSpan.FromSeconds(10));
        Assert.Equal(StageCommands.KilledExitCode, StageCommands.ParseExitCode(wait.Output));
        var pid = int.Parse(File.ReadAllText(childPid).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(SpinWait.SpinUntil(() => !Directory.Exists($"/proc/{pid}"), TimeSpan.FromSeconds(5)), "the stage's child survived");
        Assert.DoesNotContain("never", Log(pod).Replace("$ echo never", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void Kill_of_a_finished_or_unstarted_stage_does_nothing()
    {
        using var pod = Pod("echo done");
        var stage = pod.Stage("step_script");
        Assert.Equal(0, pod.Exec(StageCommands.Kill(stage)).ExitCode);
        pod.Exec(StageCommands.Launch(stage));
        Assert.Equal(0, StageCommands.ParseExitCode(pod.Exec(StageCommands.Wait(stage)).Output));
        Assert.Equal(0, pod.Exec(StageCommands.Kill(stage)).ExitCode);
        Assert.Equal("0\n", File.ReadAllText(Path.Combine(pod.RunDir, "step_script.exit")));
    }

    [Theory]
    [InlineData(0L, false, "scheduler helper read-log --path /var/run/scheduler/run/output.log --offset 0")]
    [InlineData(1234L, true, "scheduler helper read-log --path /var/run/scheduler/run/output.log --offset 1234 --follow")]
    public void Read_log_runs_the_helper(long offset, bool follow, string expected) =>
        Assert.Equal(expected, string.Join(' ', StageCommands.ReadLog(HelperInvocation.Default, offset, follow)));

    [Fact]
    public void Read_log_keeps_the_helper_prefix() =>
        Assert.Equal(["/usr/share/dotnet/dotnet", "/opt/s/scheduler.dll", "helper", "read-log"],
            StageCommands.ReadLog(HelperInvocation.ForAssembly("/usr/share/dotnet/dotnet", "/opt/s/scheduler.dll"), 0, false).Take(4));

    [Theory]
    [InlineData("relative/path")]
    [InlineData("")]
    public void Read_file_needs_an_absolute_path(string path) => Assert.Throws<ArgumentException>(() => StageCommands.ReadFile(path));

    [Theory]
    [InlineData("../x")]
    [InlineData("Step")]
    [InlineData("a b")]
    [InlineData("")]
    public void Stage_names_that_are_not_file_names_are_refused(string name) =>
        Assert.Throws<ArgumentException>(() => StageCommands.Launch(new StagePlan(name, "build", StageRunsWhen.Always, "true")));

    [Theory]
    [InlineData("0\n", 0)]
    [InlineData("143", 143)]
    [InlineData("", null)]
    [InlineData("1\n2", null)]
    [InlineData("255\n", 255)]
    [InlineData("256", null)]
    [InlineData("-1", null)]
    [InlineData("+1", null)]
    [InlineData("99999999999", null)]
    [InlineData("0x1", null)]
    public void Exit_codes_are_parsed_from_waits_output(string output, int? expected) => Assert.Equal(expected, StageCommands.ParseExitCode(output));

    [Fact]
    public void Wait_prints_at_most_16_bytes_of_a_marker_the_job_filled()
    {
        using var pod = Pod("true");
        var stage = pod.Stage("step_script");
        Directory.CreateDirectory(pod.RunDir);
        var marker = pod.Local(StageCommands.ExitMarker(stage));
        using (var file = File.Create(marker))
        {
            file.SetLength(50L * 1024 * 1024);
        }

        var wait = pod.Exec(StageCommands.Wait(stage));
        Assert.Equal(0, wait.ExitCode);
        Assert.Equal(16, wait.Output.Length);
        Assert.Null(StageCommands.ParseExitCode(wait.Output));
    }
}
