using System.Diagnostics;

namespace Scheduler.Helper;

/// <summary>The files of a project directory that artifact or cache paths select, as GitLab Runner selects them: a matching
/// directory brings everything below it; excludes remove files; untracked adds what <c>git ls-files -o</c> lists. Messages
/// go to <paramref name="log"/> in GitLab Runner's words.</summary>
public static class FileSelection
{
    /// <returns>Relative '/'-separated paths of files, directories and symlinks, sorted; directories come before their content.</returns>
    public static IReadOnlyList<string> Select(string projectDir, IReadOnlyList<string> paths, IReadOnlyList<string> excludes, bool untracked,
        TextWriter log)
    {
        var root = Path.GetFullPath(projectDir);
        var all = Walk(root);
        var byPath = all.ToDictionary(e => e.Path, StringComparer.Ordinal);
        var selected = new SortedSet<string>(StringComparer.Ordinal);

        foreach (var pattern in paths)
        {
            var relative = PathPatterns.Relative(pattern, root);
            if (relative is null)
            {
                log.WriteLine($"WARNING: {pattern}: not in the project directory ({root}); ignored");
                continue;
            }

            var regex = PathPatterns.ToRegex(relative);
            var matched = all.Where(entry => relative.Length == 0 || regex.IsMatch(entry.Path)).ToList();
            var before = selected.Count;
            foreach (var entry in matched)
            {
                AddWithContent(entry);
            }

            if (matched.Count == 0)
            {
                log.WriteLine($"WARNING: {pattern}: no matching files. Ensure that the artifact path is relative to the working directory ({root})");
            }
            else
            {
                log.WriteLine($"{pattern}: found {selected.Count - before} matching artifact files and directories");
            }
        }

        if (untracked)
        {
            var files = UntrackedFiles(root, log);
            var before = selected.Count;
            foreach (var file in files)
            {
                if (byPath.TryGetValue(file.TrimEnd('/'), out var entry))
                {
                    AddWithContent(entry);
                }
            }

            log.WriteLine($"untracked: found {selected.Count - before} files");
        }

        if (excludes.Count > 0)
        {
            var regexes = excludes.Select(e => PathPatterns.Relative(e, root)).OfType<string>().Select(PathPatterns.ToRegex).ToList();
            var excluded = selected.Where(path => regexes.Any(r => r.IsMatch(path))).ToList();
            foreach (var path in excluded)
            {
                selected.Remove(path);
            }

            if (excluded.Count > 0)
            {
                log.WriteLine($"excluded: {excluded.Count} files and directories");
            }
        }

        return selected.ToList();

        void AddWithContent(Entry entry)
        {
            selected.Add(entry.Path);
            if (entry.IsDirectory)
            {
                foreach (var below in all.Where(e => e.Path.StartsWith(entry.Path + "/", StringComparison.Ordinal)))
                {
                    selected.Add(below.Path);
                }
            }
        }
    }

    public sealed record Entry(string Path, bool IsDirectory);

    /// <summary>Every entry below <paramref name="root"/>; symlinks are listed but not followed.</summary>
    public static List<Entry> Walk(string root)
    {
        var entries = new List<Entry>();
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            IEnumerable<FileSystemInfo> children;
            try
            {
                children = new DirectoryInfo(dir).EnumerateFileSystemInfos();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            foreach (var child in children)
            {
                var relative = Path.GetRelativePath(root, child.FullName).Replace('\\', '/');
                var isDirectory = child is DirectoryInfo && child.LinkTarget is null;
                entries.Add(new Entry(relative, isDirectory));
                if (isDirectory)
                {
                    pending.Push(child.FullName);
                }
            }
        }

        entries.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return entries;
    }

    // GitLab Runner lists untracked files with git itself; outside a repository there are none.
    private static IReadOnlyList<string> UntrackedFiles(string root, TextWriter log)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-c", "safe.directory=*", "ls-files", "-o", "-z" })
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var git = Process.Start(start)!;
            var errors = git.StandardError.ReadToEndAsync();
            var output = git.StandardOutput.ReadToEnd();
            git.WaitForExit();
            if (git.ExitCode != 0)
            {
                log.WriteLine($"WARNING: untracked: git ls-files failed: {errors.Result.Trim()}");
                return [];
            }

            return output.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log.WriteLine($"WARNING: untracked: cannot run git: {e.Message}");
            return [];
        }
    }
}
