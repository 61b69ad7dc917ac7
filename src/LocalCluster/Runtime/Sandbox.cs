using System.Globalization;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>How a container's process gets its private view of the host.</summary>
public enum SandboxKind
{
    /// <summary>bubblewrap: works as root and, with user namespaces, without.</summary>
    Bubblewrap,
    /// <summary>util-linux unshare + mount --bind: root only.</summary>
    Unshare,
    /// <summary>Neither is usable: containers fail with RunContainerError.</summary>
    None,
}

/// <summary>A volume as the container sees it: <paramref name="HostPath"/> appears at <paramref name="ContainerPath"/>.</summary>
public sealed record SandboxMount(string HostPath, string ContainerPath, bool ReadOnly, bool IsFile = false);

/// <summary>An entry of the host's "/" as the sandbox re-creates it: a bind mount, or a symlink when <paramref name="SymlinkTarget"/> is set.</summary>
public sealed record HostRootEntry(string Name, string? SymlinkTarget = null)
{
    /// <summary>Lists the host's root directory (the one piece of I/O of sandbox building).</summary>
    public static IReadOnlyList<HostRootEntry> Read()
    {
        var entries = new List<HostRootEntry>();
        foreach (var path in Directory.EnumerateFileSystemEntries("/"))
        {
            var info = new FileInfo(path);
            entries.Add(new HostRootEntry(info.Name, info.LinkTarget));
        }
        return entries.OrderBy(entry => entry.Name, StringComparer.Ordinal).ToList();
    }
}

/// <summary>
/// A container's own root: the image's unpacked tree (<paramref name="Lower"/>, shared, never written) under a private
/// writable layer (<paramref name="Upper"/>, with overlayfs' <paramref name="Work"/> dir), seen at <paramref name="Merged"/>.
/// All four are under the node's state dir. <paramref name="HasShell"/>: the image has /bin/sh. <paramref name="Gateway"/>: an
/// existing host directory that every user may enter, where the root is bound in the container's own mount namespace only
/// (the state dir may be private to the runtime's user). <paramref name="EnvProgram"/>: the image's env program
/// (/usr/bin/env or /bin/env), which gives an exec through nsenter its loader variables; null when it has none.
/// </summary>
public sealed record ImageRoot(string Lower, string Upper, string Work, string Merged, bool HasShell, string Gateway = "/mnt", string? EnvProgram = null)
{
    /// <summary>The first of /mnt, /media, /srv, /opt that exists: it is only covered inside the container's namespace.</summary>
    public static string FindGateway(Func<string, bool> directoryExists) =>
        new[] { "/mnt", "/media", "/srv", "/opt" }.FirstOrDefault(directoryExists)
        ?? throw new InvalidOperationException("none of /mnt, /media, /srv, /opt exists to enter a container's image root through");
}

/// <summary>
/// A process inside a running container that execs join: its pid and its start time (field 22 of /proc/&lt;pid&gt;/stat,
/// clock ticks after boot), which tell it from a later process given the same pid.
/// </summary>
public sealed record ContainerProcess(int Pid, ulong StartTime);

/// <summary>
/// Everything that shapes one container process (or one exec) except its environment, which travels in the process env,
/// not argv; but for <see cref="DeferredEnvironment"/>.
/// </summary>
public sealed record SandboxSpec
{
    public required string Hostname { get; init; }
    public required IReadOnlyList<SandboxMount> Mounts { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public string? WorkingDir { get; init; }
    public long? RunAsUser { get; init; }
    public long? RunAsGroup { get; init; }
    /// <summary>Supplementary groups (the pod's volume group, supplementalGroups); set only where the runtime is root.</summary>
    public IReadOnlyList<long> SupplementalGroups { get; init; } = [];
    /// <summary>
    /// The host's root entries, bound one by one onto the sandbox's own (tmpfs) root, so that mount points and files
    /// created at "/" stay in the sandbox. Null binds the whole host root, where new mount points appear on the host.
    /// </summary>
    public IReadOnlyList<HostRootEntry>? HostRoot { get; init; }
    /// <summary>Whether the runtime itself runs as root (then uid/gid change with setpriv; else with a user namespace).</summary>
    public bool RuntimeIsRoot { get; init; } = true;
    /// <summary>
    /// Host directories the container sees empty (a tmpfs over each): the node's state, where every pod's volumes and
    /// Secrets live, and the memory volumes of all pods. The container's own volumes are still mounted at their paths.
    /// </summary>
    public IReadOnlyList<string> HiddenDirectories { get; init; } = [];
    /// <summary>Host files the container sees empty (/dev/null over each), e.g. a kubeconfig with the API's token.</summary>
    public IReadOnlyList<string> HiddenFiles { get; init; } = [];
    /// <summary>The image's root the container runs in; null runs it on the host's filesystem.</summary>
    public ImageRoot? Image { get; init; }
    /// <summary>
    /// The container's loader variables (<see cref="LoaderVariables"/>), kept out of the process env of the root programs
    /// before the container's user: its last unprivileged step sets them for the command (an env program after the
    /// identity change, or bubblewrap's --setenv where bubblewrap runs as the container's user or the container is root).
    /// Their values are paths and options, not secrets, so argv may show them.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> DeferredEnvironment { get; init; } = [];
}

/// <summary>
/// Builds the argv that runs a container command in its sandbox. Pure: no I/O. A missing command exits 127 and a
/// non-executable one 126, as in a shell: setpriv (which changes the user of a container on the host's filesystem when the
/// runtime is root) reports them itself; otherwise the command goes through <c>/bin/sh -c 'exec "$@"'</c>, one program more.
/// </summary>
public static class SandboxCommand
{
    public const string InstallHint = "no container sandbox available: install bubblewrap (apt-get install bubblewrap), or run as root so that unshare can be used";

