using System.Security.Cryptography;
using System.Text;

namespace Scheduler.Helper;

/// <summary>
/// The embedded cluster runs containers as a non-root user on this machine's filesystem, so whatever a pod must read
/// there (this build, for <c>scheduler helper</c>; <c>exec</c>'s repository) has to be reachable by other users. A
/// clone under <c>/root</c> or a <c>mktemp -d</c> directory (mode 0700) is not: a runner running as root then hands
/// pods a copy under <c>/tmp</c> instead, readable by all and holding nothing secret (a build, a repository's history).
/// </summary>
public static class PodReachableCopy
{
    private const UnixFileMode ReadableDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode ReadableFile = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>True when another user can reach <paramref name="path"/>: every directory above it searchable by others,
    /// and the path itself readable (and, for a directory, searchable) by them.</summary>
    public static bool ByOthers(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        var full = Path.GetFullPath(path);
        for (var directory = Path.GetDirectoryName(full); directory is not null; directory = Path.GetDirectoryName(directory))
        {
            if (!File.GetUnixFileMode(directory).HasFlag(UnixFileMode.OtherExecute))
            {
                return false;
            }
        }

        var mode = File.GetUnixFileMode(full);
        return mode.HasFlag(UnixFileMode.OtherRead) && (!Directory.Exists(full) || mode.HasFlag(UnixFileMode.OtherExecute));
    }

    /// <summary>The path of <paramref name="file"/> in a copy of its directory that pods can reach: the file itself when
    /// it is reachable already or this process is not root (its pods then run as its own user).</summary>
    public static string BuildFile(string file)
    {
        if (OperatingSystem.IsWindows() || !Environment.IsPrivilegedProcess || ByOthers(file))
        {
            return file;
        }

        var source = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var info = new FileInfo(file);
        // One copy per build: the directory and the file's size and time name it, so a rebuild gets a fresh copy.
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{source}\n{info.Length}\n{info.LastWriteTimeUtc.Ticks}")))[..16];
        var target = Path.Combine(Path.GetTempPath(), $"scheduler-build-{key}");
        if (!Directory.Exists(target))
        {
            var staging = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}";
            CopyTree(source, staging);
            try
            {
                Directory.Move(staging, target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                Directory.Delete(staging, recursive: true); // another process made the same copy first
            }
        }

        return Path.Combine(target, Path.GetFileName(file));
    }

    /// <summary>A bare clone of the repository at <paramref name="topLevel"/> in a directory pods can reach, or null when
    /// the repository is reachable already or this process is not root. The caller deletes it.</summary>
    public static async Task<string?> RepositoryAsync(string topLevel, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows() || !Environment.IsPrivilegedProcess || ByOthers(Path.Combine(topLevel, ".git")))
        {
            return null;
        }

        var parent = Path.Combine(Path.GetTempPath(), $"scheduler-exec-repository-{Guid.NewGuid():N}");
        Directory.CreateDirectory(parent, ReadableDirectory);
        var target = Path.Combine(parent, "repository.git");
        // --local hard-links the objects where it can: no copy of the history on the same filesystem.
        var git = new System.Diagnostics.ProcessStartInfo("git") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "clone", "--bare", "--local", "--quiet", topLevel, target })
        {
            git.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(git)!;
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            Directory.Delete(parent, recursive: true);
            throw new IOException($"cannot copy the repository for the pod (git clone --bare exited with {process.ExitCode}): {(await error).Trim()}");
        }

        MakeReadable(parent);
        return target;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void CopyTree(string source, string target)
    {
        Directory.CreateDirectory(target, ReadableDirectory);
        foreach (var directory in Directory.EnumerateDirectories(source))
        {
            CopyTree(directory, Path.Combine(target, Path.GetFileName(directory)));
        }

        foreach (var file in Directory.EnumerateFiles(source))
        {
            var copy = Path.Combine(target, Path.GetFileName(file));
            File.Copy(file, copy);
            var executable = File.GetUnixFileMode(file).HasFlag(UnixFileMode.UserExecute);
            File.SetUnixFileMode(copy, executable ? ReadableDirectory : ReadableFile);
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void MakeReadable(string directory)
    {
        File.SetUnixFileMode(directory, ReadableDirectory);
        foreach (var child in Directory.EnumerateDirectories(directory))
        {
            MakeReadable(child);
        }

        foreach (var file in Directory.EnumerateFiles(directory))
        {
            File.SetUnixFileMode(file, File.GetUnixFileMode(file) | UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
    }
}
