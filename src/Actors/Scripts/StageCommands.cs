using System.Globalization;
using Scheduler.Actors.Jobs;

namespace Scheduler.Actors.Scripts;

/// <summary>
/// The argv of every command the runner execs in a job's pod (docs/execution.md). Pure: the actors never build shell strings.
/// Run (Launch and Wait in one exec: what the runner uses), Launch, Wait and Kill need only a POSIX sh (busybox included) and
/// coreutils-level tools; the shell text is fixed and every variable part is passed as a positional argument, never spliced
/// into it.
/// </summary>
/// <remarks>
/// The stage runner, a detached shell with stdin, stdout and stderr off the exec's streams, takes <c>&lt;stage&gt;.lock</c>
/// itself, an <c>O_EXCL</c> create (<c>set -C</c>): of two runners only one runs the stage, and an exec killed before its
/// runner took the lock leaves none, so the next Run starts the stage. Launch starts a runner when there is no lock and
/// returns once the lock is taken (it prints <c>launched</c>, or <c>already launched</c> when the lock was there; the runner
/// needs only the exit code). Run starts one the same way from a subshell that exits at once, so the stage is never a
/// descendant of the exec (a runtime that kills the exec's process tree on a dropped connection cannot reach it), then waits
/// for its end in the same exec. The runner runs in its own session when <c>setsid</c> exists (so Kill can TERM the whole
/// process group; without it, Kill reaches the stage shell only), records its pid in <c>&lt;stage&gt;.pid</c>, ignores SIGHUP,
/// appends the script's output to <see cref="OutputLog"/> and writes the exit code and the output log's size at the stage's
/// end to <c>&lt;stage&gt;.exit</c> in one write (readers wait for a non-empty file; the runner reads the log up to that size
/// and needs no final read of its own). A TERM from Kill ends the script (exit code 143) and the marker is still written.
/// </remarks>
public static class StageCommands
{
    public const string RunDir = "/var/run/scheduler/run";
    public const string OutputLog = RunDir + "/output.log";
    /// <summary>The run directory's volume in build and helper (an emptyDir).</summary>
    public const string RunVolumeName = "scheduler-run";
    /// <summary>Job Secret keys of stage scripts: <c>stage.&lt;name&gt;.sh</c>.</summary>
    public const string SecretKeyPrefix = "stage.";
    /// <summary>The exit code a stage ended by Kill reports (128 + SIGTERM).</summary>
    public const int KilledExitCode = 143;
    /// <summary>The exit code Run records for a stage whose runner is gone without a marker (128 + SIGKILL: it was
    /// killed, most often by the kernel's out-of-memory killer). Written as text in <see cref="RunScript"/>.</summary>
    public const int RunnerLostExitCode = 137;
    /// <summary>The most the runner reads of a Run or Wait exec's output: an exit code, a log size and a newline fit; a pod
    /// that sends more (a hostile marker, a tampered <c>head</c>) breaks the stage and its exec is closed.</summary>
    public const int MaxWaitOutputBytes = 64;

    /// <summary>The most the pod prints of an exit marker (<c>head -c</c>): below <see cref="MaxWaitOutputBytes"/>.</summary>
    internal const int MarkerPrintBytes = 40;

    // $1 run dir, $2 stage name, $3 script path, $4 the stage runner below. The stage runner takes the lock itself, so a
    // launch whose runner never started leaves none; Launch returns once the lock is taken (or fails after ~10 s).
    internal const string LaunchScript =
        """
        [ -d "$1" ] || mkdir -p "$1" || exit 1
        if [ -e "$1/$2.lock" ]; then echo already launched; exit 0; fi
        s=
        if command -v setsid >/dev/null 2>&1; then s=setsid; fi
        ( $s sh -c "$4" stage "$1" "$2" "$3" </dev/null >/dev/null 2>&1 & )
        n=0
        while [ ! -e "$1/$2.lock" ]; do
          n=$((n + 1))
          if [ "$n" -gt 2000 ]; then echo "the stage runner did not start"; exit 1; fi
          sleep 0.005 2>/dev/null || sleep 1
        done
        echo launched
        exit 0
        """;

