using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scheduler.FakeGitLab;

/// <summary>
/// GitLab's runner API on 127.0.0.1 (or a given address), behaving as reference §8 describes: job queues per runner token, registration and
/// verify, two-phase <c>running</c>, <c>Job-Status</c> on updates and patches, strict trace appends with 416 + <c>Range</c>,
/// cancellation through <c>canceling</c>, artifacts per job with dependency downloads, injected faults, and a request log.
/// </summary>
public sealed class FakeGitLabServer : IAsyncDisposable
{
    public static readonly IReadOnlyList<string> FailureReasons =
    [
        "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure",
        "missing_dependency_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout", "archived_failure",
        "unmet_prerequisites", "scheduler_failure", "data_integrity_failure", "runner_configuration_error",
        "runner_external_dependency_failure", "runner_interrupted", "trace_size_exceeded", "job_token_expired",
    ];

    private readonly object _gate = new();
    private readonly WebApplication _app;
    private readonly Dictionary<string, FakeRunner> _runners = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registrationTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<long, FakeJob> _jobs = [];
    private readonly List<Fault> _faults = [];
    private readonly List<RecordedRequest> _requests = [];
    private FakeChaos? _chaos;
    private Random _chaosRandom = new();
    private int _chaosStatusTurn;
    private long _nextJobId = 1000;
    private long _nextRunnerId = 1;

    private FakeGitLabServer(WebApplication app, string url)
    {
        _app = app;
        Url = url;
        Git = new FakeGitHttp(token =>
        {
            lock (_gate)
            {
                return _jobs.Values.Any(job => job.Token == token && job.Status == "running");
            }
        });
    }

    /// <summary>The Git smart HTTP side: repositories served at <c>&lt;Url&gt;/&lt;project path&gt;.git</c>.</summary>
    public FakeGitHttp Git { get; }

    /// <summary>The GitLab URL, e.g. <c>http://127.0.0.1:41234</c> (what goes in a runner entry's <c>url</c>).</summary>
    public string Url { get; }

    /// <summary>The <c>X-GitLab-Trace-Update-Interval</c> sent on patches (real GitLab: 60, or 3 while watched).</summary>
    public int TraceUpdateIntervalSeconds { get; set; } = 1;

    /// <summary>How long each trace PATCH waits before it is handled and answered (a slow GitLab). Zero: at once.</summary>
    public TimeSpan PatchTraceDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Artifact uploads above this size get 413.</summary>
    public long MaxArtifactBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Workhorse long polling: when positive, a job request whose <c>last_update</c> equals the runner's current queue
    /// version is held until a job is queued for it (then answered normally) or this long (then 204 without
    /// <c>X-GitLab-Last-Update</c>). Zero (the default) answers at once.</summary>
    public TimeSpan LongPollTimeout { get; set; } = TimeSpan.Zero;

    /// <summary>When false, <c>POST /runners</c> answers 410 as a GitLab with registration tokens disabled does.</summary>
    public bool RegistrationTokensEnabled { get; set; } = true;

    public static Task<FakeGitLabServer> StartAsync(CancellationToken cancellationToken = default) =>
        StartAsync(IPAddress.Loopback, null, cancellationToken);

    /// <summary>Listens on <paramref name="listenOn"/> (e.g. <see cref="IPAddress.Any"/>, or a veth address that a process in
    /// another network namespace can reach) on a free port. <see cref="Url"/> names <paramref name="urlHost"/> when given,
    /// otherwise the listening address (which must then be a concrete one).</summary>
    public static Task<FakeGitLabServer> StartAsync(IPAddress listenOn, string? urlHost, CancellationToken cancellationToken = default) =>
        StartAsync(listenOn, urlHost, null, cancellationToken);

