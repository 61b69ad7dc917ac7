using System.Diagnostics;

namespace Scheduler.Exec;

/// <summary>What exec needs to know about the repository it runs from. <c>Branch</c> is null on a detached HEAD.</summary>
public sealed record GitRepositoryInfo(string TopLevel, string Sha, string? Branch, bool HasUncommittedChanges, string CommitTitle);

/// <summary>The outcome of reading a repository: its info, or why it could not be read.</summary>
public sealed record GitRepositoryReadResult(GitRepositoryInfo? Info, string? Error);

/// <summary>Reads the repository around a directory by running <c>git</c>.</summary>
public static class GitRepository
{
    public static async Task<GitRepositoryReadResult> ReadAsync(string directory, CancellationToken ct)
    {
        var topLevel = await GitAsync(directory, ct, "rev-parse", "--show-toplevel");
        if (topLevel.ExitCode != 0)
        {
            return new(null, $"{directory} is not inside a git repository ({FirstLine(topLevel.Error)})");
        }

        var root = topLevel.Output.Trim();
        var sha = await GitAsync(root, ct, "rev-parse", "--verify", "HEAD");
        if (sha.ExitCode != 0)
        {
            return new(null, $"the repository at {root} has no commit yet: exec runs the committed HEAD");
        }

        var branch = await GitAsync(root, ct, "symbolic-ref", "--quiet", "--short", "HEAD");
        var status = await GitAsync(root, ct, "status", "--porcelain", "--untracked-files=no");
        var title = await GitAsync(root, ct, "log", "-1", "--format=%s");
        return new(new GitRepositoryInfo(
            root,
            sha.Output.Trim(),
            branch.ExitCode == 0 && branch.Output.Trim().Length > 0 ? branch.Output.Trim() : null,
            status.ExitCode == 0 && status.Output.Trim().Length > 0,
            title.ExitCode == 0 ? title.Output.Trim() : ""), null);
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    private sealed record GitOutput(int ExitCode, string Output, string Error);

    private static async Task<GitOutput> GitAsync(string directory, CancellationToken ct, params string[] args)
    {
        var start = new ProcessStartInfo("git")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var error = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            return new GitOutput(process.ExitCode, await output, await error);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or DirectoryNotFoundException)
        {
            return new GitOutput(127, "", $"cannot run git: {ex.Message}");
        }
    }
}