    // Runs detached: $1 run dir, $2 stage name, $3 script path. It first takes the lock, <stage>.lock, created with
    // noclobber (O_EXCL: of two runners started at once, one gets it and the other exits without touching anything); a
    // runner that never got this far leaves no lock, and the next Run starts one. (The subshell that started it exits
    // right after the fork, long before this shell has been exec'd: from then on it is no descendant of the exec.) The
    // script runs as a child so that a TERM interrupts the wait at once and is passed on; it is started under the shell
    // GitLab Runner's detection finds (the list the script itself tries, with the argument that says the detection is
    // done), one process less than the script running itself again. The TERM trap is set before the pid is written (Kill
    // finds the runner only by it), so a Kill before the script has started ends the script as it starts. The marker is
    // written however the script ended, in one write to a file the readers wait to be non-empty (so none sees half a
    // number). The output log is made writable by every container's user, as the run directory is: the helper (often root)
    // starts the first stage, and a build container running as the job's user (image:kubernetes:user, run_as_user) must
    // still append to it; it is made by the first stage only (a subshell less in the others).
    internal const string StageRunnerScript =
        $$"""
        trap '' HUP
        set -C
        true 2>/dev/null >"$1/$2.lock" || exit 0
        set +C
        c=
        k=0
        trap 'k=1; [ -z "$c" ] || kill -TERM "$c" 2>/dev/null' TERM INT
        [ -e "$1/output.log" ] || (umask 0000 && : >>"$1/output.log") 2>/dev/null
        echo $$ >"$1/$2.pid"
        x=sh
        a=
        for s in {{ScriptContext.ShellCandidates}}; do
          if [ -x "$s" ]; then x=$s; a=--detected-shell; break; fi
        done
        "$x" "$3" $a 3>&- >>"$1/output.log" 2>&1 &
        c=$!
        [ "$k" = 0 ] || kill -TERM "$c" 2>/dev/null
        wait "$c"
        r=$?
        if [ "$k" = 1 ] && [ "$r" -gt 128 ]; then wait "$c"; r=$?; fi
        n=$(wc -c <"$1/output.log" 2>/dev/null) || n=
        echo "$r" $n >"$1/$2.exit"
        """;

    // $1 run dir, $2 stage name, $3 script path, $4 the stage runner above, $5 the marker's bytes to print. Launch and wait
    // in one exec. Idempotent: only a stage runner that takes the lock runs the stage, so two runs at once, or a run after a
    // dropped connection, start it once. When there is neither a marker nor a lock (nobody started the stage yet, or the
    // exec that started it was killed before its runner took the lock), a runner is started from a subshell that exits at
    // once, so it is reparented away from this exec's process tree. It holds the write end of this pipeline's pipe (fd 3,
    // closed for the script) until it exits, so the read ends when the stage has ended: no poll, no sleep process, and the
    // end is seen at once. Otherwise (a run after a drop, a runner that lost the lock or failed to start) the marker is
    // polled every 5 ms at first, every 25 ms up to about two seconds, then every 250 ms; every 40 polls without a lock,
    // another runner is started. Every 40 polls with a lock, a runner whose pid is gone from /proc without a marker (killed
    // with SIGKILL, by the out-of-memory killer most often) is taken as lost: what is left of its process group is killed,
    // a line saying so goes to the log, and the marker records 137, so the job fails at once instead of at its timeout. A
    // reused pid only keeps the run waiting, as before. The run directory is made only when missing: one process less for
    // every stage but the first.
    internal const string RunScript =
        """
        [ -d "$1" ] || mkdir -p "$1" || exit 1
        s=
        if command -v setsid >/dev/null 2>&1; then s=setsid; fi
        if [ ! -s "$1/$2.exit" ] && [ ! -e "$1/$2.lock" ]; then
          ( $s sh -c "$4" stage "$1" "$2" "$3" 3>&1 </dev/null >/dev/null 2>&1 & ) | { read -r _ || :; }
        fi
        n=1
        while [ ! -s "$1/$2.exit" ]; do
          if [ $((n % 40)) -eq 0 ]; then
            if [ ! -e "$1/$2.lock" ]; then
              ( $s sh -c "$4" stage "$1" "$2" "$3" </dev/null >/dev/null 2>&1 & )
            else
              p=
              { read -r p <"$1/$2.pid"; } 2>/dev/null
              case $p in ''|*[!0-9]*) ;; *)
                if [ -d /proc/self ] && [ ! -d "/proc/$p" ] && [ ! -s "$1/$2.exit" ]; then
                  kill -s KILL -- "-$p" 2>/dev/null || kill -KILL "-$p" 2>/dev/null
                  echo "ERROR: the stage's runner ended without recording the stage's exit code (killed, out of memory?)" >>"$1/output.log"
                  m=$(wc -c <"$1/output.log" 2>/dev/null) || m=
                  echo 137 $m >"$1/$2.exit"
                fi
              esac
            fi
          fi
          if [ "$n" -le 20 ]; then d=0.005; elif [ "$n" -le 90 ]; then d=0.025; else d=0.25; fi
          n=$((n + 1))
          sleep "$d" 2>/dev/null || sleep 1
        done
        head -c "$5" "$1/$2.exit"
        """;

