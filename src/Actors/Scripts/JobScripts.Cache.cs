using System.Globalization;
using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>The cache stages: restore (key, then fallback keys) and archive, local or through pre-signed URLs.</summary>
public static partial class JobScripts
{
    /// <summary>The cache archive of a key, as GitLab Runner's local cache: <c>&lt;cache dir&gt;/&lt;project&gt;/&lt;key&gt;/cache.zip</c>.</summary>
    public static string CacheFile(JobPayload job, string cacheDir, string key) =>
        cacheDir.TrimEnd('/') + "/" + SafeRelativePath(job.JobInfo.ProjectFullPath, "project-" + job.JobInfo.ProjectId.ToString(CultureInfo.InvariantCulture))
        + "/" + key + "/cache.zip";

    // GitLab Runner's restore: the main key, then each fallback key while extraction fails; a failed extraction is a
    // warning, never a failed job. With a distributed cache the helper first downloads the archive from its pre-signed URL
    // (read from the job Secret; a missing object is "no cache").
    private static string RestoreCacheBody(IEnumerable<(JobCache Cache, int Index)> caches, ScriptContext context)
    {
        var body = new StringBuilder();
        foreach (var (cache, _) in caches)
        {
            var warnings = new List<string>();
            var (key, warning) = context.CacheKey(cache);
            if (warning is not null)
            {
                warnings.Add(warning);
            }

            if (key is null)
            {
                AppendWarnings(body, warnings);
                body.Append("echo 'Skipping cache extraction due to empty cache key'\n");
                continue;
            }

            var keys = new List<string> { key };
            keys.AddRange(context.CacheFallbackKeys(cache, warnings));
            var attempts = keys.Select(k => (Key: k, Command: context.Helper("cache-extractor",
                [.. UrlArgs(context.CacheUrlFile(k, upload: false, warnings), context), "--file", CacheFile(context.Job, context.Options.CacheDir, k)]))).ToList();
            AppendWarnings(body, warnings);
            AppendExtract(body, attempts, 0, "");
        }

        return body.ToString();
    }

    private static void AppendExtract(StringBuilder body, IReadOnlyList<(string Key, string Command)> attempts, int index, string indent)
    {
        var (key, command) = attempts[index];
        body.Append(indent).Append("printf 'Checking cache for %s...\\n' ").Append(ShellText.Quote(key)).Append('\n');
        body.Append(indent).Append("if ").Append(command).Append("; then\n");
        body.Append(indent).Append("  echo \"Successfully extracted cache\"\n");
        body.Append(indent).Append("else\n");
        body.Append(indent).Append("  echo \"WARNING: Failed to extract cache\"\n");
        if (index + 1 < attempts.Count)
        {
            AppendExtract(body, attempts, index + 1, indent + "  ");
        }

        body.Append(indent).Append("fi\n");
    }

    private static string ArchiveCacheBody(IEnumerable<(JobCache Cache, int Index)> caches, ScriptContext context)
    {
        var body = new StringBuilder();
        foreach (var (cache, _) in caches)
        {
            var warnings = new List<string>();
            var (key, warning) = context.CacheKey(cache);
            if (warning is not null)
            {
                warnings.Add(warning);
            }

            if (key is null)
            {
                AppendWarnings(body, warnings);
                body.Append("echo 'Skipping cache archiving due to empty cache key'\n");
                continue;
            }

            var args = new List<string> { "--file", CacheFile(context.Job, context.Options.CacheDir, key) };
            foreach (var path in cache.Paths)
            {
                args.Add("--path");
                args.Add(context.ExpandPublic(path));
            }

            if (cache.Untracked)
            {
                args.Add("--untracked");
            }

            if (context.CacheUrlFile(key, upload: true, warnings) is { } urlFile)
            {
                args.AddRange(UrlArgs(urlFile, context));
                if (context.MaxUploadedArchiveSize > 0)
                {
                    args.AddRange(["--max-uploaded-archive-size", context.MaxUploadedArchiveSize.ToString(CultureInfo.InvariantCulture)]);
                }
            }

            AppendWarnings(body, warnings);
            body.Append("printf 'Creating cache %s...\\n' ").Append(ShellText.Quote(key)).Append('\n');
            body.Append("if ").Append(context.Helper("cache-archiver", [.. args]))
                .Append("; then echo \"Created cache\"; else echo \"WARNING: Failed to create cache\"; fi\n");
        }

        return body.ToString();
    }

    private static string[] UrlArgs(string? urlFile, ScriptContext context) =>
        urlFile is null ? [] : ["--url-file", urlFile, "--timeout", context.CacheRequestTimeout];

    private static void AppendWarnings(StringBuilder body, IEnumerable<string> warnings)
    {
        // One signing failure concerns every key of the cache: say it once.
        foreach (var warning in warnings.Distinct(StringComparer.Ordinal))
        {
            body.Append("echo ").Append(ShellText.Quote("WARNING: " + warning)).Append('\n');
        }
    }
}
