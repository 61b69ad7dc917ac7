using System.Globalization;
using Scheduler.Actors.Jobs;

namespace Scheduler.Actors.Scripts;

/// <summary>
/// The argv of every command the runner execs in a job's pod (docs/execution.md). Pure: the actors never build shell strings.
/// Launch, Wait and Kill need only a POSIX sh (busybox included) and coreutils-level tools; the shell text is fixed and every
/// variable part is passed as a positional argument, never spliced into it.
/// </summary>
/// <remarks>
/// Launch makes <c>&lt;stage&gt;.lock</c> with <c>mkdir</c> (atomic: a second launch does nothing and prints
/// <c>already launched</c>, where a first one prints <c>launched</c>; the runner needs only the exit code) and starts a detached
/// shell with stdin, stdout and stderr off the exec's streams, so the exec ends at once and a dropped connection cannot
/// reach the stage. That shell runs in its own session when <c>setsid</c> exists (so Kill can TERM the whole process group;
/// without it, Kill reaches the stage shell only), records its pid in <c>&lt;stage&gt;.pid</c>, ignores SIGHUP, appends the
/// script's output to <see cref="OutputLog"/> and writes the exit code to <c>&lt;stage&gt;.exit</c> through a rename. A TERM
/// from Kill ends the script (exit code 143) and the marker is still written.
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
    /// <summary>The most the runner reads of a Wait exec's output: an exit code and its newline fit many times over; a
    /// pod that sends more (a hostile marker, a tampered <c>head</c>) breaks the stage and its exec is closed.</summary>
    public const int MaxWaitOutputBytes = 64;

    // $1 run dir, $2 stage name, $3 script path, $4 the stage runner below.
    internal const string LaunchScript =
        """
        mkdir -p "$1" || exit 1
        mkdir "$1/$2.lock" 2>/dev/null || { echo already launched; exit 0; }
        s=
        if command -v setsid >/dev/null 2>&1; then s=setsid; fi
        $s sh -c "$4" stage "$1" "$2" "$3" </dev/null >/dev/null 2>&1 &
        echo launched
        exit 0
        """;

    // Runs detached: $1 run dir, $2 stage name, $3 script path. The script runs as a child so that a TERM interrupts the
    // wait at once and is passed on; the marker is written however the script ended. The output log is made writable by
    // every container's user, as the run directory is: the helper (often root) starts the first stage, and a build
    // container running as the job's user (image:kubernetes:user, run_as_user) must still append to it.
    internal const string StageRunnerScript =
        """
        (umask 0000 && : >>"$1/output.log") 2>/dev/null
        echo $$ >"$1/$2.pid"
        trap '' HUP
        sh "$3" >>"$1/output.log" 2>&1 &
        c=$!
        k=0
        trap 'k=1; kill -TERM "$c" 2>/dev/null' TERM INT
        wait "$c"
        r=$?
        if [ "$k" = 1 ] && [ "$r" -gt 128 ]; then wait "$c"; r=$?; fi
        echo "$r" >"$1/$2.exit.tmp" && mv -f "$1/$2.exit.tmp" "$1/$2.exit"
        """;

    // $1 exit marker path. The marker is in a directory the job can write: only its first bytes are printed, so a job that
    // fills it cannot make the runner read megabytes (the runner bounds what it reads too, see MaxWaitOutputBytes).
    internal const string WaitScript =
        """
        while [ ! -f "$1" ]; do sleep 0.2 2>/dev/null || sleep 1; done
        head -c 16 "$1"
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

    /// <summary>Exec argv that blocks until the stage's exit marker exists and prints the exit code (see <see cref="ParseExitCode"/>).
    /// Safe to run again after a dropped connection.</summary>
    public static IReadOnlyList<string> Wait(StagePlan stage) => ["sh", "-c", WaitScript, "wait", ExitMarker(stage)];

    /// <summary>Exec argv, in the helper container, that streams the job's output log from byte <paramref name="offset"/>;
    /// with <paramref name="follow"/> it keeps streaming as the log grows until the runner cancels it.</summary>
    public static IReadOnlyList<string> ReadLog(HelperInvocation helper, long offset, bool follow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        List<string> argv = [.. helper.Prefix, "helper", "read-log", "--path", OutputLog, "--offset", offset.ToString(CultureInfo.InvariantCulture)];
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

    /// <summary>The exit code printed by <see cref="Wait"/> (0 to 255, as a process's exit status), or null when the text
    /// is not one (a truncated stream, a marker the job overwrote).</summary>
    public static int? ParseExitCode(string waitOutput)
    {
        var text = waitOutput.Trim();
        return text.Length is > 0 and <= 3 && text.All(char.IsAsciiDigit)
               && int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture) is var code and <= 255 ? code : null;
    }

    /// <summary>Stage names become file names and Secret keys: lower-case letters, digits and '_' only.</summary>
    public static bool IsValidStageName(string name) =>
        name.Length is > 0 and <= 63 && name.All(c => c is '_' or (>= 'a' and <= 'z') or (>= '0' and <= '9'));

    private static string CheckedName(StagePlan stage) =>
        IsValidStageName(stage.Name) ? stage.Name : throw new ArgumentException($"invalid stage name \"{stage.Name}\"", nameof(stage));
}
