namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// A container's environment split in two: what the runtime's root programs before the container's user (bwrap,
/// unshare, sh, mount, setpriv, nsenter, the join program) may see, and what only the command gets, at its last step.
/// </summary>
public sealed record SplitEnvironment(IReadOnlyDictionary<string, string> Safe, IReadOnlyList<KeyValuePair<string, string>> Deferred)
{
    /// <summary>Nothing deferred: every variable reaches every program, as where no program gains privilege.</summary>
    public static SplitEnvironment Unsplit(IReadOnlyDictionary<string, string> environment) => new(environment, []);
}

/// <summary>
/// The variables that steer a dynamic program's loader and libc (the job controls the container's environment): glibc
/// drops them for a setuid program (its unsecvars list), but the runtime's root programs are not setuid, so with
/// LD_PRELOAD, LD_AUDIT, GCONV_PATH and the like they would load a library of the job's choosing as root on the host.
/// Pure.
/// </summary>
public static class LoaderVariables
{
    /// <summary>
    /// The join program gets each deferred variable under this prefix (never its real name, which its loader would read
    /// if it is linked dynamically) and sets the real one after the identity change.
    /// </summary>
    public const string DeferredPrefix = "SCHEDULER_DEFERRED_ENV_";

    // glibc's UNSECURE_ENVVARS (sysdeps/generic/unsecvars.h) besides LD_*, and the environment names of its malloc tunables.
    private static readonly HashSet<string> Unsecure = new(StringComparer.Ordinal)
    {
        "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH",
        "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
        "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST", "MALLOC_CHECK_", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_PERTURB_",
        "MALLOC_TOP_PAD_", "MALLOC_TRIM_THRESHOLD_",
    };

    // What else steers the root programs before the container's user: PATH (bubblewrap, nsenter and the setup shell find
    // setpriv, mount, mkdir by name: a job's PATH would run its own file as root), a shell's imported functions and options
    // (bash, where /bin/sh is bash, imports BASH_FUNC_name%% even as root), locale and time-zone files (LANG, LC_*, TZ name
    // files libc then parses as root) and libmount's table paths. Without PATH a root program searches the system's
    // default directories.
    private static readonly HashSet<string> SteersRootPrograms = new(StringComparer.Ordinal)
    {
        "PATH", "SHELLOPTS", "BASHOPTS", "BASH_ENV", "ENV", "IFS", "CDPATH", "LANG", "LANGUAGE", "TZ",
        "LIBMOUNT_FSTAB", "LIBMOUNT_MTAB", "LIBMOUNT_UTAB", "LIBMOUNT_DEBUG", "LIBBLKID_DEBUG", "LIBSMARTCOLS_DEBUG",
    };

    /// <summary>Whether a dynamic program's loader or libc reads <paramref name="name"/>, or another variable steers the
    /// runtime's root programs: every LD_*, glibc's unsecure list, PATH, a shell's functions and options, locale and
    /// time-zone variables.</summary>
    public static bool IsLoaderVariable(string name) =>
        name.StartsWith("LD_", StringComparison.Ordinal) || Unsecure.Contains(name) || SteersRootPrograms.Contains(name)
        || name.StartsWith("LC_", StringComparison.Ordinal) || name.StartsWith("BASH_FUNC_", StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="name"/> waits for the command's last step: a loader variable, or one that carries the
    /// reserved prefix (deferred too, so that the join program hands it on under its own name: a job cannot make one up
    /// that becomes a real variable).
    /// </summary>
    public static bool IsDeferred(string name) => IsLoaderVariable(name) || name.StartsWith(DeferredPrefix, StringComparison.Ordinal);

    /// <summary>The environment split; the deferred variables in ordinal order of name, so that argv is the same every time.</summary>
    public static SplitEnvironment Split(IReadOnlyDictionary<string, string> environment)
    {
        if (!environment.Keys.Any(IsDeferred)) return SplitEnvironment.Unsplit(environment);
        var safe = new Dictionary<string, string>(StringComparer.Ordinal);
        var deferred = new List<KeyValuePair<string, string>>();
        foreach (var variable in environment)
        {
            if (IsDeferred(variable.Key)) deferred.Add(variable);
            else safe[variable.Key] = variable.Value;
        }
        deferred.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new SplitEnvironment(safe, deferred);
    }

    /// <summary>The join program's environment: the safe variables, and each deferred one under <see cref="DeferredPrefix"/>.</summary>
    public static IReadOnlyDictionary<string, string> ForJoinProgram(SplitEnvironment split)
    {
        if (split.Deferred.Count == 0) return split.Safe;
        var environment = new Dictionary<string, string>(split.Safe, StringComparer.Ordinal);
        foreach (var (name, value) in split.Deferred) environment[DeferredPrefix + name] = value;
        return environment;
    }

    /// <summary>NAME=VALUE words for <c>env</c>, which the command's last unprivileged step runs.</summary>
    public static IEnumerable<string> Assignments(IReadOnlyList<KeyValuePair<string, string>> deferred) =>
        deferred.Select(variable => variable.Key + "=" + variable.Value);
}
