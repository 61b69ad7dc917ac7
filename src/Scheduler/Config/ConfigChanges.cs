using System.Reflection;
using System.Text.Json;
using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>
/// What a config reload changes that the running node cannot apply. Applied: <c>concurrent</c>, <c>check_interval</c>,
/// <c>shutdown_timeout</c>, each runner's <c>limit</c>, and everything a job is built from (the <c>[runners.kubernetes]</c>
/// pod settings, allow-lists, security contexts, <c>output_limit</c>, <c>environment</c>, … — for jobs started after the
/// reload; running jobs keep theirs). Needing a restart: the other global keys (<c>[cluster]</c>, <c>listen_address</c>,
/// …), a runner's <c>url</c>, <c>token</c> and <c>request_concurrency</c> (its GitLab client and intake), and the API
/// connection of <c>[runners.kubernetes]</c> (<c>host</c>, certificates, <c>bearer_token</c>: its client is made once).
/// Pure; names keys, never values.
/// </summary>
internal static class ConfigChanges
{
    /// <summary>The settings a reload applies to the running node.</summary>
    public static readonly IReadOnlyList<string> AppliedOnReload =
        ["concurrent", "check_interval", "shutdown_timeout", "limit", "the settings new jobs are built with"];

    private static readonly HashSet<string> AppliedGlobal =
        [nameof(GlobalSettings.Concurrent), nameof(GlobalSettings.CheckInterval), nameof(GlobalSettings.ShutdownTimeout),
         nameof(GlobalSettings.Runners), nameof(GlobalSettings.SourcePath)];

    // What a runner entry's intake and GitLab client hold from the start; everything else is read per job.
    private static readonly HashSet<string> RunnerNeedsRestart =
        [nameof(RunnerEntry.Url), nameof(RunnerEntry.Token), nameof(RunnerEntry.RequestConcurrency), nameof(RunnerEntry.Executor),
         nameof(RunnerEntry.TlsCaCertificates), nameof(RunnerEntry.TlsClientCertificate), nameof(RunnerEntry.TlsClientKey)];

    // The API connection: one client per runner entry, made when it is first used.
    private static readonly HashSet<string> KubernetesNeedsRestart =
        [nameof(KubernetesSettings.Host), nameof(KubernetesSettings.CertFile), nameof(KubernetesSettings.KeyFile),
         nameof(KubernetesSettings.CaFile), nameof(KubernetesSettings.BearerToken)];

    // Property names whose config key is not the snake_case form.
    private static readonly Dictionary<string, string> Keys = new(StringComparer.Ordinal)
    {
        [nameof(KubernetesSettings.TerminationGracePeriodSeconds)] = "terminationGracePeriodSeconds",
        [nameof(KubernetesSettings.PodSpecPatches)] = "pod_spec",
        [nameof(RunnerEntry.TlsCaCertificates)] = "tls-ca-file",
        [nameof(RunnerEntry.TlsClientCertificate)] = "tls-cert-file",
        [nameof(RunnerEntry.TlsClientKey)] = "tls-key-file",
    };

    /// <summary>One line per place where a setting changed that takes effect only after a restart; empty when none did.
    /// Runners are matched by name (added and removed runners are reported by the host).</summary>
    public static IReadOnlyList<string> NeedingRestart(GlobalSettings running, GlobalSettings reloaded)
    {
        var notes = new List<string>();
        var global = Changed(running, reloaded, skip: AppliedGlobal);
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

            var keys = Changed(before, runner, only: RunnerNeedsRestart)
                .Concat(Changed(before.Kubernetes, runner.Kubernetes, only: KubernetesNeedsRestart).Select(k => "kubernetes." + k))
                .ToList();
            if (keys.Count > 0)
            {
                notes.Add($"runner \"{runner.Name}\": {string.Join(", ", keys)} changed: takes effect after a restart (the "
                          + "other changed settings apply to jobs started from now on)");
            }
        }

        return notes;
    }

    private static List<string> Changed<T>(T before, T after, HashSet<string>? skip = null, HashSet<string>? only = null) where T : notnull =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && (skip is null || !skip.Contains(p.Name)) && (only is null || only.Contains(p.Name)))
            .Where(p => Json(p.GetValue(before)) != Json(p.GetValue(after)))
            .Select(p => Keys.GetValueOrDefault(p.Name) ?? SnakeCase(p.Name))
            .ToList();

    private static string Json(object? value) => value is null ? "null" : JsonSerializer.Serialize(value, value.GetType());

    private static string SnakeCase(string name) => JsonNamingPolicy.SnakeCaseLower.ConvertName(name);
}
