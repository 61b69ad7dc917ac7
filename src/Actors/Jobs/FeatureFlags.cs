using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Jobs;

/// <summary>GitLab Runner's feature flags, as the pod and the stage scripts both read them.</summary>
public static class FeatureFlags
{
    /// <summary>Whether the job runs with <paramref name="flag"/> on: <c>[runners.feature_flags]</c>, else the last definition
    /// among the runner's <c>environment</c> and the job's variables, read as Go's <c>strconv.ParseBool</c> does.</summary>
    public static bool IsOn(string flag, RunnerEntry runner, IReadOnlyList<JobVariable> jobVariables)
    {
        if (runner.FeatureFlags.TryGetValue(flag, out var configured) && configured)
        {
            return true;
        }

        string? value = null;
        foreach (var entry in runner.Environment)
        {
            if (entry.StartsWith(flag + "=", StringComparison.Ordinal))
            {
                value = entry[(flag.Length + 1)..];
            }
        }

        foreach (var variable in jobVariables.Where(v => v.Key == flag))
        {
            value = variable.Value;
        }

        return value is "1" or "t" or "T" or "true" or "TRUE" or "True";
    }
}
