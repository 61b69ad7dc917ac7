// One method per GitLab runner API endpoint (register, verify, request job, update, trace, artifacts), each with the
// answer codes GitLab Runner handles; they share the request plumbing at the end of the file.
using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scheduler.Messages.Jobs;
using Scheduler.Metrics;

namespace Scheduler.GitLab;

/// <summary>How the client describes itself and where it counts its requests.</summary>
public sealed record GitLabClientOptions(RunnerIdentity Identity, string SystemId)
{
    public IReadOnlyDictionary<string, bool> Features { get; init; } = RunnerFeatures.Advertised;

    /// <summary>Where each answer is counted (<c>gitlab_runner_api_request_statuses_total</c>); none when null.</summary>
    public RunnerMetrics? Metrics { get; init; }

    /// <summary>The <c>runner</c> label of the counted requests (see <see cref="RunnerMetrics.ShortToken"/>).</summary>
    public string MetricsRunner { get; init; } = "";
}

/// <summary>
/// The GitLab runner API (<c>/api/v4</c>) over one <see cref="HttpClient"/>. Every method returns a result record: HTTP
/// statuses never throw, and network errors come back as a result with status 0. Only cancellation of the caller's token
/// throws. No retries happen here; the caller decides with <see cref="Backoff"/>. Tokens go in bodies and headers only,
/// never in URLs or messages.
/// </summary>
public sealed class GitLabClient
{
    public const string RequestJobEndpoint = "request_job";
    public const string UpdateJobEndpoint = "update_job";
    public const string PatchTraceEndpoint = "patch_trace";
    public const string RegisterEndpoint = "register_runner";
    public const string VerifyEndpoint = "verify_runner";
    public const string UploadArtifactsEndpoint = GitLabArtifacts.UploadEndpoint;
    public const string DownloadArtifactsEndpoint = GitLabArtifacts.DownloadEndpoint;

    private readonly HttpClient _http;
    private readonly Uri _apiBase;
    private readonly GitLabClientOptions _options;
    private readonly string _userAgent;
    private readonly GitLabArtifacts _artifacts;
    private string? _info;

    public GitLabClient(HttpClient http, Uri apiBase, GitLabClientOptions options)
    {
        _http = http;
        _apiBase = apiBase;
        _options = options;
        _userAgent = GitLabArtifacts.UserAgent(options.Identity);
        _artifacts = new GitLabArtifacts(http, apiBase, _userAgent, Count);
    }

    public Uri ApiBase => _apiBase;

    /// <summary><c>POST /jobs/request</c>: ask for a job for the runner token.</summary>
    public async Task<RequestJobResult> RequestJobAsync(string runnerToken, string? lastUpdate, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["token"] = runnerToken,
            ["system_id"] = _options.SystemId,
        };
        if (!string.IsNullOrEmpty(lastUpdate))
        {
            body["last_update"] = lastUpdate;
        }

