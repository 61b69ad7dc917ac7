using System.Diagnostics;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>A short command that must succeed (e.g. <c>ip link set … down</c>); its output is in the error when it fails.</summary>
public static class Command
{
    public static string Run(string fileName, params string[] arguments)
    {
        var (exit, output) = TryRun(fileName, arguments);
        if (exit != 0)
        {
            throw new InvalidOperationException($"`{fileName} {string.Join(' ', arguments)}` exited {exit}: {output.Trim()}");
        }

        return output;
    }

    public static (int ExitCode, string Output) TryRun(string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
                return (-1, "timed out after 30 s");
            }

            return (process.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"cannot start {fileName}: {e.Message}");
        }
    }
}
