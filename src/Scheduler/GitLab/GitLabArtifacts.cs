using System.Net.Http.Headers;
using System.Text;
using Scheduler.Messages.Jobs;

namespace Scheduler.GitLab;

public enum ArtifactsOutcome
{
    /// <summary>201 on upload, 200 on download.</summary>
    Succeeded,

    /// <summary>401 or 403: no retry.</summary>
    Forbidden,

    /// <summary>404 on download: the artifacts do not exist.</summary>
    NotFound,

    /// <summary>413 on upload: no retry.</summary>
    TooLarge,

    /// <summary>429, 5xx or a network error: worth retrying.</summary>
    Retry,

    /// <summary>Anything else.</summary>
    Failed,
}

public sealed record ArtifactsResult(ArtifactsOutcome Outcome, int StatusCode, long Bytes, TimeSpan? RetryAfter, string Message);

/// <summary>
/// The artifact calls of the GitLab runner API (<c>POST</c> and <c>GET /jobs/:id/artifacts</c>) over one
/// <see cref="HttpClient"/> (<see cref="GitLabHttp.CreateClient"/>: its redirects never carry the token to another host).
/// Kept apart from <see cref="GitLabClient"/>, which delegates here, so that the native pod helper (src/PodHelper) links
/// it without the rest of the runner: no reflection, error bodies read through <see cref="GitLabAnswerText"/>. Archives
/// stream in both directions; an error body is read up to <see cref="MaxErrorBodyBytes"/>. HTTP statuses never throw,
/// network errors come back as status 0; only the caller's cancellation throws. No retries here: the callers decide.
/// </summary>
/// <param name="count">Called with (endpoint, status, method) for each answer (the runner's request metrics), or null.</param>
public sealed class GitLabArtifacts(HttpClient http, Uri apiBase, string userAgent, Action<string, int, string>? count = null)
{
    public const string UploadEndpoint = "upload_artifacts";
    public const string DownloadEndpoint = "download_artifacts";

    /// <summary>An error answer's body is read up to this size (GitLab's are a few hundred bytes); a longer one is cut and
    /// its message left out.</summary>
    public const int MaxErrorBodyBytes = 64 * 1024;

    /// <summary>The <c>User-Agent</c> the runner and its helper send.</summary>
    public static string UserAgent(RunnerIdentity identity) =>
        $"scheduler {identity.Version} ({identity.Revision}; dotnet; linux/{identity.Architecture})";

