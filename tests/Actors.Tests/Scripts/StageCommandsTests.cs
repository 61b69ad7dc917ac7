using System.Diagnostics;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>The run (launch and wait in one exec) / launch / wait / kill protocol run with /bin/sh on this machine (the embedded-cluster version is in
/// EndToEnd.Tests/StageProtocolTests).</summary>
public sealed class StageCommandsTests
{
    private static PodSandbox Pod(params string[] script) =>
        new(TestData.Job() with { Steps = [new JobStep { Name = "script", Script = script }] });

    private static string Log(PodSandbox pod) => File.ReadAllText(Path.Combine(pod.RunDir, "output.log"));

    [Fact]
    public void Launch_returns_at_once_and_wait_reports_the_exit_code()
    {
        // The script cannot end before the test opens its gate: a launch that returned while it still runs did not wait for it.
        var gate = Path.Combine(Path.GetTempPath(), "stage-gate-" + Guid.NewGuid().ToString("N"));
        using var pod = Pod($"while [ ! -f '{gate}' ]; do sleep 0.05; done", "echo finished", "exit 3");
        var stage = pod.Stage("step_script");
        var launch = pod.Exec(StageCommands.Launch(stage));
        Assert.Equal(0, launch.ExitCode);
        Assert.False(File.Exists(Path.Combine(pod.RunDir, "step_script.exit")), "launch returned after the stage ended");
        File.WriteAllText(gate, "");

        var wait = pod.Exec(StageCommands.Wait(stage));
        Assert.Equal((0, 3), (wait.ExitCode, StageCommands.ParseExitCode(wait.Output)));
        Assert.Contains("finished\n", Log(pod), StringComparison.Ordinal);
        // The marker holds the exit code and the output log's size when the stage ended.
        Assert.Equal($"3 {new FileInfo(Path.Combine(pod.RunDir, "output.log")).Length}\n", File.ReadAllText(Path.Combine(pod.RunDir, "step_script.exit")));
        File.Delete(gate);
    }

    [Fact]
    public void Run_launches_waits_and_reports_the_exit_code_and_the_log_size_at_the_end()
    {
        using var pod = Pod("echo finished", "exit 3");
        var stage = pod.Stage("step_script");

        var run = pod.Exec(StageCommands.Run(stage));

        Assert.Equal(0, run.ExitCode);
        var marker = StageCommands.ParseExitMarker(run.Output);
        Assert.Equal(new ExitMarkerText(3, new FileInfo(Path.Combine(pod.RunDir, "output.log")).Length), marker);
        Assert.Contains("finished\n", Log(pod), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_again_after_a_drop_only_waits_and_the_stage_runs_once()
    {
        using var pod = Pod("sleep 1", "echo ran-once");
        var stage = pod.Stage("step_script");
        // A first run whose connection drops: its process tree is killed while it waits, as a runtime may do.
        var dropped = pod.Start(StageCommands.Run(stage));
        // Once the stage runner has started (its pid file), the exec is waiting for the marker.
        Assert.True(SpinWait.SpinUntil(() => File.Exists(Path.Combine(pod.RunDir, "step_script.pid")), TimeSpan.FromSeconds(10)));
        dropped.Kill(entireProcessTree: true);
        dropped.WaitForExit();

        var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20));

        Assert.Equal(0, StageCommands.ParseExitCode(run.Output));
        Assert.Single(Log(pod).Split('\n'), line => line == "ran-once");
    }

    // A PATH whose setsid is a stand-in with this body (sh): how the launch starts the stage runner is in the test's hands.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static Dictionary<string, string> SetsidStandIn(PodSandbox pod, string body)
    {
        var bin = Directory.CreateDirectory(Path.Combine(pod.Root, "bin")).FullName;
        var setsid = Path.Combine(bin, "setsid");
        File.WriteAllText(setsid, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(setsid, (UnixFileMode)0b111_101_101);
        return new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" };
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_run_killed_before_its_stage_runner_started_leaves_no_lock_and_the_next_run_starts_the_stage()
    {
        using var pod = Pod("echo ran-once");
        var stage = pod.Stage("step_script");
        var calls = Path.Combine(pod.Root, "setsid.calls");
        // The stage runner never starts: its start hangs until the exec, and what it started, are killed.
        var env = SetsidStandIn(pod, $"echo $$ >> '{calls}'; exec sleep 60");
        var killed = pod.Start(StageCommands.Run(stage), env);
        Assert.True(SpinWait.SpinUntil(() => File.Exists(calls), TimeSpan.FromSeconds(10)), "the run did not try to start the stage");
        killed.Kill(entireProcessTree: true);
        killed.WaitForExit();
        foreach (var pid in File.ReadAllLines(calls))
        {
            Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture)).Kill();
        }

        Assert.False(File.Exists(Path.Combine(pod.RunDir, "step_script.lock")) || Directory.Exists(Path.Combine(pod.RunDir, "step_script.lock")),
            "a stage that never started holds its lock");
        // Bounded: a run that only waits for a stage nobody started would never end.
        var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20));

        Assert.Equal(0, StageCommands.ParseExitCode(run.Output));
        Assert.Single(Log(pod).Split('\n'), line => line == "ran-once");
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_stage_runner_killed_without_a_marker_fails_the_stage_at_once_and_its_script_goes_with_it()
    {
        var started = Path.Combine(Path.GetTempPath(), "stage-started-" + Guid.NewGuid().ToString("N"));
        using var pod = Pod($"echo $$ > '{started}'", "sleep 60", "echo not-reached");
        var stage = pod.Stage("step_script");
        var run = pod.Start(StageCommands.Run(stage));
        Assert.True(SpinWait.SpinUntil(() => File.Exists(started) && new FileInfo(started).Length > 0, TimeSpan.FromSeconds(10)),
            "the stage did not start");
        var runner = int.Parse(File.ReadAllText(Path.Combine(pod.RunDir, "step_script.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var script = int.Parse(File.ReadAllText(started).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        // The runner alone, as the out-of-memory killer picks one process: its script lives on, reparented.
        Process.GetProcessById(runner).Kill();
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(20)), "the run waited on for a runner that is gone");

        var marker = StageCommands.ParseExitMarker(File.ReadAllText(Path.Combine(pod.RunDir, "step_script.exit")));
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(StageCommands.RunnerLostExitCode, marker?.ExitCode);
        Assert.Equal(new FileInfo(Path.Combine(pod.RunDir, "output.log")).Length, marker?.LogSize);
        Assert.Contains("the stage's runner ended without recording the stage's exit code", Log(pod), StringComparison.Ordinal);
        Assert.True(SpinWait.SpinUntil(() => !Directory.Exists($"/proc/{script}"), TimeSpan.FromSeconds(10)), "the script was left running");
        Assert.DoesNotContain("not-reached", Log(pod), StringComparison.Ordinal);
        File.Delete(started);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Two_runs_at_once_start_two_stage_runners_and_the_stage_runs_once()
    {
        using var pod = Pod("echo ran-once");
        var stage = pod.Stage("step_script");
        var calls = Path.Combine(pod.Root, "setsid.calls");
        // Each runner starts 300 ms late, so both runs find no lock and start one.
        var env = SetsidStandIn(pod, $"echo x >> '{calls}'; sleep 0.3; exec \"$@\"");

        var runs = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20), env))));

        Assert.Equal(2, File.ReadAllLines(calls).Length);
        var size = new FileInfo(Path.Combine(pod.RunDir, "output.log")).Length;
        Assert.All(runs, run => Assert.Equal(new ExitMarkerText(0, size), StageCommands.ParseExitMarker(run.Output)));
        Assert.Single(Log(pod).Split('\n'), line => line == "ran-once");
        Assert.Single(Log(pod).Split('\n'), line => line.StartsWith("section_start:", StringComparison.Ordinal));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_run_whose_stage_runner_failed_to_start_starts_another()
    {
        using var pod = Pod("echo ran-once");
        var stage = pod.Stage("step_script");
        var calls = Path.Combine(pod.Root, "setsid.calls");
        // The first start fails (as a fork refused under a pid limit would): nothing runs, no lock is taken.
        var env = SetsidStandIn(pod, $"echo x >> '{calls}'; [ \"$(wc -l < '{calls}')\" -gt 1 ] || exit 1; exec \"$@\"");

        var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20), env);

        Assert.Equal(0, StageCommands.ParseExitCode(run.Output));
        Assert.Equal(2, File.ReadAllLines(calls).Length);
        Assert.Single(Log(pod).Split('\n'), line => line == "ran-once");
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void The_run_that_starts_the_stage_sees_its_end_without_polling()
    {
        using var pod = Pod("echo ran");
        var stage = pod.Stage("step_script");
        var bin = Directory.CreateDirectory(Path.Combine(pod.Root, "bin")).FullName;
        var calls = Path.Combine(pod.Root, "sleep.calls");
        var sleep = Path.Combine(bin, "sleep");
        File.WriteAllText(sleep, $"#!/bin/sh\necho x >> '{calls}'\nexec /bin/sleep \"$@\"\n");
        File.SetUnixFileMode(sleep, (UnixFileMode)0b111_101_101);

        var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20), new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" });

        Assert.Equal(0, StageCommands.ParseExitCode(run.Output));
        Assert.False(File.Exists(calls), "the run polled for the marker");
    }

    [Fact]
    public void A_process_the_stage_leaves_running_does_not_hold_the_run()
    {
        // The run waits for its stage runner to close a pipe; the script and what it starts do not get that pipe.
        using var pod = Pod("/bin/sleep 60 & echo $! > left.pid", "echo left");
        var stage = pod.Stage("step_script");
        try
        {
            var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20));
            Assert.Equal(0, StageCommands.ParseExitCode(run.Output));
        }
        finally
        {
            var left = Path.Combine(pod.ProjectDir, "left.pid");
            if (File.Exists(left))
            {
                Process.GetProcessById(int.Parse(File.ReadAllText(left).Trim(), System.Globalization.CultureInfo.InvariantCulture)).Kill();
            }
        }
    }

    [Fact]
    public void An_empty_marker_is_not_taken_for_the_stages_end()
    {
        // The marker is written in one write, not renamed into place: a reader waits for its bytes. An empty marker that was
        // there first (the job made it) is not an exit code either.
        using var pod = Pod("echo ran");
        var stage = pod.Stage("step_script");
        Directory.CreateDirectory(pod.RunDir);
        File.WriteAllText(pod.Local(StageCommands.ExitMarker(stage)), "");

        var run = pod.Exec(StageCommands.Run(stage), TimeSpan.FromSeconds(20));

        Assert.Equal(new ExitMarkerText(0, new FileInfo(Path.Combine(pod.RunDir, "output.log")).Length), StageCommands.ParseExitMarker(run.Output));
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
        Assert.Equal(0, StageCommands.ParseExitMarker(File.ReadAllText(Path.Combine(pod.RunDir, "step_script.exit")))?.ExitCode);
    }

    [Theory]
    [InlineData(0L, false, "scheduler helper read-log --path /var/run/scheduler/run/output.log --offset 0")]
    [InlineData(1234L, true, "scheduler helper read-log --path /var/run/scheduler/run/output.log --offset 1234 --follow")]
    public void Read_log_runs_the_managed_helper_without_a_native_one(long offset, bool follow, string expected) =>
        Assert.Equal(expected, string.Join(' ', StageCommands.ReadLog(HelperInvocation.Default with { Native = null }, offset, follow)));

    [Fact]
    public void Read_log_runs_the_native_helper_when_there_is_one() =>
        Assert.Equal(["/opt/scheduler-helper", "read-log", "--path", "/var/run/scheduler/run/output.log", "--offset", "5"],
            StageCommands.ReadLog(new HelperInvocation(["scheduler"]) { Native = ["/opt/scheduler-helper"] }, 5, follow: false));

    [Theory]
    [InlineData(true, "native\n")]
    [InlineData(false, "managed\n")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void In_images_the_pod_runs_scheduler_helper_when_the_image_has_it_else_scheduler_helper(bool imageHasNative, string expected)
    {
        // A PATH with stand-ins for the two, as an image with and without the native helper would have.
        var bin = Directory.CreateTempSubdirectory("helper-path-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(bin, "scheduler"), "#!/bin/sh\n[ \"$1\" = helper ] && [ \"$2\" = read-log ] && echo managed\n");
            File.SetUnixFileMode(Path.Combine(bin, "scheduler"), (UnixFileMode)0b111_101_101);
            if (imageHasNative)
            {
                File.WriteAllText(Path.Combine(bin, "scheduler-helper"), "#!/bin/sh\n[ \"$1\" = read-log ] && echo native\n");
                File.SetUnixFileMode(Path.Combine(bin, "scheduler-helper"), (UnixFileMode)0b111_101_101);
            }

            var argv = StageCommands.ReadLog(HelperInvocation.Default, 0, follow: false);
            var (code, output) = PodSandbox.Run(argv, new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" });
            Assert.Equal((0, expected), (code, output));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    [Theory]
    [InlineData("artifacts-uploader", "new", "native\n")]
    [InlineData("artifacts-downloader", "new", "native\n")]
    [InlineData("artifacts-uploader", "old", "managed\n")]   // an older scheduler-helper without the command
    [InlineData("artifacts-downloader", "old", "managed\n")]
    [InlineData("artifacts-uploader", "none", "managed\n")]
    [InlineData("read-log", "old", "native\n")]              // a command every scheduler-helper has: no probe
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void In_images_the_artifact_transfers_run_natively_only_when_the_image_helper_has_them(string command, string imageHelper, string expected)
    {
        var bin = Directory.CreateTempSubdirectory("helper-path-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(bin, "scheduler"), $"#!/bin/sh\n[ \"$1\" = helper ] && [ \"$2\" = {command} ] && [ \"$3\" = --id ] && echo managed\n");
            File.SetUnixFileMode(Path.Combine(bin, "scheduler"), (UnixFileMode)0b111_101_101);
            // A stand-in for scheduler-helper whose --help lists its commands as System.CommandLine does: the new one lists
            // the transfers, the old one does not.
            var listed = imageHelper == "new"
                ? "  read-log              Stream\\n  artifacts-uploader    Upload\\n  artifacts-downloader  Download\\n"
                : "  read-log  Stream\\n  artifacts-archiver  Archive\\n";
            if (imageHelper != "none")
            {
                File.WriteAllText(Path.Combine(bin, "scheduler-helper"),
                    $"#!/bin/sh\nif [ \"$1\" = --help ]; then printf 'Commands:\\n{listed}'; exit 0; fi\n[ \"$2\" = --id ] && echo native\n");
                File.SetUnixFileMode(Path.Combine(bin, "scheduler-helper"), (UnixFileMode)0b111_101_101);
            }

            var argv = HelperInvocation.Default.Command(command).Append("--id").ToArray();
            var (code, output) = PodSandbox.Run(argv, new Dictionary<string, string> { ["PATH"] = bin + ":/usr/bin:/bin" });
            Assert.Equal((0, expected), (code, output));
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

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
    [InlineData("0 1234\n", 0)]
    [InlineData("3      77\n", 3)]
    public void Exit_codes_are_parsed_from_waits_output(string output, int? expected) => Assert.Equal(expected, StageCommands.ParseExitCode(output));

    [Theory]
    [InlineData("0 1234\n", 0, 1234L)]
    [InlineData("143 0", 143, 0L)]
    [InlineData("7\n", 7, null)]
    [InlineData("3      77\n", 3, 77L)] // wc -c pads its number on some systems
    [InlineData("255 999999999999999999", 255, 999999999999999999L)]
    public void Markers_give_the_exit_code_and_the_log_size(string output, int code, long? size) =>
        Assert.Equal(new ExitMarkerText(code, size), StageCommands.ParseExitMarker(output));

    [Theory]
    [InlineData("0 -1")]
    [InlineData("0 12 13")]
    [InlineData("0 1e3")]
    [InlineData("0 9999999999999999999")]
    [InlineData("256 10")]
    [InlineData("x 10")]
    [InlineData("")]
    public void Markers_that_are_not_a_code_and_a_size_are_refused(string output) => Assert.Null(StageCommands.ParseExitMarker(output));

    [Fact]
    public void Wait_and_run_print_at_most_40_bytes_of_a_marker_the_job_filled()
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
        Assert.Equal(40, wait.Output.Length);
        Assert.Null(StageCommands.ParseExitCode(wait.Output));
        var run = pod.Exec(StageCommands.Run(stage));
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(40, run.Output.Length);
        Assert.True(run.Output.Length < StageCommands.MaxWaitOutputBytes);
    }
}
