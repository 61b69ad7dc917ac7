using System.Globalization;
using System.Text.RegularExpressions;
using Scheduler.Messages.Settings;

namespace Scheduler.Cache;

/// <summary>GitLab Runner's name of a cache object: <c>[Path/]runner/&lt;short token&gt;/project/&lt;id&gt;/&lt;key&gt;</c>,
/// without the <c>runner/…</c> part when the cache is <c>Shared</c>, so caches made by GitLab Runner are found.</summary>
public static partial class CacheObjectName
{
    /// <summary>The object name, or null when <paramref name="key"/> would leave the project's part of the bucket (GitLab
    /// Runner refuses such keys too; sanitized keys never do).</summary>
    public static string? For(CacheSettings cache, string runnerToken, long projectId, string key)
    {
        var segments = new List<string>();
        AddPath(segments, cache.Path);
        if (!cache.Shared)
        {
            segments.Add("runner");
            AddPath(segments, ShortToken(runnerToken));
        }

        segments.Add("project");
        segments.Add(projectId.ToString(CultureInfo.InvariantCulture));
        var baseCount = segments.Count;
        foreach (var part in key.Split('/'))
        {
            switch (part)
            {
                case "" or ".":
                    continue;
                case "..":
                    if (segments.Count <= baseCount)
                    {
                        return null;
                    }

                    segments.RemoveAt(segments.Count - 1);
                    continue;
                default:
                    segments.Add(part);
                    continue;
            }
        }

        return segments.Count > baseCount ? string.Join('/', segments) : null;
    }

    /// <summary>GitLab Runner's short token: its known prefixes (<c>glrt-</c> with an optional <c>t1_</c>..<c>t3_</c>
    /// partition, a bare partition, <c>glrtr-</c>, <c>glcbt-</c>, a legacy <c>GR</c> with 7 hex digits) stripped, then the
    /// first 9 characters.</summary>
    public static string ShortToken(string token)
    {
        var rest = RunnerPrefix().Replace(token, "", 1);
        rest = JobPrefix().Replace(rest, "", 1);
        rest = LegacyPrefix().Replace(rest, "", 1);
        return rest.Length > 9 ? rest[..9] : rest;
    }

    private static void AddPath(List<string> segments, string path) =>
        segments.AddRange(path.Split('/').Where(s => s.Length > 0 && s != "."));

    [GeneratedRegex("^glrt-(t[123]_)?|^t[123]_|^glrtr-")]
    private static partial Regex RunnerPrefix();

    [GeneratedRegex("^glcbt-")]
    private static partial Regex JobPrefix();

    [GeneratedRegex("^GR[0-9A-Fa-f]{7}")]
    private static partial Regex LegacyPrefix();
}