    // $1 exit marker path. The marker is in a directory the job can write: only its first bytes are printed, so a job that
    // fills it cannot make the runner read megabytes (the runner bounds what it reads too, see MaxWaitOutputBytes).
    internal const string WaitScript =
        """
        while [ ! -s "$1" ]; do sleep 0.2 2>/dev/null || sleep 1; done
        head -c "$2" "$1"
        """;

    // $1 run dir, $2 stage name. A finished stage (its marker exists) is not signalled: its pid may have been reused.
    // Shells spell a process-group kill differently (dash refuses "-TERM --"): the forms are tried in turn.
    internal const string KillScript =
        """
        [ -f "$1/$2.exit" ] && exit 0
        p=$(cat "$1/$2.pid" 2>/dev/null) || exit 0
        [ -n "$p" ] || exit 0
        kill -s TERM -- "-$p" 2>/dev/null || kill -TERM "-$p" 2>/dev/null || kill -s TERM "$p" 2>/dev/null
        exit 0
        """;

    /// <summary>Exec argv that starts the stage detached and returns at once; idempotent (a second launch does nothing).
    /// Exit code 0 when launched or already launched, 1 when the run directory cannot be made. Prints <c>launched</c> or
    /// <c>already launched</c>: the decision, for tests and people reading a pod by hand.</summary>
    public static IReadOnlyList<string> Launch(StagePlan stage) =>
        ["sh", "-c", LaunchScript, "launch", RunDir, CheckedName(stage), ScriptPath(stage), StageRunnerScript];

    /// <summary>Exec argv that blocks until the stage's exit marker exists and prints it (see <see cref="ParseExitMarker"/>).
    /// Safe to run again after a dropped connection.</summary>
    public static IReadOnlyList<string> Wait(StagePlan stage) =>
        ["sh", "-c", WaitScript, "wait", ExitMarker(stage), MarkerPrintBytes.ToString(CultureInfo.InvariantCulture)];

    /// <summary>Exec argv that launches the stage (as <see cref="Launch"/>: detached, idempotent) and waits for its exit marker
    /// (as <see cref="Wait"/>) in one exec, printing the marker (see <see cref="ParseExitMarker"/>). Safe to run again after a
    /// dropped connection: the stage is not launched again, the exec only waits. Exit code 1 when the run directory cannot
    /// be made.</summary>
    public static IReadOnlyList<string> Run(StagePlan stage) =>
        ["sh", "-c", RunScript, "run", RunDir, CheckedName(stage), ScriptPath(stage), StageRunnerScript,
            MarkerPrintBytes.ToString(CultureInfo.InvariantCulture)];

