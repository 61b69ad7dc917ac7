using System.Reflection;
using System.Text.Json;
using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>
/// What a config reload changes that the running node cannot apply: every setting except <c>concurrent</c>,
/// <c>check_interval</c>, <c>shutdown_timeout</c> and each runner's <c>limit</c> is read when the node starts (the pod
/// settings, tokens, allow-lists, <c>[cluster]</c>), so a change to it needs a restart. Pure; names keys, never values.
/// </summary>
internal static class ConfigChanges
{
    /// <summary>The settings a reload applies to the running node.</summary>
    public static readonly IReadOnlyList<string> AppliedOnReload = ["concurrent", "check_interval", "shutdown_timeout", "limit"];

    private static readonly HashSet<string> AppliedGlobal =
        [nameof(GlobalSettings.Concurrent), nameof(GlobalSettings.CheckInterval), nameof(GlobalSettings.ShutdownTimeout),
         nameof(GlobalSettings.Runners), nameof(GlobalSettings.SourcePath)];

    private static readonly HashSet<string> AppliedRunner = [nameof(RunnerEntry.Name), nameof(RunnerEntry.Limit), nameof(RunnerEntry.Kubernetes)];

    // Property names whose config key is not the snake_case form.
    private static readonly Dictionary<string, string> Keys = new(StringComparer.Ordinal)
    {
        [nameof(KubernetesSettings.TerminationGracePeriodSeconds)] = "terminationGracePeriodSeconds",
        [nameof(KubernetesSettings.PodSpecPatches)] = "pod_spec",
    };

    /// <summary>One line per place where a setting changed that takes effect only after a restart; empty when none did.
    /// Runners are matched by name (added and removed runners are reported by the host).</summary>
    public static IReadOnlyList<string> NeedingRestart(GlobalSettings running, GlobalSettings reloaded)
    {
        var notes = new List<string>();
        var global = Changed(running, reloaded, AppliedGlobal);
        if (global.Count > 0)
        {
            notes.Add($"{string.Join(", ", global)} changed: takes effect after a restart");
        }

        foreach (var runner in reloaded.Runners)
        {
            var before = running.Runners.FirstOrDefault(r => r.Name == runner.Name);
            if (before is null)
            {
                continue;
            }

            var keys = Changed(before, runner, AppliedRunner)
                .Concat(Changed(before.Kubernetes, runner.Kubernetes, []).Select(k => "kubernetes." + k))
                .ToList();
            if (keys.Count > 0)
            {
                notes.Add($"runner \"{runner.Name}\": {string.Join(", ", keys)} changed: running and new jobs keep the values loaded "
                          + "at startup until the runner is restarted");
            }
        }

        return notes;
    }

    private static List<string> Changed<T>(T before, T after, HashSet<string> skip) where T : notnull =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && !skip.Contains(p.Name))
            .Where(p => Json(p.GetValue(before)) != Json(p.GetValue(after)))
            .Select(p => Keys.GetValueOrDefault(p.Name) ?? SnakeCase(p.Name))
            .ToList();

    private static string Json(object? value) => value is null ? "null" : JsonSerializer.Serialize(value, value.GetType());

    private static string SnakeCase(string name) => JsonNamingPolicy.SnakeCaseLower.ConvertName(name);
}
