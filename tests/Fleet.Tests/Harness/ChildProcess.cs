using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>
/// A process the harness started: stdout and stderr go, line by line, to a log file (named in failure messages) and to
/// memory (for waits on a line). Disposing kills it with its whole tree unless it has exited; the test host's exit does
/// the same for any left over, so no test leaves a node, a cluster or a pod behind.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigQuit = 3;
    public const int SigCont = 18; // Linux numbers: the tests' processes run there
    public const int SigStop = 19;

    private static readonly ConcurrentDictionary<int, Process> Running = new();

    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly List<DateTime> _received = [];
    private readonly StreamWriter _log;

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in Running.Values)
            {
                TryKillTree(process);
            }
        };
    }

    private ChildProcess(string name, Process process, string logPath, StreamWriter log)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _log = log;
    }

    public string Name { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, string logPath,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        log.WriteLine($"# {fileName} {string.Join(' ', info.ArgumentList)}");
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(name, process, logPath, log);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        Running[process.Id] = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Sends a POSIX signal to the process itself (not its children).</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited && kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public IReadOnlyList<string> Lines
    {
        get { lock (_gate) { return _lines.ToArray(); } }
    }

    /// <summary>
    /// When the first line matching <paramref name="match"/> arrived (UTC, as read from the pipe: the node's own
    /// timestamps have whole seconds only), or null; lines that arrived before <paramref name="after"/> are skipped.
    /// </summary>
    public DateTime? FirstLineAt(Func<string, bool> match, DateTime after)
    {
        lock (_gate)
        {
            for (var i = 0; i < _lines.Count; i++)
            {
                if (_received[i] >= after && match(_lines[i]))
                {
                    return _received[i];
                }
            }
        }

        return null;
    }

    /// <summary>The first output line matching <paramref name="match"/>, waiting for it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = Lines.FirstOrDefault(match);
            if (line is not null)
            {
                return line;
            }

            if (_process.HasExited)
            {
                // The last lines may still be in the pipe.
                await Task.Delay(200);
                line = Lines.FirstOrDefault(match);
                return line ?? throw new InvalidOperationException(
                    $"{Name} exited ({_process.ExitCode}) before {what}\n{Tail()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name}: timed out waiting for {what}\n{Tail()}");
            }

            await Task.Delay(100);
        }
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The last output lines, with the log file's path, for a failure message.</summary>
    public string Tail(int lines = 40)
    {
        var all = Lines;
        return $"--- {Name} (log {LogPath}), last {Math.Min(lines, all.Count)} of {all.Count} lines ---\n"
               + string.Join('\n', all.Skip(Math.Max(0, all.Count - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            TryKillTree(_process);
            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        Running.TryRemove(_process.Id, out _);
        lock (_gate)
        {
            _log.Dispose();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Add(line);
            _received.Add(DateTime.UtcNow);
            try
            {
                _log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output after dispose: only memory keeps it.
            }
        }
    }

    private static void TryKillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
