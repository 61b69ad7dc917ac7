using System.Text;

namespace Scheduler.Actors.Scripts;

/// <summary>
/// Linux refuses to start a program when one string of its environment (<c>KEY=value</c> and its NUL) is longer than
/// MAX_ARG_STRLEN, 32 pages (128 KiB): execve fails with E2BIG. A job variable that long (a long commit message) is kept
/// out of the container env and is not exported by the stage scripts; the job's shell still has it as a shell variable.
/// Pure.
/// </summary>
public static class EnvironmentLimit
{
    /// <summary>MAX_ARG_STRLEN with 4 KiB pages, the terminating NUL included.</summary>
    public const int MaxEntryBytes = 128 * 1024;

    /// <summary>Whether <c>key=value</c> can be one entry of a program's environment.</summary>
    public static bool Fits(string key, string value) => EntryBytes(key, value) <= MaxEntryBytes;

    /// <summary>The bytes <c>key=value</c> takes in the environment, its NUL included.</summary>
    public static long EntryBytes(string key, string value) =>
        (long)Encoding.UTF8.GetByteCount(key) + 1 + Encoding.UTF8.GetByteCount(value) + 1;

    /// <summary>The trace line for a variable kept out of the environment; it names the variable, never its value.</summary>
    public static string Note(string key, string value) =>
        $"Variable {key} ({Encoding.UTF8.GetByteCount(value)} bytes) is longer than the {MaxEntryBytes / 1024} KiB an environment entry may be: "
        + "the job's shell has it as a shell variable, not exported to the commands it runs";
}