    /// <summary><c>POST /jobs/:id/artifacts</c>: one multipart <c>file</c> part named <paramref name="fileName"/>, streamed
    /// from <paramref name="archive"/>.</summary>
    public async Task<ArtifactsResult> UploadAsync(long jobId, string jobToken, Stream archive, string fileName,
        string? format = null, string? type = null, string? expireIn = null, CancellationToken cancellationToken = default)
    {
        var query = new List<string>();
        if (!string.IsNullOrEmpty(format))
        {
            query.Add("artifact_format=" + Uri.EscapeDataString(format));
        }

        if (!string.IsNullOrEmpty(type))
        {
            query.Add("artifact_type=" + Uri.EscapeDataString(type));
        }

        if (!string.IsNullOrEmpty(expireIn))
        {
            query.Add("expire_in=" + Uri.EscapeDataString(expireIn));
        }

        var path = $"jobs/{jobId}/artifacts" + (query.Count == 0 ? "" : "?" + string.Join("&", query));
        using var request = Request(HttpMethod.Post, path, jobToken);
        var file = new StreamContent(archive);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Content = new MultipartFormDataContent { { file, "file", fileName } };
        var length = archive.CanSeek ? archive.Length - archive.Position : 0;
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (GitLabAnswerText.IsNetworkError(ex, cancellationToken))
        {
            count?.Invoke(UploadEndpoint, 0, "POST");
            return new ArtifactsResult(ArtifactsOutcome.Retry, 0, 0, null, $"network error: {ex.Message}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            count?.Invoke(UploadEndpoint, status, "POST");
            if (status == 201)
            {
                return new ArtifactsResult(ArtifactsOutcome.Succeeded, 201, length, null, "uploaded");
            }

            var body = await ErrorBodyAsync(response, cancellationToken);
            return status switch
            {
                401 or 403 => new ArtifactsResult(ArtifactsOutcome.Forbidden, status, 0, null, GitLabAnswerText.Message(status, body, "forbidden")),
                413 => new ArtifactsResult(ArtifactsOutcome.TooLarge, 413, 0, null, GitLabAnswerText.Message(status, body, "too large")),
                408 or 429 or >= 500 => new ArtifactsResult(ArtifactsOutcome.Retry, status, 0, GitLabAnswerText.RetryAfter(response),
                    GitLabAnswerText.Message(status, body, "failed")),
                _ => new ArtifactsResult(ArtifactsOutcome.Failed, status, 0, null, GitLabAnswerText.Message(status, body, "failed")),
            };
        }
    }

    /// <summary><c>GET /jobs/:id/artifacts</c>: the archive of job <paramref name="jobId"/>, streamed to <paramref name="destination"/>.
    /// <paramref name="jobToken"/> is the dependency's token from the payload (the running job's token on current GitLab).</summary>
    public async Task<ArtifactsResult> DownloadAsync(long jobId, string jobToken, Stream destination, CancellationToken cancellationToken = default)
    {
        using var request = Request(HttpMethod.Get, $"jobs/{jobId}/artifacts", jobToken);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (GitLabAnswerText.IsNetworkError(ex, cancellationToken))
        {
            count?.Invoke(DownloadEndpoint, 0, "GET");
            return new ArtifactsResult(ArtifactsOutcome.Retry, 0, 0, null, $"network error: {ex.Message}");
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            count?.Invoke(DownloadEndpoint, status, "GET");
            if (status == 200)
            {
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                    var start = destination.CanSeek ? destination.Position : 0;
                    await body.CopyToAsync(destination, cancellationToken);
                    var written = destination.CanSeek ? destination.Position - start : 0;
                    return new ArtifactsResult(ArtifactsOutcome.Succeeded, 200, written, null, "downloaded");
                }
                catch (Exception ex) when (GitLabAnswerText.IsNetworkError(ex, cancellationToken))
                {
                    return new ArtifactsResult(ArtifactsOutcome.Retry, 0, 0, null, $"network error while downloading: {ex.Message}");
                }
            }

            var text = await ErrorBodyAsync(response, cancellationToken);
            return status switch
            {
                401 or 403 => new ArtifactsResult(ArtifactsOutcome.Forbidden, status, 0, null, GitLabAnswerText.Message(status, text, "forbidden")),
                404 => new ArtifactsResult(ArtifactsOutcome.NotFound, 404, 0, null, GitLabAnswerText.Message(status, text, "not found")),
                408 or 429 or >= 500 => new ArtifactsResult(ArtifactsOutcome.Retry, status, 0, GitLabAnswerText.RetryAfter(response),
                    GitLabAnswerText.Message(status, text, "failed")),
                _ => new ArtifactsResult(ArtifactsOutcome.Failed, status, 0, null, GitLabAnswerText.Message(status, text, "failed")),
            };
        }
    }

    private HttpRequestMessage Request(HttpMethod method, string path, string jobToken)
    {
        var request = new HttpRequestMessage(method, new Uri(apiBase, path));
        request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        request.Headers.TryAddWithoutValidation("X-Request-Id", Guid.NewGuid().ToString("N"));
        request.Headers.TryAddWithoutValidation("JOB-TOKEN", jobToken);
        return request;
    }

    /// <summary>How long an error answer's body is read: the request's own time limit is over once its headers are in, and
    /// a proxy that sends a 502's headers and then nothing would hold the job until its timeout.</summary>
    internal static readonly TimeSpan ErrorBodyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>At most <see cref="MaxErrorBodyBytes"/> of the body as text, read for at most <paramref name="timeout"/>
    /// (<see cref="ErrorBodyTimeout"/>); empty when it cannot be read in that time (the status still decides).</summary>
    internal static async Task<string> ErrorBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        var buffer = new byte[MaxErrorBodyBytes];
        var filled = 0;
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        reading.CancelAfter(timeout ?? ErrorBodyTimeout);
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(reading.Token);
            int read;
            while (filled < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(filled), reading.Token)) > 0)
            {
                filled += read;
            }
        }
        catch (Exception ex) when (GitLabAnswerText.IsNetworkError(ex, cancellationToken))
        {
            return "";
        }

        return Encoding.UTF8.GetString(buffer, 0, filled);
    }
}