        using var request = JsonRequest(HttpMethod.Post, "jobs/request", body, acceptJson: true);
        request.Headers.TryAddWithoutValidation("RUNNER-TOKEN", runnerToken);
        var response = await SendAsync(RequestJobEndpoint, request, cancellationToken);
        var header = response.Header(AnswerHeaders.LastUpdate);
        return response.Status switch
        {
            201 => ParseJob(response, header),
            204 => new RequestJobResult.NoJob(NullIfEmpty(header)),
            403 => new RequestJobResult.Forbidden(response.Message("forbidden")),
            0 or 408 or 409 or 429 or >= 500 => new RequestJobResult.Retry(response.Status, response.RetryAfter, response.Message("failed")),
            _ => new RequestJobResult.Failed(response.Status, response.Message("failed")),
        };
    }

    /// <summary><c>PUT /jobs/:id</c>: the two-phase ack (<c>running</c>), a keep-alive, or the final state. Abort on 403/404,
    /// or when a running/pending update learns the job is canceled or failed; a final update answered 200 is Accepted.</summary>
    public async Task<UpdateJobResult> UpdateJobAsync(long jobId, string jobToken, JobUpdate update, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["token"] = jobToken,
            ["state"] = update.State.ToString().ToLowerInvariant(),
        };
        if (!string.IsNullOrEmpty(update.FailureReason))
        {
            body["failure_reason"] = update.FailureReason;
        }

        if (update.Checksum is not null)
        {
            body["checksum"] = update.Checksum;
        }

        var output = new JsonObject();
        if (update.Checksum is not null)
        {
            output["checksum"] = update.Checksum;
        }

        if (update.ByteSize is { } size)
        {
            output["bytesize"] = size;
        }

        body["output"] = output;
        if (update.ExitCode != 0)
        {
            body["exit_code"] = update.ExitCode;
        }

        using var request = JsonRequest(HttpMethod.Put, $"jobs/{jobId}", body, acceptJson: false);
        request.Headers.TryAddWithoutValidation("JOB-TOKEN", jobToken);
        var response = await SendAsync(UpdateJobEndpoint, request, cancellationToken);
        var jobStatus = response.Header(AnswerHeaders.JobStatus);
        var interval = response.UpdateInterval;
        // A 200 to a final update is its acknowledgement, whatever the job's status now; during the run (running or
        // pending), Job-Status canceled or failed means the job was stopped on GitLab's side.
        var stoppedDuringRun = jobStatus is "canceled" or "failed" && update.State is JobState.Running or JobState.Pending;
        var outcome = stoppedDuringRun || response.Status is 403 or 404
            ? UpdateOutcome.Abort
            : response.Status switch
            {
                200 => UpdateOutcome.Accepted,
                202 => UpdateOutcome.TryAgain,
                412 => UpdateOutcome.TraceValidationFailed,
                _ => UpdateOutcome.Failed,
            };
        return new UpdateJobResult(outcome, response.Status, jobStatus, interval, response.Message(outcome.ToString()));
    }

    /// <summary><c>PATCH /jobs/:id/trace</c>: bytes <c>[start, start + content.Length)</c> of the job log (at most 1 MiB).</summary>
    public async Task<PatchTraceResult> PatchTraceAsync(long jobId, string jobToken, long start, ReadOnlyMemory<byte> content,
        bool debugTrace = false, CancellationToken cancellationToken = default)
    {
        if (content.Length == 0 || content.Length > TraceUploadState.MaxPatchBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(content), content.Length, "a trace patch holds 1 byte to 1 MiB");
        }

        var patch = new TracePatch(start, content.Length);
        using var request = new HttpRequestMessage(HttpMethod.Patch,
            new Uri(_apiBase, $"jobs/{jobId}/trace?debug_trace={(debugTrace ? "true" : "false")}"));
        AddCommonHeaders(request);
        request.Headers.TryAddWithoutValidation("JOB-TOKEN", jobToken);
        request.Content = new ReadOnlyMemoryContent(content);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        request.Content.Headers.TryAddWithoutValidation("Content-Range", patch.ContentRange);
        var response = await SendAsync(PatchTraceEndpoint, request, cancellationToken);
        var jobStatus = response.Header(AnswerHeaders.JobStatus);
        var interval = response.UpdateInterval;
        if (jobStatus is "canceled" or "failed" || response.Status == 403)
        {
            return new PatchTraceResult(PatchOutcome.Abort, response.Status, null, jobStatus, interval, response.Message("aborted"));
        }

        return response.Status switch
        {
            202 => new PatchTraceResult(PatchOutcome.Accepted, 202, RangeEnd(response.Header(AnswerHeaders.Range)) ?? start + content.Length,
                jobStatus, interval, "accepted"),
            416 => new PatchTraceResult(PatchOutcome.RangeMismatch, 416, RangeEnd(response.Header(AnswerHeaders.Range)) ?? 0,
                jobStatus, interval, "range mismatch"),
            404 => new PatchTraceResult(PatchOutcome.NotFound, 404, null, jobStatus, interval, response.Message("not found")),
            _ => new PatchTraceResult(PatchOutcome.Failed, response.Status, null, jobStatus, interval, response.Message("failed")),
        };
    }

    /// <summary><c>POST /jobs/:id/artifacts</c>: one multipart <c>file</c> part named <paramref name="fileName"/>
    /// (see <see cref="GitLabArtifacts.UploadAsync"/>).</summary>
    public Task<ArtifactsResult> UploadArtifactsAsync(long jobId, string jobToken, Stream archive, string fileName,
        string? format = null, string? type = null, string? expireIn = null, CancellationToken cancellationToken = default) =>
        _artifacts.UploadAsync(jobId, jobToken, archive, fileName, format, type, expireIn, cancellationToken);

    /// <summary><c>GET /jobs/:id/artifacts</c>: the archive of job <paramref name="jobId"/>, written to <paramref name="destination"/>
    /// (see <see cref="GitLabArtifacts.DownloadAsync"/>).</summary>
    public Task<ArtifactsResult> DownloadArtifactsAsync(long jobId, string jobToken, Stream destination, CancellationToken cancellationToken = default) =>
        _artifacts.DownloadAsync(jobId, jobToken, destination, cancellationToken);

    /// <summary><c>POST /runners</c>: register with a legacy registration token.</summary>
    public async Task<RunnerCallResult> RegisterAsync(RegistrationRequest registration, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["description"] = registration.Description,
            ["run_untagged"] = registration.RunUntagged,
            ["locked"] = registration.Locked,
            ["paused"] = registration.Paused,
            ["token"] = registration.RegistrationToken,
        };
        if (registration.TagList.Count > 0)
        {
            body["tag_list"] = string.Join(",", registration.TagList);
        }

        if (registration.MaximumTimeout is { } timeout)
        {
            body["maximum_timeout"] = timeout;
        }

        using var request = JsonRequest(HttpMethod.Post, "runners", body, acceptJson: true);
        request.Headers.TryAddWithoutValidation("RUNNER-TOKEN", registration.RegistrationToken);
        var response = await SendAsync(RegisterEndpoint, request, cancellationToken);
        return RunnerCall(response, 201);
    }

    /// <summary><c>POST /runners/verify</c>: is this runner token (legacy or <c>glrt-</c>) valid?</summary>
    public async Task<RunnerCallResult> VerifyAsync(string runnerToken, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["token"] = runnerToken,
            ["system_id"] = _options.SystemId,
        };
        using var request = JsonRequest(HttpMethod.Post, "runners/verify", body, acceptJson: true);
        request.Headers.TryAddWithoutValidation("RUNNER-TOKEN", runnerToken);
        var response = await SendAsync(VerifyEndpoint, request, cancellationToken);
        return RunnerCall(response, 200);
    }

    private static RunnerCallResult RunnerCall(RawResponse response, int expected)
    {
        if (response.Status == expected)
        {
            // A legacy GitLab answers verify with the text "200": valid, without details.
            return new RunnerCallResult(RunnerCallOutcome.Succeeded, expected, ParseCredentials(response.Body), "ok");
        }

        var outcome = response.Status switch
        {
            403 => RunnerCallOutcome.Forbidden,
            410 => RunnerCallOutcome.Gone,
            0 or 408 or 429 or >= 500 => RunnerCallOutcome.Failed,
            _ => RunnerCallOutcome.Rejected,
        };
        return new RunnerCallResult(outcome, response.Status, null, response.Message(outcome.ToString().ToLowerInvariant()));
    }

    private static RunnerCredentials? ParseCredentials(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("id", out var id) || !id.TryGetInt64(out var idValue)
                || !root.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String)
            {
                return null;
            }

            DateTimeOffset? expires = root.TryGetProperty("token_expires_at", out var expiresAt)
                                      && expiresAt.ValueKind == JsonValueKind.String
                                      && DateTimeOffset.TryParse(expiresAt.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : null;
            return new RunnerCredentials(idValue, token.GetString()!, expires);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static RequestJobResult ParseJob(RawResponse response, string? lastUpdate)
    {
        var parsed = JobPayloadParser.Parse(response.Body);
        return parsed.Payload is { } job
            ? new RequestJobResult.Received(job, NullIfEmpty(lastUpdate))
            : new RequestJobResult.Failed(201, $"GitLab sent a job that cannot be read: {parsed.Error}");
    }

    /// <summary>The second number of <c>Range: 0-N</c>; null for any other shape.</summary>
    internal static long? RangeEnd(string? range)
    {
        if (range is null)
        {
            return null;
        }

        var parts = range.Split('-');
        return parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var end) ? end : null;
    }

    // The runner's info is the same in every request: serialized once, written into each body as it is.
    private string InfoJson() => _info ??= BuildInfoJson().ToJsonString();

    private JsonObject BuildInfoJson()
    {
        var identity = _options.Identity;
        var features = new JsonObject();
        foreach (var (name, enabled) in _options.Features)
        {
            features[name] = enabled;
        }

        return new JsonObject
        {
            ["name"] = identity.Name ?? "scheduler",
            ["version"] = identity.Version,
            ["revision"] = identity.Revision,
            ["platform"] = "linux",
            ["architecture"] = identity.Architecture,
            ["executor"] = "kubernetes",
            ["features"] = features,
        };
    }

    /// <summary>A request whose JSON body is the runner's <c>info</c> followed by <paramref name="body"/>'s properties.</summary>
    private HttpRequestMessage JsonRequest(HttpMethod method, string path, JsonObject body, bool acceptJson)
    {
        // One buffer per thread, reused (this method does not await): each request copies out only the bytes it wrote.
        var json = t_json ??= new ArrayBufferWriter<byte>(4096);
        json.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("info");
            writer.WriteRawValue(InfoJson(), skipInputValidation: true);
            foreach (var (name, value) in body)
            {
                writer.WritePropertyName(name);
                if (value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    value.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        var content = new ByteArrayContent(json.WrittenSpan.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        var request = new HttpRequestMessage(method, new Uri(_apiBase, path)) { Content = content };
        AddCommonHeaders(request);
        if (acceptJson)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        }

        return request;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_json;

    private void AddCommonHeaders(HttpRequestMessage request)
    {
        request.Headers.TryAddWithoutValidation("User-Agent", _userAgent);
        request.Headers.TryAddWithoutValidation("X-Request-Id", Guid.NewGuid().ToString("N"));
    }

    private async Task<RawResponse> SendAsync(string endpoint, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        RawResponse response;
        try
        {
            using var message = await _http.SendAsync(request, cancellationToken);
            response = await RawResponse.ReadAsync(message, cancellationToken);
        }
        catch (Exception ex) when (IsNetworkError(ex, cancellationToken))
        {
            response = RawResponse.NetworkError(ex.Message);
        }

        Count(endpoint, response.Status, request.Method.Method);
        return response;
    }

    private void Count(string endpoint, int status, string method) =>
        _options.Metrics?.ApiRequest(_options.MetricsRunner, endpoint, status, method);

    private static bool IsNetworkError(Exception ex, CancellationToken cancellationToken) =>
        GitLabAnswerText.IsNetworkError(ex, cancellationToken);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>An answer read into memory (the runner API's answers are small), or a network error (status 0).</summary>
    private sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body, TimeSpan? RetryAfter)
    {
        private const int MaxBodyChars = 4 * 1024 * 1024;

        public static RawResponse NetworkError(string message) =>
            new(0, new Dictionary<string, string>(), "", null) { NetworkMessage = message };

        private string? NetworkMessage { get; init; }

        public static async Task<RawResponse> ReadAsync(HttpResponseMessage message, CancellationToken cancellationToken)
        {
            // Only the headers the client reads are kept: copying every header of every answer cost a dictionary and a
            // string per header on each of a job's requests.
            var headers = new Dictionary<string, string>(AnswerHeaders.Kept.Length, StringComparer.OrdinalIgnoreCase);
            foreach (var name in AnswerHeaders.Kept)
            {
                if (message.Headers.NonValidated.TryGetValues(name, out var values))
                {
                    headers[name] = values.Count == 1 ? values.ToString() : string.Join(",", values);
                }
            }

            var body = await message.Content.ReadAsStringAsync(cancellationToken);
            if (body.Length > MaxBodyChars)
            {
                body = body[..MaxBodyChars];
            }

            return new RawResponse((int)message.StatusCode, headers, body, GitLabAnswerText.RetryAfter(message));
        }

        /// <summary>A kept header's value; a name that is not kept throws (it would always read null).</summary>
        public string? Header(string name) => Headers.TryGetValue(AnswerHeaders.Require(name), out var value) ? value.Trim() : null;

        public TimeSpan? UpdateInterval =>
            int.TryParse(Header(AnswerHeaders.TraceUpdateInterval), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
                ? TimeSpan.FromSeconds(Math.Min(seconds, 15 * 60))
                : null;

        /// <summary>GitLab's <c>{"message": ...}</c> flattened, or a fallback; never the request, so never a token.</summary>
        public string Message(string fallback)
        {
            if (Status == 0)
            {
                return $"network error: {NetworkMessage}";
            }

            return GitLabAnswerText.Message(Status, Body, fallback);
        }
    }
}

/// <summary>The answer headers the client reads. An answer keeps only these (copying every header of every answer cost a
/// dictionary and a string per header), so a header is read by one of these names, and a name missing from
/// <see cref="Kept"/> throws instead of silently reading null.</summary>
internal static class AnswerHeaders
{
    public const string LastUpdate = "X-GitLab-Last-Update";
    public const string JobStatus = "Job-Status";
    public const string TraceUpdateInterval = "X-GitLab-Trace-Update-Interval";
    public const string Range = "Range";

    /// <summary>The headers an answer keeps: every name above.</summary>
    public static readonly string[] Kept = [LastUpdate, JobStatus, TraceUpdateInterval, Range];

    /// <summary>The name, when an answer keeps it; otherwise a bug of the client, which throws.</summary>
    public static string Require(string name)
    {
        foreach (var kept in Kept)
        {
            if (string.Equals(kept, name, StringComparison.OrdinalIgnoreCase))
            {
                return name;
            }
        }

        throw new ArgumentException($"the answer header {name} is not kept: add it to {nameof(AnswerHeaders)}.{nameof(Kept)}", nameof(name));
    }
}
