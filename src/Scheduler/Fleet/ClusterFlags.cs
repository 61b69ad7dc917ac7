using Scheduler.Config;
using Scheduler.Messages.Settings;

namespace Scheduler.Fleet;

/// <summary><c>scheduler run --cluster-port/--seed/--cluster-hostname</c>: they override <c>[cluster]</c>, and any of them
/// makes the node a fleet member even when the file has no <c>[cluster]</c> table.</summary>
public sealed record ClusterFlags(int? Port, IReadOnlyList<string> Seeds, string? Hostname)
{
    public static readonly ClusterFlags None = new(null, [], null);

    public bool IsEmpty => Port is null && Seeds.Count == 0 && string.IsNullOrWhiteSpace(Hostname);

    /// <summary>The settings with the flags applied, or the reasons the flags are unusable.</summary>
    public (GlobalSettings Settings, IReadOnlyList<string> Errors) ApplyTo(GlobalSettings settings)
    {
        if (IsEmpty)
        {
            return (settings, []);
        }

        var errors = new List<string>();
        if (Port is < 0 or > 65535)
        {
            errors.Add($"--cluster-port {Port}: must be a port number from 0 (any free port) to 65535");
        }

        errors.AddRange(Seeds.Select(ClusterSettingsReader.SeedNodeError).OfType<string>().Select(e => $"--seed: {e}"));
        if (errors.Count > 0)
        {
            return (settings, errors);
        }

        var cluster = settings.Cluster ?? new ClusterSettings();
        cluster = cluster with
        {
            Port = Port ?? cluster.Port,
            SeedNodes = Seeds.Count > 0 ? Seeds : cluster.SeedNodes,
            Hostname = string.IsNullOrWhiteSpace(Hostname) ? cluster.Hostname : Hostname.Trim(),
        };
        return (settings with { Cluster = cluster }, []);
    }
}
