using System.Text.RegularExpressions;

namespace Scheduler.Hosting;

/// <summary>
/// The structured properties an actor log line gets from where it was logged, without I/O: the actor path tells the job and
/// the runner entry of actors below <c>intake-&lt;name&gt;-&lt;n&gt;</c> and <c>job-&lt;id&gt;</c>. The templates name their
/// own properties (<c>"job {JobId} of runner {Runner}: pod {Pod} created"</c>, Akka's semantic logging); these names are
/// the ones the log lines share.
/// </summary>
public static partial class ActorLogContext
{
    public const string ActorPath = "ActorPath";
    public const string JobId = "JobId";
    public const string Runner = "Runner";
    public const string Pod = "Pod";

    /// <summary>JobId and Runner as the actor path names them (<c>…/intake-r1-0/job-42</c>, <c>…/coordinator/job-42/pod</c>).</summary>
    public static IReadOnlyList<KeyValuePair<string, object>> FromPath(string? actorPath)
    {
        var properties = new List<KeyValuePair<string, object>>();
        if (string.IsNullOrEmpty(actorPath))
        {
            return properties;
        }

        var path = actorPath.Trim('[', ']');
        var uid = path.IndexOf('#');
        if (uid >= 0)
        {
            path = path[..uid];
        }

        foreach (var segment in path.Split('/'))
        {
            if (JobSegment().Match(segment) is { Success: true } job && long.TryParse(job.Groups["id"].Value, out var jobId) &&
                properties.All(p => p.Key != JobId))
            {
                properties.Add(new(JobId, jobId));
            }
            else if (IntakeSegment().Match(segment) is { Success: true } intake && properties.All(p => p.Key != Runner))
            {
                properties.Add(new(Runner, intake.Groups["name"].Value));
            }
        }

        return properties;
    }

    [GeneratedRegex(@"^job-(?<id>\d+)$")]
    private static partial Regex JobSegment();

    [GeneratedRegex(@"^intake-(?<name>.+)-\d+$")]
    private static partial Regex IntakeSegment();
}