    private static readonly string[] ExecShim = ["/bin/sh", "-c", "exec \"$@\"", "sh"];

    public static SandboxKind Detect(bool runtimeIsRoot, Func<string, bool> fileExists)
    {
        if (fileExists("/usr/bin/bwrap") || fileExists("/usr/local/bin/bwrap")) return SandboxKind.Bubblewrap;
        if (runtimeIsRoot && fileExists("/usr/bin/unshare") && fileExists("/usr/bin/setpriv")) return SandboxKind.Unshare;
        return SandboxKind.None;
    }

    public const string ImageNeedsRoot = "running a container in its image needs bubblewrap and a runtime running as root (for its overlay root); "
                                         + "start the cluster with --host-images to run containers on this machine's filesystem instead";

    public static IReadOnlyList<string> Build(SandboxKind kind, SandboxSpec spec) => spec.Image is not null
        ? kind == SandboxKind.Bubblewrap && spec.RuntimeIsRoot ? BuildImage(spec, spec.Image) : throw new InvalidOperationException(ImageNeedsRoot)
        : kind switch
    {
        SandboxKind.Bubblewrap => BuildBubblewrap(spec),
        SandboxKind.Unshare => BuildUnshare(spec),
        _ => throw new InvalidOperationException(InstallHint),
    };

