using System.Globalization;
using System.Text;

namespace Scheduler.Fleet;

/// <summary><c>scheduler status</c>'s table: one line per member, columns aligned.</summary>
public static class StatusTable
{
    public static string Render(FleetStatus status)
    {
        var rows = new List<string[]> { new[] { "NODE", "STATUS", "REACHABLE", "ROLES", "CONCURRENT", "RUNNING", "FREE", "JOBS PER RUNNER" } };
        foreach (var node in status.Nodes)
        {
            var jobs = node.Error ?? string.Join(" ", node.RunningPerRunner.OrderBy(r => r.Key, StringComparer.Ordinal)
                .Select(r => $"{r.Key}={r.Value.ToString(CultureInfo.InvariantCulture)}"));
            rows.Add(
            [
                node.Address == status.Self ? node.Address + " (*)" : node.Address,
                node.MemberStatus,
                node.Reachable ? "yes" : "no",
                node.Roles.Count == 0 ? "-" : string.Join(",", node.Roles),
                Number(node.Concurrent, node.Error),
                Number(node.Running, node.Error),
                Number(node.Free, node.Error),
                jobs.Length == 0 ? "-" : jobs,
            ]);
        }

        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        var kind = status.Clustered ? "fleet" : "single node (no [cluster])";
        text.Append(CultureInfo.InvariantCulture, $"{kind}: {status.Nodes.Count} member(s), {status.Nodes.Sum(n => n.Running)} job(s) running; (*) answered\n");
        foreach (var row in rows)
        {
            text.AppendJoin("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).Append('\n');
        }

        return text.ToString();
    }

    private static string Number(int value, string? error) => error is null ? value.ToString(CultureInfo.InvariantCulture) : "?";
}
