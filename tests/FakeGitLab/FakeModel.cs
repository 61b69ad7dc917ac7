namespace Scheduler.FakeGitLab;

/// <summary>The runner API endpoints, for fault injection and request assertions.</summary>
public enum FakeEndpoint
{
    Register,
    Verify,
    Unregister,
    RequestJob,
    UpdateJob,
    PatchTrace,
    UploadArtifacts,
    DownloadArtifacts,
    Unknown,
}

/// <summary>One request as the server saw it, and the status it answered.</summary>
public sealed record RecordedRequest(
    FakeEndpoint Endpoint,
    string Method,
    string Path,
    string Query,
    IReadOnlyDictionary<string, string> Headers,
    byte[] Body,
    int Status)
{
    /// <summary>When the server had handled it (UTC).</summary>
    public DateTime ReceivedAt { get; init; } = DateTime.UtcNow;

    /// <summary>The random fault this request met (<see cref="FakeChaos"/>): <c>"5xx"</c> (answered <see cref="Status"/>, not
    /// handled) or <c>"lost"</c> (handled, <see cref="Status"/> was its answer, the connection was reset instead); else null.</summary>
    public string? Chaos { get; init; }

    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>An artifact archive stored for a job, with the upload's query string as sent (<c>?artifact_format=…</c>).</summary>
public sealed record FakeArtifact(string FileName, string Format, string Type, string ExpireIn, byte[] Content, string Query = "");

/// <summary>A registered runner: its token, what it last told about itself.</summary>
public sealed class FakeRunner
{
    internal FakeRunner(long id, string token, string description, IReadOnlyList<string> tags)
    {
        Id = id;
        Token = token;
        Description = description;
        TagList = tags;
    }

    public long Id { get; }
    public string Token { get; }
    public string Description { get; }
    public IReadOnlyList<string> TagList { get; }

    /// <summary>The <c>info.features</c> of its last job request or verify.</summary>
    public IReadOnlyDictionary<string, bool> Features { get; internal set; } = new Dictionary<string, bool>();

    public string? SystemId { get; internal set; }

    internal Queue<FakeJob> Queue { get; } = new();

    /// <summary>The opaque queue version sent as <c>X-GitLab-Last-Update</c>; changes when a job is queued.</summary>
    internal int QueueVersion { get; set; } = 1;
}

/// <summary>
/// A job on the fake GitLab. Its server-side status follows GitLab's: <c>pending</c> (queued, or picked but waiting for
/// the runner's two-phase ack), <c>running</c>, <c>canceling</c>, then <c>success</c>, <c>failed</c> or <c>canceled</c>.
/// Reads are safe from any thread.
/// </summary>
public sealed class FakeJob
{
    private readonly object _gate;
    // The trace as the bodies of the accepted patches, kept as they came: appending copies nothing, so a long trace costs the
    // fake no reallocation of one growing buffer (the bench measures the runner, not the fake).
    private readonly List<byte[]> _trace = [];
    private long _traceLength;
    private readonly List<FakeArtifact> _artifacts = [];
    private readonly List<string> _updates = [];

    internal FakeJob(object gate, long id, string token, string name, string runnerToken, string json,
        IReadOnlyList<string> requiredFeatures, IReadOnlyList<long> dependencies)
    {
        _gate = gate;
        Id = id;
        Token = token;
        Name = name;
        RunnerToken = runnerToken;
        Json = json;
        RequiredFeatures = requiredFeatures;
        Dependencies = dependencies;
    }

    public long Id { get; }
    public string Token { get; }
    public string Name { get; }
    public string RunnerToken { get; }

    /// <summary>The 201 body served for this job.</summary>
    public string Json { get; }

    public IReadOnlyList<string> RequiredFeatures { get; }
    public IReadOnlyList<long> Dependencies { get; }

    public string Status { get { lock (_gate) { return StatusUnlocked; } } }
    public bool AwaitingAck { get { lock (_gate) { return AwaitingAckUnlocked; } } }
    public bool Picked { get { lock (_gate) { return PickedUnlocked; } } }
    public string? FailureReason { get { lock (_gate) { return FailureReasonUnlocked; } } }
    public int? ExitCode { get { lock (_gate) { return ExitCodeUnlocked; } } }

    /// <summary>The <c>failure_reason</c> exactly as the runner sent it in the final update (GitLab stores an unknown one as
    /// <c>unknown_failure</c>: see <see cref="FailureReason"/>).</summary>
    public string? SentFailureReason { get { lock (_gate) { return SentFailureReasonUnlocked; } } }

    /// <summary>The <c>output.checksum</c> of the final update.</summary>
    public string? Checksum { get { lock (_gate) { return ChecksumUnlocked; } } }

    /// <summary>Every state the runner sent in a PUT, in order (including 202-deferred ones).</summary>
    public IReadOnlyList<string> Updates { get { lock (_gate) { return _updates.ToArray(); } } }

    public byte[] TraceBytes()
    {
        lock (_gate)
        {
            var bytes = new byte[_traceLength];
            var at = 0;
            foreach (var part in _trace)
            {
                part.CopyTo(bytes, at);
                at += part.Length;
            }

            return bytes;
        }
    }

    /// <summary>How many trace bytes GitLab holds (without copying them).</summary>
    public long TraceLength { get { lock (_gate) { return _traceLength; } } }

    public string TraceText() => System.Text.Encoding.UTF8.GetString(TraceBytes());

    public IReadOnlyList<FakeArtifact> Artifacts { get { lock (_gate) { return _artifacts.ToArray(); } } }

    public bool IsFinished => Status is "success" or "failed" or "canceled";

    internal string StatusUnlocked { get; set; } = "pending";
    internal bool AwaitingAckUnlocked { get; set; }
    internal bool PickedUnlocked { get; set; }
    internal string? FailureReasonUnlocked { get; set; }
    internal int? ExitCodeUnlocked { get; set; }
    internal string? SentFailureReasonUnlocked { get; set; }
    internal string? ChecksumUnlocked { get; set; }
    internal int DeferredFinalUpdates { get; set; }
    internal bool CancelGracefully { get; set; }
    internal long TraceLengthUnlocked => _traceLength;
    internal List<FakeArtifact> ArtifactsUnlocked => _artifacts;
    internal List<string> UpdatesUnlocked => _updates;

    /// <summary>Keeps <paramref name="bytes"/> (not copied: the caller hands it over).</summary>
    internal void AppendTraceUnlocked(byte[] bytes)
    {
        _trace.Add(bytes);
        _traceLength += bytes.Length;
    }

    internal bool IsProcessingUnlocked => StatusUnlocked is "running" or "canceling" && !AwaitingAckUnlocked;
}

/// <summary>
/// Random faults of a flaky GitLab, switched on with <see cref="FakeGitLabServer.Chaos"/>: each request to one of the chosen
/// endpoints is, by one draw, answered 5xx without being handled, or handled and then its connection reset so that the
/// answer is lost, or served. With a <see cref="Seed"/> the same sequence of requests meets the same faults. Explicit faults
/// (<see cref="FakeGitLabServer.InjectFault"/>) come first.
/// </summary>
public sealed record FakeChaos
{
    /// <summary>Fraction (0..1) of requests answered 500, 502 or 503 (in turn) and not handled.</summary>
    public double ServerErrorRate { get; init; }

    /// <summary>Fraction (0..1) of requests handled (a trace append, a state change, a job handed out happen) whose answer is
    /// then lost: the connection is reset instead.</summary>
    public double LostAnswerRate { get; init; }

    /// <summary>Where server errors are injected: job requests, state updates and trace appends by default.</summary>
    public IReadOnlySet<FakeEndpoint> ServerErrorEndpoints { get; init; } =
        new HashSet<FakeEndpoint> { FakeEndpoint.RequestJob, FakeEndpoint.UpdateJob, FakeEndpoint.PatchTrace };

    /// <summary>Where answers are lost: state updates and trace appends by default. Not job requests: a job handed out whose
    /// answer is lost stays assigned and is never run (in GitLab too, until it times out as stuck).</summary>
    public IReadOnlySet<FakeEndpoint> LostAnswerEndpoints { get; init; } =
        new HashSet<FakeEndpoint> { FakeEndpoint.UpdateJob, FakeEndpoint.PatchTrace };

    public int? Seed { get; init; }
}