    /// <summary>
    /// An exec into a running container, as Kubernetes does it, where the join program is missing
    /// (<see cref="BuildJoinProgram"/>): the command joins the mount, pid and UTS namespaces of
    /// <paramref name="containerPid"/> (a process inside the container) with nsenter, so it sees the container's volumes,
    /// and a process it leaves in the background outlives it, reparented to the container's init. Root only. The
    /// command starts in the container's working directory, as its user, with the environment of the process.
    /// With <paramref name="nsenterSetsWorkingDir"/> (util-linux 2.38's <c>--wdns</c>) nsenter changes directory itself;
    /// otherwise a shell does it, one more program started for every exec. nsenter changes the user itself (one program
    /// fewer than setpriv after it) whenever that loses nothing: it clears the supplementary groups, so a container that
    /// has some (its pod's volume group when that is not its own gid, supplementalGroups) goes through setpriv, which sets
    /// them. In an image there is no setpriv, and nsenter always changes the user (the groups are dropped there).
    /// Either way a command that cannot be started exits 127 (not found) or 126 (not executable), as from a shell.
    /// Loader variables reach the command through the container's env program, run after the identity change (the host's
    /// on the host's filesystem); an image without one cannot take them, and the exec is refused.
    /// </summary>
    public static IReadOnlyList<string> BuildJoin(int containerPid, SandboxSpec spec, bool nsenterSetsWorkingDir = false)
    {
        var workingDir = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir;
        var argv = new List<string> { "nsenter", "--target", containerPid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--mount", "--pid", "--uts" };
        if (nsenterSetsWorkingDir) argv.Add("--wdns=" + workingDir);
        var changesIdentity = spec.RunAsUser is not null || spec.RunAsGroup is not null;
        var nsenterChangesIdentity = changesIdentity && (spec.Image is not null || spec.SupplementalGroups.Count == 0);
        if (nsenterChangesIdentity)
        {
            argv.AddRange(["--setgid", (spec.RunAsGroup ?? 0).ToString(), "--setuid", (spec.RunAsUser ?? 0).ToString()]);
        }
        argv.Add("--");
        if (changesIdentity && !nsenterChangesIdentity) argv.AddRange(SetPriv(spec));
        if (!nsenterSetsWorkingDir) argv.AddRange(["/bin/sh", "-c", "cd \"$1\" || exit 1; shift; exec \"$@\"", "sh", workingDir]);
        if (spec.DeferredEnvironment.Count > 0)
        {
            var env = spec.Image is null ? HostEnvProgram : spec.Image.EnvProgram ?? throw new InvalidOperationException(
                "the container's image has no env program (/usr/bin/env or /bin/env) to give an exec its loader variables "
                + $"({string.Join(", ", spec.DeferredEnvironment.Select(variable => variable.Key))}) after the user changes");
            argv.AddRange(DeferredSteps(env, spec));
        }
        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>The join program's file name, next to the runtime's assemblies (built from <c>Native/join.c</c>).</summary>
    public const string JoinProgramName = "scheduler-join";

    /// <summary>The join program's exit code when it refused to join (the container's process is gone, or its pid is another's now).</summary>
    public const int JoinRefused = 125;

    /// <summary>
    /// An exec into a running container through the join program (<c>Native/join.c</c>), one program instead of
    /// nsenter and sometimes setpriv or a shell: it refuses <paramref name="target"/>'s pid when the process there has
    /// another start time (the container's process ended and its pid was given to another), joins the mount, pid and UTS
    /// namespaces of the process, changes to the container's working directory as root, then starts the command as its
    /// child (so the process tree is nsenter's: the command at depth 1) as the container's user, gid and supplementary
    /// groups, in an image too. Exit codes as from a shell (127 not found, 126 not executable), <see cref="JoinRefused"/>
    /// when it could not join, 1 when the working directory cannot be entered. Root only.
    /// </summary>
    public static IReadOnlyList<string> BuildJoinProgram(string program, ContainerProcess target, SandboxSpec spec)
    {
        var workingDir = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir;
        var argv = new List<string>
        {
            program, "--target", target.Pid.ToString(CultureInfo.InvariantCulture),
            "--start-time", target.StartTime.ToString(CultureInfo.InvariantCulture), "--wd", workingDir,
        };
        if (spec.RunAsUser is not null || spec.RunAsGroup is not null)
        {
            argv.AddRange(["--user", (spec.RunAsUser ?? 0).ToString(CultureInfo.InvariantCulture), "--group", (spec.RunAsGroup ?? 0).ToString(CultureInfo.InvariantCulture)]);
            argv.AddRange(spec.SupplementalGroups.Count == 0
                ? ["--clear-groups"]
                : ["--groups", string.Join(",", spec.SupplementalGroups.Select(g => g.ToString(CultureInfo.InvariantCulture)))]);
        }
        argv.Add("--");
        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>
    /// A mount path with the symlinks along it followed (e.g. <c>/var/run</c> → <c>/run</c>), as the kubelet follows them in
    /// the container's root, which here is the host's: bubblewrap refuses to make mount points through a symlink.
    /// <paramref name="linkTarget"/> reads a link (null when the path is not one).
    /// </summary>
    public static string ResolveLinks(string containerPath, Func<string, string?> linkTarget)
    {
        var resolved = "/";
        foreach (var part in containerPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(resolved, part);
            for (var hops = 0; hops < 40 && linkTarget(candidate) is { } target; hops++)
            {
                candidate = Path.GetFullPath(target.StartsWith('/') ? target : Path.Combine(Path.GetDirectoryName(candidate)!, target));
            }
            resolved = candidate;
        }
        return resolved;
    }

    /// <summary>Parents are mounted before children so that a nested mountPath is not hidden by its parent's mount.</summary>
    public static IReadOnlyList<SandboxMount> OrderMounts(IEnumerable<SandboxMount> mounts) =>
        mounts.OrderBy(mount => mount.ContainerPath.TrimEnd('/').Count(c => c == '/')).ToList();

    private static List<string> BuildBubblewrap(SandboxSpec spec)
    {
        var workingDir = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir;
        var argv = new List<string> { "bwrap" };
        if (spec.HostRoot is null)
        {
            argv.AddRange(["--dev-bind", "/", "/"]);
        }
        else
        {
            foreach (var entry in spec.HostRoot.Where(entry => entry.Name is not ("proc" or "dev")))
            {
                argv.AddRange(entry.SymlinkTarget is { } target
                    ? ["--symlink", target, "/" + entry.Name]
                    : ["--dev-bind", "/" + entry.Name, "/" + entry.Name]);
            }
            argv.AddRange(["--dev-bind", "/dev", "/dev"]);
            // The root is the sandbox's own tmpfs: a non-root container may make its top-level paths there (/cache, /builds),
            // as root could; sticky, so it cannot remove the mount points.
            argv.AddRange(["--chmod", "1777", "/"]);
        }
        argv.AddRange(["--proc", "/proc", "--unshare-pid", "--unshare-uts", "--hostname", spec.Hostname, "--die-with-parent"]);
        // Hidden before the volumes are mounted: bubblewrap takes bind sources from the host's root, so a volume that lives
        // in a hidden directory is still mounted, while the directory itself is empty inside.
        foreach (var directory in spec.HiddenDirectories)
        {
            argv.AddRange(["--tmpfs", directory]);
        }
        foreach (var file in spec.HiddenFiles)
        {
            argv.AddRange(["--ro-bind", "/dev/null", file]);
        }
        foreach (var mount in OrderMounts(spec.Mounts))
        {
            argv.AddRange([mount.ReadOnly ? "--ro-bind" : "--bind", mount.HostPath, mount.ContainerPath]);
        }
        if (workingDir != "/") argv.AddRange(["--dir", workingDir]);
        argv.AddRange(["--chdir", workingDir]);
        var changesIdentity = spec.RunAsUser is not null || spec.RunAsGroup is not null;
        if (changesIdentity && !spec.RuntimeIsRoot)
        {
            argv.AddRange(["--unshare-user", "--uid", (spec.RunAsUser ?? 0).ToString(), "--gid", (spec.RunAsGroup ?? 0).ToString()]);
        }
        // bubblewrap is root here: loader variables wait for the env program after setpriv, unless nothing changes the
        // user (a root container), where bubblewrap's own --setenv reaches nothing more privileged than the command.
        var setpriv = changesIdentity && spec.RuntimeIsRoot;
        if (!setpriv) argv.AddRange(SetEnv(spec));
        argv.Add("--");
        // setpriv execs the command itself, with the shell's exit codes (127, 126): no shell is needed before it.
        argv.AddRange(setpriv ? SetPriv(spec) : ExecShim);
        if (setpriv) argv.AddRange(DeferredSteps(HostEnvProgram, spec));
        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>
    /// A container in its image. In a new mount namespace (unshare; nothing is mounted on the host, and every mount goes
    /// with the container), as root: the image's tree and the container's writable layer are mounted as an overlay at
    /// <see cref="ImageRoot.Merged"/>, mount points are made through it (so their parents keep the image's owners and
    /// modes), the pod's volumes are bound at their paths, and the whole root is bound at <see cref="ImageRoot.Gateway"/>, a
    /// directory every user may enter. Then, as the container's user when it has one (setpriv from the host: the image need
    /// not have it), bubblewrap makes that root "/" with its own /dev, /proc, pid and UTS namespaces. The volumes are bound
    /// by root, so a non-root container still gets a volume whose host directory it could not reach; its processes and
    /// the files they write have the real uid, as with a CRI runtime.
    /// </summary>
    private static List<string> BuildImage(SandboxSpec spec, ImageRoot image)
    {
        foreach (var dir in new[] { image.Lower, image.Upper, image.Work, image.Merged })
        {
            // overlayfs takes its directories in one option string.
            if (dir.IndexOfAny([',', ':', '\\', '\n']) >= 0) throw new InvalidOperationException($"the state directory path {dir} may not contain ',', ':' or '\\'");
        }
        var workingDir = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir;
        var script = new List<string>
        {
            ImageSetupPrefix,
            "mount -t overlay overlay -o \"lowerdir=$1,upperdir=$2,workdir=$3\" \"$4\"",
            "cd \"$4\"",
            "mkdir -p ./dev ./proc",
        };
        foreach (var mount in OrderMounts(spec.Mounts))
        {
            var target = Quote("." + mount.ContainerPath);
            script.Add(mount.IsFile ? $"mkdir -p \"$(dirname {target})\"; [ -e {target} ] || touch {target}" : $"mkdir -p {target}");
            script.Add($"mount --bind {Quote(mount.HostPath)} {target}");
            if (mount.ReadOnly) script.Add($"mount -o remount,bind,ro {target}");
        }
        script.Add($"mkdir -p {Quote("." + workingDir)}");
        script.Add("cd /");
        script.Add($"mount --rbind \"$4\" {Quote(image.Gateway)}");
        script.Add("shift 4");
        script.Add("exec \"$@\"");
        var argv = new List<string>
        {
            "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", string.Join("\n", script),
            "sh", image.Lower, image.Upper, image.Work, image.Merged,
        };
        if (spec.RunAsUser is not null || spec.RunAsGroup is not null) argv.AddRange(SetPriv(spec));
        argv.AddRange(["bwrap", "--bind", image.Gateway, "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--unshare-uts",
            "--hostname", spec.Hostname, "--die-with-parent", "--chdir", workingDir]);
        // bubblewrap runs as the container's user here (root only for a root container): it sets the loader variables,
        // which unshare, sh, mount and setpriv before it never see.
        argv.AddRange(SetEnv(spec));
        argv.Add("--");
        if (image.HasShell) argv.AddRange(ExecShim);
        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>The first line of the image sandbox's overlay script, by which an exec tells setup from the command.</summary>
    internal const string ImageSetupPrefix = "set -e # image root setup";

    /// <summary>The first line of the unshare sandbox's mount script, by which an exec tells setup from the command.</summary>
    internal const string UnshareSetupPrefix = "set -e # sandbox setup";

    // setpriv keeps the parent-death signal across exec, so the sandbox dies with the runtime; the script
    // runs as pid 1 of the new pid namespace, sets up the mounts, then execs the command.
    private static List<string> BuildUnshare(SandboxSpec spec)
    {
        var workingDir = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir;
        var script = new List<string> { UnshareSetupPrefix, $"hostname {Quote(spec.Hostname)}" };
        foreach (var mount in OrderMounts(spec.Mounts))
        {
            var target = Quote(mount.ContainerPath);
            script.Add(mount.IsFile
                ? $"mkdir -p \"$(dirname {target})\"; [ -e {target} ] || touch {target}"
                : $"mkdir -p {target}");
            script.Add($"mount --bind {Quote(mount.HostPath)} {target}");
            if (mount.ReadOnly) script.Add($"mount -o remount,bind,ro {target}");
        }
        // Hidden after the volumes are mounted: here bind sources are read in the container's own view, so a directory
        // hidden first could not serve its volumes any more.
        foreach (var directory in spec.HiddenDirectories)
        {
            script.Add($"mount -t tmpfs -o mode=0755 tmpfs {Quote(directory)}");
        }
        foreach (var file in spec.HiddenFiles)
        {
            script.Add($"mount --bind /dev/null {Quote(file)}");
        }
        script.Add($"mkdir -p {Quote(workingDir)}");
        script.Add($"cd {Quote(workingDir)}");
        script.Add("exec \"$@\"");

        var argv = new List<string>
        {
            "setpriv", "--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork",
            "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", string.Join("\n", script), "sh",
        };
        argv.AddRange(spec.RunAsUser is not null || spec.RunAsGroup is not null ? SetPriv(spec) : ExecShim);
        // After the identity change (or the shell of a root container): the first program that may see loader variables.
        argv.AddRange(DeferredSteps(HostEnvProgram, spec));
        argv.AddRange(spec.Command);
        return argv;
    }

    /// <summary>The host's env program, which a container on the host's filesystem sees at the same path.</summary>
    public const string HostEnvProgram = "/usr/bin/env";

    /// <summary>
    /// <c>env NAME=VALUE … </c> before the command, for the loader variables: run as the container's user (or as a root
    /// container), it is the first program whose environment has them; nothing when there are none (argv as without).
    /// </summary>
    private static IEnumerable<string> DeferredSteps(string envProgram, SandboxSpec spec) =>
        spec.DeferredEnvironment.Count == 0 ? []
        // env takes every word with '=' before the command for one more assignment: a command named so (/opt/a=1/tool)
        // is started by a shell after it.
        : spec.Command.Count > 0 && spec.Command[0].Contains('=', StringComparison.Ordinal)
            ? [envProgram, .. LoaderVariables.Assignments(spec.DeferredEnvironment), "/bin/sh", "-c", "exec \"$@\"", "sh"]
            : [envProgram, .. LoaderVariables.Assignments(spec.DeferredEnvironment)];

    /// <summary>bubblewrap's <c>--setenv NAME VALUE</c> for each loader variable, where bubblewrap reaches no more privilege than the command.</summary>
    private static IEnumerable<string> SetEnv(SandboxSpec spec) =>
        spec.DeferredEnvironment.SelectMany(variable => new[] { "--setenv", variable.Key, variable.Value });

    private static string[] SetPriv(SandboxSpec spec) =>
    [
        "setpriv", "--reuid", (spec.RunAsUser ?? 0).ToString(), "--regid", (spec.RunAsGroup ?? 0).ToString(),
        .. spec.SupplementalGroups.Count == 0 ? ["--clear-groups"] : new[] { "--groups", string.Join(",", spec.SupplementalGroups) },
        "--",
    ];

    /// <summary>Single-quotes a word for /bin/sh.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";
}
