using System.Text.RegularExpressions;

namespace Scheduler.Hosting;

/// <summary>
/// The structured properties of an actor log line, without I/O: Akka's positional templates get names where the word before
/// a hole says what it is (<c>job {0}</c> → <c>{JobId}</c>, <c>runner {0}</c> → <c>{Runner}</c>, <c>pod {0}</c> →
/// <c>{Pod}</c>), and the actor path tells the job and the runner entry of actors below <c>intake-&lt;name&gt;-&lt;n&gt;</c>
/// and <c>job-&lt;id&gt;</c>.
/// </summary>
public static partial class ActorLogContext
{
    public const string ActorPath = "ActorPath";
    public const string JobId = "JobId";
    public const string Runner = "Runner";
    public const string Pod = "Pod";

    private static readonly (string Word, string Name)[] Keywords = [("job", JobId), ("runner", Runner), ("pod", Pod)];

    /// <summary>
    /// <paramref name="template"/> with its first <c>job {n}</c>, <c>runner {n}</c> and <c>pod {n}</c> holes named. Serilog
    /// binds the arguments of a template with named holes by order of appearance, so the holes are renamed only when the
    /// positional ones appear as {0}, {1}, … in order; any other template is returned as it is.
    /// </summary>
    public static string NameHoles(string template)
    {
        var holes = Hole().Matches(template);
        if (holes.Count == 0)
        {
            return template;
        }

        for (var i = 0; i < holes.Count; i++)
        {
            if (!holes[i].Groups["index"].Success || holes[i].Groups["index"].Value != i.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                return template;
            }
        }

        var named = template;
        foreach (var (word, name) in Keywords)
        {
            var match = Regex.Match(named, $@"\b{word} \{{\d+(?<format>[,:][^}}]*)?\}}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            if (match.Success && !IsEscaped(named, match.Index + word.Length + 1))
            {
                named = string.Concat(named.AsSpan(0, match.Index), $"{match.Value[..(word.Length + 1)]}{{{name}{match.Groups["format"].Value}}}",
                    named.AsSpan(match.Index + match.Length));
            }
        }

        return named;
    }

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

    // A hole's opening brace is escaped when doubled ({{0}} is literal text).
    private static bool IsEscaped(string template, int braceIndex) => braceIndex > 0 && template[braceIndex - 1] == '{';

    [GeneratedRegex(@"(?<!\{)\{(?:(?<index>\d+)|[A-Za-z_][A-Za-z0-9_]*)(?:[,:][^}]*)?\}")]
    private static partial Regex Hole();

    [GeneratedRegex(@"^job-(?<id>\d+)$")]
    private static partial Regex JobSegment();

    [GeneratedRegex(@"^intake-(?<name>.+)-\d+$")]
    private static partial Regex IntakeSegment();
}