    /// <summary>A self-managed GitLab on HTTPS at 127.0.0.1 with <paramref name="certificate"/> (with its private key), e.g.
    /// one issued by a private CA.</summary>
    public static Task<FakeGitLabServer> StartHttpsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate,
        CancellationToken cancellationToken = default) =>
        StartAsync(IPAddress.Loopback, null, certificate, cancellationToken);

    private static async Task<FakeGitLabServer> StartAsync(IPAddress listenOn, string? urlHost,
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        // No watch of the current directory for appsettings.json (a recursive inotify watch).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.Listen(listenOn, 0, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
            options.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        var address = app.Services.GetRequiredService<IServer>();
        FakeGitLabServer? server = null;
        app.Run(context => FakeGitHttp.IsGitPath(context.Request.Path) ? server!.Git.ServeAsync(context) : server!.HandleAsync(context));
        await app.StartAsync(cancellationToken);
        var bound = new Uri(address.Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var host = urlHost ?? (listenOn.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{listenOn}]" : listenOn.ToString());
        server = new FakeGitLabServer(app, $"{(certificate is null ? "http" : "https")}://{host}:{bound.Port}");
        return server;
    }

    // ---- test helpers ----

    public void AddRegistrationToken(string token)
    {
        lock (_gate)
        {
            _registrationTokens.Add(token);
        }
    }

    /// <summary>A runner that exists already (created in the UI, or registered earlier). Returns its token: the given one
    /// (e.g. <c>glrt-…</c>), or a new legacy-style token.</summary>
    public string AddRunner(string? token = null, string description = "runner")
    {
        lock (_gate)
        {
            return CreateRunner(token ?? NewToken(""), description, []).Token;
        }
    }

    public FakeRunner? Runner(string token)
    {
        lock (_gate)
        {
            return _runners.GetValueOrDefault(token);
        }
    }

    public IReadOnlyList<FakeRunner> Runners
    {
        get { lock (_gate) { return _runners.Values.ToArray(); } }
    }

    /// <summary>Queues a job for the runner with <paramref name="runnerToken"/>.</summary>
    public FakeJob EnqueueJob(string runnerToken, FakeJobBuilder? job = null)
    {
        job ??= new FakeJobBuilder();
        lock (_gate)
        {
            if (!_runners.TryGetValue(runnerToken, out var runner))
            {
                throw new InvalidOperationException("no runner with that token");
            }

            var id = ++_nextJobId;
            var token = NewToken("glcbt-");
            var json = job.Build(id, token, Url, dependencyId => _jobs.GetValueOrDefault(dependencyId)).ToJsonString();
            var name = JsonNode.Parse(json)!["job_info"]!["name"]!.GetValue<string>();
            var fake = new FakeJob(_gate, id, token, name, runnerToken, json, job.RequiredFeatures.ToArray(), job.Dependencies.ToArray());
            _jobs[id] = fake;
            runner.Queue.Enqueue(fake);
            runner.QueueVersion++;
            return fake;
        }
    }

    /// <summary>Queues a job whose 201 body is exactly <paramref name="json"/> (e.g. a damaged payload). Its token is
    /// <paramref name="jobToken"/>, for the endpoints that check it.</summary>
    public FakeJob EnqueueRawJob(string runnerToken, string json, string jobToken = "raw-job-token")
    {
        lock (_gate)
        {
            var runner = _runners[runnerToken];
            var id = ++_nextJobId;
            var fake = new FakeJob(_gate, id, jobToken, "raw", runnerToken, json, [], []);
            _jobs[id] = fake;
            runner.Queue.Enqueue(fake);
            runner.QueueVersion++;
            return fake;
        }
    }

    public FakeJob? Job(long id)
    {
        lock (_gate)
        {
            return _jobs.GetValueOrDefault(id);
        }
    }

    /// <summary>Cancels a job as the UI does: a queued job becomes <c>canceled</c>; a running one <c>canceling</c> when its
    /// runner advertised <c>cancel_gracefully</c> (or <paramref name="graceful"/> says so), otherwise <c>canceled</c>.</summary>
    public void CancelJob(long id, bool? graceful = null)
    {
        lock (_gate)
        {
            var job = _jobs[id];
            if (job.StatusUnlocked is "success" or "failed" or "canceled")
            {
                return;
            }

            if (!job.PickedUnlocked)
            {
                job.StatusUnlocked = "canceled";
                return;
            }

            var runner = _runners.GetValueOrDefault(job.RunnerToken);
            var gracefully = graceful ?? runner?.Features.GetValueOrDefault("cancel_gracefully") ?? false;
            job.StatusUnlocked = gracefully ? "canceling" : "canceled";
        }
    }

    /// <summary>Answers the final update (<c>success</c>/<c>failed</c>) of a job with 202 <paramref name="times"/> times
    /// before accepting it, as GitLab does while it persists the trace.</summary>
    public void DeferFinalUpdate(long jobId, int times)
    {
        lock (_gate)
        {
            _jobs[jobId].DeferredFinalUpdates = times;
        }
    }

    /// <summary>The next <paramref name="count"/> requests to <paramref name="endpoint"/> answer <paramref name="status"/>
    /// (with <c>Retry-After</c> when given). With <paramref name="applyBeforeFailing"/>, the request takes effect first and
    /// only its answer is replaced: a lost response.</summary>
    public void InjectFault(FakeEndpoint endpoint, int status, int count = 1, int? retryAfterSeconds = null, bool applyBeforeFailing = false)
    {
        lock (_gate)
        {
            _faults.Add(new Fault(endpoint, status, retryAfterSeconds, applyBeforeFailing) { Remaining = count });
        }
    }

    /// <summary>Random 5xx answers and lost answers (see <see cref="FakeChaos"/>); null (the default) turns them off. Setting it
    /// restarts the seeded draw.</summary>
    public FakeChaos? Chaos
    {
        get { lock (_gate) { return _chaos; } }
        set
        {
            lock (_gate)
            {
                _chaos = value;
                _chaosRandom = value?.Seed is { } seed ? new Random(seed) : new Random();
                _chaosStatusTurn = 0;
            }
        }
    }

    public IReadOnlyList<RecordedRequest> Requests
    {
        get { lock (_gate) { return _requests.ToArray(); } }
    }

    public IReadOnlyList<RecordedRequest> RequestsTo(FakeEndpoint endpoint) => Requests.Where(r => r.Endpoint == endpoint).ToArray();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Git.Dispose();
    }

    // ---- HTTP ----

    private async Task HandleAsync(HttpContext context)
    {
        var request = await FakeRequest.ReadAsync(context);
        if (Route(request, out _) == FakeEndpoint.PatchTrace && PatchTraceDelay > TimeSpan.Zero)
        {
            await Task.Delay(PatchTraceDelay, context.RequestAborted); // a slow GitLab: the body is read, the answer waits
        }

        var longPollTimedOut = Route(request, out _) == FakeEndpoint.RequestJob && await LongPollAsync(request, context.RequestAborted);
        FakeResponse response;
        string? chaos = null;
        lock (_gate)
        {
            var endpoint = Route(request, out var jobId);
            var fault = _faults.FirstOrDefault(f => f.Endpoint == endpoint && f.Remaining > 0);
            if (longPollTimedOut)
            {
                response = new FakeResponse(204);
            }
            else if (fault is not null)
            {
                fault.Remaining--;
                if (fault.ApplyBeforeFailing)
                {
                    Dispatch(endpoint, jobId, request);
                }

                response = Json(fault.Status, new JsonObject { ["message"] = $"{fault.Status} injected fault" });
                if (fault.RetryAfterSeconds is { } seconds)
                {
                    response.Headers["Retry-After"] = seconds.ToString(CultureInfo.InvariantCulture);
                }
            }
            else
            {
                switch (chaos = DrawChaosUnlocked(endpoint))
                {
                    case "5xx":
                        var status = ChaosStatuses[_chaosStatusTurn++ % ChaosStatuses.Length];
                        response = Json(status, new JsonObject { ["message"] = $"{status} injected chaos" });
                        break;
                    default:
                        response = Dispatch(endpoint, jobId, request);
                        break;
                }
            }

            var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase);
            _requests.Add(new RecordedRequest(endpoint, request.Method, request.Path, request.Query, headers,
                request.File?.Content ?? request.Body, response.Status) { Chaos = chaos });
        }

        if (chaos == "lost")
        {
            // Handled, but the runner never hears: the connection goes down instead of the answer.
            context.Abort();
            return;
        }

        if (Route(request, out _) == FakeEndpoint.RequestJob && LongPollTimeout > TimeSpan.Zero)
        {
            response.Headers["Gitlab-Ci-Builds-Polling"] = "yes";
        }

        context.Response.StatusCode = response.Status;
        foreach (var (name, value) in response.Headers)
        {
            context.Response.Headers[name] = value;
        }

        if (response.ContentType is not null)
        {
            context.Response.ContentType = response.ContentType;
        }

        if (response.Body.Length > 0)
        {
            await context.Response.Body.WriteAsync(response.Body);
        }
    }

    private static readonly int[] ChaosStatuses = [500, 502, 503];

    /// <summary>One draw for a request to <paramref name="endpoint"/>: <c>"5xx"</c>, <c>"lost"</c> or null.</summary>
    private string? DrawChaosUnlocked(FakeEndpoint endpoint)
    {
        if (_chaos is not { } chaos)
        {
            return null;
        }

        var errors = chaos.ServerErrorEndpoints.Contains(endpoint) ? chaos.ServerErrorRate : 0;
        var lost = chaos.LostAnswerEndpoints.Contains(endpoint) ? chaos.LostAnswerRate : 0;
        if (errors <= 0 && lost <= 0)
        {
            return null;
        }

        var draw = _chaosRandom.NextDouble();
        return draw < errors ? "5xx" : draw < errors + lost ? "lost" : null;
    }

    /// <summary>Holds a job request while the runner's queue is unchanged since its <c>last_update</c>; true when it timed out.</summary>
    private async Task<bool> LongPollAsync(FakeRequest request, CancellationToken aborted)
    {
        var timeout = LongPollTimeout;
        var body = request.JsonBody;
        var token = StringOf(body?["token"]);
        var lastUpdate = StringOf(body?["last_update"]);
        if (timeout <= TimeSpan.Zero || token is null || string.IsNullOrEmpty(lastUpdate))
        {
            return false;
        }

        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_gate)
            {
                if (!_runners.TryGetValue(token, out var runner)
                    || runner.QueueVersion.ToString(CultureInfo.InvariantCulture) != lastUpdate)
                {
                    return false;
                }
            }

            if (DateTime.UtcNow >= deadline)
            {
                return true;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), aborted);
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        }
    }

    private static FakeEndpoint Route(FakeRequest request, out long jobId)
    {
        jobId = 0;
        var segments = request.Path.Trim('/').Split('/');
        if (segments.Length < 3 || segments[0] != "api" || segments[1] != "v4")
        {
            return FakeEndpoint.Unknown;
        }

        var rest = segments[2..];
        return (request.Method, rest) switch
        {
            ("POST", ["runners"]) => FakeEndpoint.Register,
            ("DELETE", ["runners"]) => FakeEndpoint.Unregister,
            ("POST", ["runners", "verify"]) => FakeEndpoint.Verify,
            ("POST", ["jobs", "request"]) => FakeEndpoint.RequestJob,
            ("PUT", ["jobs", var id]) when long.TryParse(id, out jobId) => FakeEndpoint.UpdateJob,
            ("PATCH", ["jobs", var id, "trace"]) when long.TryParse(id, out jobId) => FakeEndpoint.PatchTrace,
            ("POST", ["jobs", var id, "artifacts"]) when long.TryParse(id, out jobId) => FakeEndpoint.UploadArtifacts,
            ("GET", ["jobs", var id, "artifacts"]) when long.TryParse(id, out jobId) => FakeEndpoint.DownloadArtifacts,
            _ => FakeEndpoint.Unknown,
        };
    }

    private FakeResponse Dispatch(FakeEndpoint endpoint, long jobId, FakeRequest request) => endpoint switch
    {
        FakeEndpoint.Register => Register(request),
        FakeEndpoint.Unregister => Unregister(request),
        FakeEndpoint.Verify => Verify(request),
        FakeEndpoint.RequestJob => RequestJob(request),
        FakeEndpoint.UpdateJob => UpdateJob(jobId, request),
        FakeEndpoint.PatchTrace => PatchTrace(jobId, request),
        FakeEndpoint.UploadArtifacts => UploadArtifacts(jobId, request),
        FakeEndpoint.DownloadArtifacts => DownloadArtifacts(jobId, request),
        _ => Message(404, "404 Not Found"),
    };

    private FakeResponse Register(FakeRequest request)
    {
        if (request.JsonBody is not { } body)
        {
            return Message(400, "400 Bad request - token is missing");
        }

        if (!RegistrationTokensEnabled)
        {
            return Message(410, "410 Gone - runner registration disallowed");
        }

        var token = body["token"]?.GetValueKind() == JsonValueKind.String ? body["token"]!.GetValue<string>() : null;
        if (token is null || !_registrationTokens.Contains(token))
        {
            return Message(403, "403 Forbidden");
        }

        var description = StringOf(body["description"]) ?? "";
        var tags = (StringOf(body["tag_list"]) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var runner = CreateRunner(NewToken(""), description, tags);
        return Json(201, new JsonObject { ["id"] = runner.Id, ["token"] = runner.Token, ["token_expires_at"] = null });
    }

    private FakeResponse Unregister(FakeRequest request)
    {
        var token = StringOf(request.JsonBody?["token"]);
        if (token is null || !_runners.Remove(token))
        {
            return Message(403, "403 Forbidden");
        }

        return new FakeResponse(204);
    }

    private FakeResponse Verify(FakeRequest request)
    {
        var body = request.JsonBody;
        var token = StringOf(body?["token"]);
        if (token is null || !_runners.TryGetValue(token, out var runner))
        {
            return Message(403, "403 Forbidden");
        }

        var systemId = StringOf(body?["system_id"]);
        if (token.StartsWith("glrt-", StringComparison.Ordinal) && string.IsNullOrEmpty(systemId))
        {
            return Message(400, "400 Bad request - system_id is missing");
        }

        RecordInfo(runner, body!);
        return Json(200, new JsonObject { ["id"] = runner.Id, ["token"] = runner.Token, ["token_expires_at"] = null });
    }

    private FakeResponse RequestJob(FakeRequest request)
    {
        if (request.JsonBody is not { } body)
        {
            return Message(400, "400 Bad request - token is missing");
        }

        var token = StringOf(body["token"]);
        if (token is null || !_runners.TryGetValue(token, out var runner))
        {
            return Message(403, "403 Forbidden");
        }

        RecordInfo(runner, body);
        var version = runner.QueueVersion.ToString(CultureInfo.InvariantCulture);
        if (StringOf(body["last_update"]) == version)
        {
            return NoJob(version);
        }

        while (runner.Queue.TryDequeue(out var job))
        {
            if (job.StatusUnlocked != "pending")
            {
                continue; // canceled while queued
            }

            if (job.RequiredFeatures.FirstOrDefault(f => !runner.Features.GetValueOrDefault(f)) is not null)
            {
                job.StatusUnlocked = "failed";
                job.FailureReasonUnlocked = "runner_unsupported";
                continue;
            }

            job.PickedUnlocked = true;
            job.CancelGracefully = runner.Features.GetValueOrDefault("cancel_gracefully");
            if (runner.Features.GetValueOrDefault("two_phase_job_commit"))
            {
                job.AwaitingAckUnlocked = true;
            }
            else
            {
                job.StatusUnlocked = "running";
            }

            return new FakeResponse(201, "application/json", Encoding.UTF8.GetBytes(job.Json));
        }

        return NoJob(version);
    }

    private FakeResponse UpdateJob(long jobId, FakeRequest request)
    {
        var body = request.JsonBody;
        var token = StringOf(body?["token"]) ?? request.Header("JOB-TOKEN");
        if (!_jobs.TryGetValue(jobId, out var job) || token != job.Token)
        {
            return Message(403, "403 Forbidden");
        }

        var state = StringOf(body?["state"]);
        if (state is not null)
        {
            job.UpdatesUnlocked.Add(state);
        }

        if (job.AwaitingAckUnlocked)
        {
            switch (state)
            {
                case "pending":
                    return WithStatus(new FakeResponse(200), job);
                case "running":
                    job.AwaitingAckUnlocked = false;
                    job.StatusUnlocked = "running";
                    return WithStatus(new FakeResponse(200), job);
                default:
                    return WithStatus(Message(400, "400 Bad request - the job is waiting for the runner to accept it"), job);
            }
        }

        if (!job.IsProcessingUnlocked)
        {
            return WithStatus(Message(403, "403 Forbidden - Job is not processing on runner"), job);
        }

        switch (state)
        {
            case "running":
                return WithStatus(new FakeResponse(200), job);
            case "success" or "failed":
                if (job.DeferredFinalUpdates > 0)
                {
                    job.DeferredFinalUpdates--;
                    var accepted = WithStatus(new FakeResponse(202), job);
                    accepted.Headers["X-GitLab-Trace-Update-Interval"] = "1";
                    return accepted;
                }

                job.ChecksumUnlocked = StringOf(body?["output"]?["checksum"]) ?? StringOf(body?["checksum"]);
                if (state == "failed")
                {
                    // As GitLab: a reason outside its enum, or none, is stored as unknown_failure.
                    var reason = StringOf(body?["failure_reason"]);
                    job.SentFailureReasonUnlocked = reason;
                    job.FailureReasonUnlocked = reason is not null && FailureReasons.Contains(reason) ? reason : "unknown_failure";
                    job.ExitCodeUnlocked = body?["exit_code"] is { } code && code.GetValueKind() == JsonValueKind.Number
                        ? code.GetValue<int>()
                        : null;
                }

                job.StatusUnlocked = job.StatusUnlocked == "canceling" ? "canceled" : state;
                return WithStatus(new FakeResponse(200), job);
            default:
                return WithStatus(Message(400, "400 Bad request - state does not have a valid value"), job);
        }
    }

    private FakeResponse PatchTrace(long jobId, FakeRequest request)
    {
        var token = request.Header("JOB-TOKEN");
        if (!_jobs.TryGetValue(jobId, out var job) || token is null || token != job.Token)
        {
            return Message(403, "403 Forbidden");
        }

        if (!job.IsProcessingUnlocked)
        {
            return WithStatus(Message(403, "403 Forbidden - Job is not processing on runner"), job);
        }

        var contentRange = request.Header("Content-Range");
        if (contentRange is null)
        {
            return Message(400, "400 Bad request - Missing header Content-Range");
        }

        var dash = contentRange.IndexOf('-');
        if (dash <= 0 || !long.TryParse(contentRange[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            return Message(400, "400 Bad request - Invalid header Content-Range");
        }

        var size = job.TraceLengthUnlocked;
        if (start != size)
        {
            var mismatch = new FakeResponse(416);
            mismatch.Headers["Range"] = $"0-{size}";
            return mismatch;
        }

        job.AppendTraceUnlocked(request.Body);
        var accepted = WithStatus(new FakeResponse(202), job);
        accepted.Headers["Range"] = $"0-{job.TraceLengthUnlocked}";
        accepted.Headers["X-GitLab-Trace-Update-Interval"] = TraceUpdateIntervalSeconds.ToString(CultureInfo.InvariantCulture);
        return accepted;
    }

    private FakeResponse UploadArtifacts(long jobId, FakeRequest request)
    {
        var token = request.Header("JOB-TOKEN");
        if (!_jobs.TryGetValue(jobId, out var job) || token is null || token != job.Token)
        {
            return Message(403, "403 Forbidden");
        }

        if (!job.IsProcessingUnlocked)
        {
            return WithStatus(Message(403, "403 Forbidden - Job is not processing on runner"), job);
        }

        if (request.File is not { } file)
        {
            return Message(400, "400 Bad request - file is missing");
        }

        if (file.Content.Length > MaxArtifactBytes)
        {
            return Message(413, "413 Request Entity Too Large");
        }

        var query = QueryHelpers(request.Query);
        job.ArtifactsUnlocked.Add(new FakeArtifact(file.FileName, query.GetValueOrDefault("artifact_format", "zip"),
            query.GetValueOrDefault("artifact_type", "archive"), query.GetValueOrDefault("expire_in", ""), file.Content, request.Query));
        return new FakeResponse(201, "application/json", "201"u8.ToArray());
    }

    private FakeResponse DownloadArtifacts(long jobId, FakeRequest request)
    {
        var token = request.Header("JOB-TOKEN");
        if (string.IsNullOrEmpty(token))
        {
            return Message(401, "401 Unauthorized");
        }

        if (!_jobs.TryGetValue(jobId, out var job))
        {
            return Message(404, "404 Not Found");
        }

        // The job's own token, or the token of a running job that depends on it.
        var allowed = token == job.Token
                      || _jobs.Values.Any(other => other.Token == token && other.Dependencies.Contains(jobId) && other.IsProcessingUnlocked);
        if (!allowed)
        {
            return Message(403, "403 Forbidden");
        }

        var archive = job.ArtifactsUnlocked.LastOrDefault(a => a.Type == "archive");
        return archive is null
            ? Message(404, "404 Not Found")
            : new FakeResponse(200, "application/octet-stream", archive.Content);
    }

    // ---- helpers ----

    private FakeRunner CreateRunner(string token, string description, IReadOnlyList<string> tags)
    {
        var runner = new FakeRunner(_nextRunnerId++, token, description, tags);
        _runners[token] = runner;
        return runner;
    }

    private static void RecordInfo(FakeRunner runner, JsonNode body)
    {
        runner.SystemId = StringOf(body["system_id"]) ?? runner.SystemId;
        if (body["info"]?["features"] is JsonObject features)
        {
            runner.Features = features
                .Where(f => f.Value?.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
                .ToDictionary(f => f.Key, f => f.Value!.GetValue<bool>(), StringComparer.Ordinal);
        }
    }

    private static FakeResponse NoJob(string version)
    {
        var response = new FakeResponse(204);
        response.Headers["X-GitLab-Last-Update"] = version;
        return response;
    }

    private static FakeResponse WithStatus(FakeResponse response, FakeJob job)
    {
        response.Headers["Job-Status"] = job.StatusUnlocked;
        return response;
    }

    private static FakeResponse Message(int status, string message) => Json(status, new JsonObject { ["message"] = message });

    private static FakeResponse Json(int status, JsonNode body) =>
        new(status, "application/json", Encoding.UTF8.GetBytes(body.ToJsonString()));

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static Dictionary<string, string> QueryHelpers(string query) =>
        query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .GroupBy(parts => Uri.UnescapeDataString(parts[0]))
            .ToDictionary(g => g.Key, g => g.Last().Length > 1 ? Uri.UnescapeDataString(g.Last()[1]) : "");

    private static string NewToken(string prefix)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return prefix + RandomNumberGenerator.GetString(alphabet, 20);
    }

    private sealed class Fault(FakeEndpoint endpoint, int status, int? retryAfterSeconds, bool applyBeforeFailing)
    {
        public FakeEndpoint Endpoint { get; } = endpoint;
        public int Status { get; } = status;
        public int? RetryAfterSeconds { get; } = retryAfterSeconds;
        public bool ApplyBeforeFailing { get; } = applyBeforeFailing;
        public int Remaining { get; set; }
    }

    private sealed record UploadedFile(string FileName, byte[] Content);

    private sealed class FakeResponse(int status, string? contentType = null, byte[]? body = null)
    {
        public int Status { get; } = status;
        public string? ContentType { get; } = contentType;
        public byte[] Body { get; } = body ?? [];
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    private sealed class FakeRequest
    {
        public required string Method { get; init; }
        public required string Path { get; init; }
        public required string Query { get; init; }
        public required Dictionary<string, string> Headers { get; init; }
        public required byte[] Body { get; init; }
        public UploadedFile? File { get; init; }

        public JsonNode? JsonBody
        {
            get
            {
                try
                {
                    return Body.Length == 0 ? null : JsonNode.Parse(Body);
                }
                catch (JsonException)
                {
                    return null;
                }
            }
        }

        public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

        public static async Task<FakeRequest> ReadAsync(HttpContext context)
        {
            var request = context.Request;
            var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            UploadedFile? file = null;
            byte[] body = [];
            if (request.HasFormContentType)
            {
                var form = await request.ReadFormAsync();
                if (form.Files.GetFile("file") is { } formFile)
                {
                    using var buffer = new MemoryStream();
                    await formFile.CopyToAsync(buffer);
                    file = new UploadedFile(formFile.FileName, buffer.ToArray());
                }
            }
            else if (request.ContentLength is { } length and > 0 and <= int.MaxValue)
            {
                // One array of the announced size, read into directly (a trace patch is 1 MiB: no growing buffer, no copy).
                body = new byte[length];
                var read = 0;
                while (read < body.Length)
                {
                    var n = await request.Body.ReadAsync(body.AsMemory(read));
                    if (n == 0)
                    {
                        body = body[..read]; // the client sent less than it announced
                        break;
                    }

                    read += n;
                }
            }
            else
            {
                using var buffer = new MemoryStream();
                await request.Body.CopyToAsync(buffer);
                body = buffer.ToArray();
            }

            return new FakeRequest
            {
                Method = request.Method,
                Path = request.Path.Value ?? "",
                Query = request.QueryString.Value ?? "",
                Headers = headers,
                Body = body,
                File = file,
            };
        }
    }
}