    /// <summary>Exec argv, in the helper container, that streams the job's output log from byte <paramref name="offset"/>;
    /// with <paramref name="follow"/> it keeps streaming as the log grows until the runner cancels it.</summary>
    public static IReadOnlyList<string> ReadLog(HelperInvocation helper, long offset, bool follow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        List<string> argv = [.. helper.Command("read-log"), "--path", OutputLog, "--offset", offset.ToString(CultureInfo.InvariantCulture)];
        if (follow)
        {
            argv.Add("--follow");
        }

        return argv;
    }

    /// <summary>Exec argv that sends TERM to the stage's process group (job timeout, cancel). Does nothing once the stage
    /// has finished or before it has started.</summary>
    public static IReadOnlyList<string> Kill(StagePlan stage) => ["sh", "-c", KillScript, "kill", RunDir, CheckedName(stage)];

    /// <summary>Exec argv (helper container) that records that the job was canceled, before the running stage is killed:
    /// after_script then sees <c>CI_JOB_STATUS=canceled</c> (<see cref="JobScripts.CanceledMarker"/>). Idempotent.</summary>
    public static IReadOnlyList<string> MarkCanceled() =>
        ["sh", "-c", "mkdir -p \"$1\" && : >\"$2\"", "mark-canceled", RunDir, JobScripts.CanceledMarker];

    /// <summary>Exec argv that streams a file to stdout (artifact collection). The path must be absolute.</summary>
    public static IReadOnlyList<string> ReadFile(string path)
    {
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"path \"{path}\" must be absolute", nameof(path));
        }

        return ["cat", path];
    }

    /// <summary>Where the stage's script is in the pod (the job Secret's mount).</summary>
    public static string ScriptPath(StagePlan stage) => JobSecretLayout.MountPath + "/" + SecretKeyPrefix + CheckedName(stage) + ".sh";

    public static string ExitMarker(StagePlan stage) => RunDir + "/" + CheckedName(stage) + ".exit";

    /// <summary>The exit code of a marker printed by <see cref="Run"/> or <see cref="Wait"/>, or null when the marker is not
    /// one (see <see cref="ParseExitMarker"/>).</summary>
    public static int? ParseExitCode(string waitOutput) => ParseExitMarker(waitOutput)?.ExitCode;

    /// <summary>A marker printed by <see cref="Run"/> or <see cref="Wait"/>: the exit code (0 to 255, as a process's exit
    /// status) and, when the stage runner could measure it, the output log's size in bytes at the stage's end (null from a
    /// marker without it, as older stage runners wrote). Null when the text is neither (a truncated stream, a marker the job
    /// overwrote). The size is a claim of the pod: the log reader treats it as a hint, never as a promise of bytes.</summary>
    public static ExitMarkerText? ParseExitMarker(string waitOutput)
    {
        var parts = waitOutput.Trim().Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is 0 or > 2 || parts.Any(p => !p.All(char.IsAsciiDigit)))
        {
            return null;
        }

        if (parts[0].Length > 3 || int.Parse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture) is not (var code and <= 255))
        {
            return null;
        }

        if (parts.Length == 1)
        {
            return new ExitMarkerText(code, null);
        }

        return parts[1].Length <= 18 ? new ExitMarkerText(code, long.Parse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture)) : null;
    }

    /// <summary>Stage names become file names and Secret keys: lower-case letters, digits and '_' only.</summary>
    public static bool IsValidStageName(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => c is '_' or (>= 'a' and <= 'z') or (>= '0' and <= '9'));

    private static string CheckedName(StagePlan stage) =>
        IsValidStageName(stage.Name) ? stage.Name : throw new ArgumentException($"invalid stage name \"{stage.Name}\"", nameof(stage));
}

/// <summary>What a stage's exit marker says: its exit code and the output log's size when it ended (null: not recorded).</summary>
public sealed record ExitMarkerText(int ExitCode, long? LogSize);
