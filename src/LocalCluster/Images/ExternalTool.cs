using System.Diagnostics;
using System.Text;

namespace Scheduler.LocalCluster.Images;

/// <summary>The result of one run of an external tool.</summary>
public sealed record ToolResult(int ExitCode, string Output, string Error, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>The tool's last error line, for an event or a waiting message.</summary>
    public string Summary(string tool)
    {
        if (TimedOut) return $"{tool} did not finish in time";
        var lines = (Error.Length > 0 ? Error : Output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var last = lines.Length > 0 ? lines[^1] : $"exit code {ExitCode}";
        return last.Length > 400 ? last[..400] : last;
    }
}

/// <summary>Runs skopeo and umoci: asynchronously, with a bounded time, never on a caller's thread for long.</summary>
public static class ExternalTool
{
    private const int MaxCapture = 64 * 1024;

    public static bool IsInstalled(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, tool)));

    public static async Task<ToolResult> RunAsync(string tool, IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            return new ToolResult(127, "", $"{tool}: {exception.Message}", false);
        }
        process.StandardInput.Close();
        var output = ReadBoundedAsync(process.StandardOutput);
        var error = ReadBoundedAsync(process.StandardError);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It has just exited.
            }
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            return new ToolResult(-1, await output, await error, true);
        }
        return new ToolResult(process.ExitCode, await output, await error, false);
    }

    // A tool that prints without end must not fill the memory: the first 64 KiB are kept, the rest is read and dropped.
    private static async Task<string> ReadBoundedAsync(StreamReader reader)
    {
        var text = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            if (text.Length < MaxCapture) text.Append(buffer, 0, Math.Min(read, MaxCapture - text.Length));
        }
        return text.ToString();
    }
}
