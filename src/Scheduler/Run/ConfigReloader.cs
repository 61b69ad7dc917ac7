using Scheduler.Config;
using Scheduler.Messages.Settings;
using Serilog;

namespace Scheduler.Run;

/// <summary>
/// Reloads the config on SIGHUP (<see cref="RunControl.ReloadRequested"/>) and when the file changes (FileSystemWatcher,
/// debounced: editors write in several steps). A config that does not load is reported and the old one kept.
/// <c>concurrent</c>, <c>check_interval</c>, <c>shutdown_timeout</c> and <c>limit</c> apply to the running node, and jobs
/// started after the reload are built with the reloaded entries; what needs a restart (the API connection, a runner's url
/// and token, global keys) is named in a warning (<see cref="ConfigChanges"/>).
/// </summary>
public sealed class ConfigReloader : IDisposable
{
    public static readonly TimeSpan Debounce = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly RunHost _host;
    private readonly RunControl _control;
    private readonly FileSystemWatcher? _watcher;
    private readonly Timer _debounce;
    private readonly object _gate = new();
    // What the settings that need a restart still are: a reload compares against these, not the last reload.
    private readonly GlobalSettings _startup;

    public ConfigReloader(string path, IReadOnlyDictionary<string, string> environment, RunHost host, RunControl control,
        GlobalSettings? current = null)
    {
        _path = path;
        _environment = environment;
        _host = host;
        _control = control;
        Current = current ?? ConfigLoader.LoadFile(path, environment).Settings ?? new GlobalSettings();
        _startup = Current;
        _debounce = new Timer(_ => Reload("the file changed"));
        control.ReloadRequested += OnReloadRequested;
        var directory = Path.GetDirectoryName(path);
        if (directory is not null && Directory.Exists(directory))
        {
            _watcher = new FileSystemWatcher(directory, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
            _watcher.Created += (_, _) => _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
            _watcher.Renamed += (_, _) => _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>The settings in force.</summary>
    public GlobalSettings Current { get; private set; }

    /// <summary>Loads the file and applies it; false (old config kept) when it does not load.</summary>
    public bool Reload(string why)
    {
        lock (_gate)
        {
            var loaded = ConfigLoader.LoadFile(_path, _environment);
            if (!loaded.IsValid)
            {
                Log.Error("config reload ({Why}): {Path} does not load; keeping the running config. {Errors}", why, _path,
                    string.Join("; ", loaded.Errors.Select(e => e.ToString())));
                return false;
            }

            Current = loaded.Settings!;
            foreach (var note in _host.Reload(Current).Concat(ConfigChanges.NeedingRestart(_startup, Current)))
            {
                Log.Warning("config reload: {Note}", note);
            }

            Log.Information("config reloaded ({Why}): applied {Applied} (concurrent={Concurrent}); what needs a restart is named above",
                why, string.Join(", ", ConfigChanges.AppliedOnReload), Current.Concurrent);
            return true;
        }
    }

    private void OnReloadRequested() => Reload("SIGHUP");

    public void Dispose()
    {
        _control.ReloadRequested -= OnReloadRequested;
        _watcher?.Dispose();
        _debounce.Dispose();
    }
}
