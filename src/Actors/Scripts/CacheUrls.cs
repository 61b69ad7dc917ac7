using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>The pre-signed URLs of one cache key's object in the distributed cache, or why there are none
/// (<paramref name="Warning"/>, printed in the job's trace; the cache then stays in the pod). The URLs are secrets: they
/// travel in the job Secret only, and the printed form of the record leaves them out.</summary>
public sealed record CacheObjectUrls(string? Download, string? Upload, string? Warning = null)
{
    public override string ToString() => $"CacheObjectUrls {{ Download = {(Download is null ? "none" : "[hidden]")}, "
        + $"Upload = {(Upload is null ? "none" : "[hidden]")}, Warning = {Warning} }}";
}

/// <summary>Makes the URLs of a job's cache objects: the runner signs them, so the pod never sees the storage's
/// credentials. Implemented over S3 in the runner (<c>Scheduler/Cache</c>).</summary>
public interface ICacheUrlSource
{
    /// <summary>The URLs of <paramref name="key"/> (already sanitized) for <paramref name="job"/>, or null when the runner
    /// entry has no distributed cache. Never throws: a signing failure is a <see cref="CacheObjectUrls.Warning"/>.</summary>
    CacheObjectUrls? For(RunnerEntry runner, JobPayload job, string key);
}
