using Scheduler.Messages.Jobs;

namespace Scheduler.GitLab;

/// <summary>The answer to <c>POST /jobs/request</c>.</summary>
public abstract record RequestJobResult
{
    /// <summary>201: a job to run. <paramref name="LastUpdate"/> is the <c>X-GitLab-Last-Update</c> header, if any.</summary>
    public sealed record Received(JobPayload Job, string? LastUpdate) : RequestJobResult;

    /// <summary>204: nothing to do now. Echo <paramref name="LastUpdate"/> (when not null) in the next request.</summary>
    public sealed record NoJob(string? LastUpdate) : RequestJobResult;

    /// <summary>403: the runner token is unknown or revoked; the request counts as unhealthy.</summary>
    public sealed record Forbidden(string Message) : RequestJobResult;

    /// <summary>409, 429, 5xx or a network error (<paramref name="StatusCode"/> 0): ask again later.
    /// <paramref name="RetryAfter"/> is what the server asked for, if anything; see <see cref="Backoff"/>.</summary>
    public sealed record Retry(int StatusCode, TimeSpan? RetryAfter, string Message) : RequestJobResult
    {
        /// <summary>How long to wait before retry number <paramref name="attempt"/> (1 for the first).</summary>
        public TimeSpan Delay(int attempt) => Backoff.Delay(attempt, RetryAfter);
    }

    /// <summary>Anything else, including a 201 whose body is not a valid job (the job is lost; GitLab times it out).</summary>
    public sealed record Failed(int StatusCode, string Message) : RequestJobResult;
}

/// <summary>The state a job update reports.</summary>
public enum JobState
{
    Pending,
    Running,
    Success,
    Failed,
}

/// <summary>The body of <c>PUT /jobs/:id</c>. <paramref name="ExitCode"/> 0 is never sent; output fields are omitted when null.</summary>
public sealed record JobUpdate(JobState State, string? FailureReason = null, int ExitCode = 0, string? Checksum = null, long? ByteSize = null);

public enum UpdateOutcome
{
    /// <summary>200.</summary>
    Accepted,

    /// <summary>202: GitLab is still persisting the trace; send the same update again after <see cref="UpdateJobResult.UpdateInterval"/>.</summary>
    TryAgain,

    /// <summary>412: GitLab's trace does not match; resend the whole trace from 0, then update again.</summary>
    TraceValidationFailed,

    /// <summary>403, 404, or <c>Job-Status</c> canceled/failed on a running/pending update: stop the job and send nothing more.</summary>
    Abort,

    /// <summary>400, 409, 5xx or a network error: the update did not land; retry later.</summary>
    Failed,
}

/// <summary>The answer to <c>PUT /jobs/:id</c>. <paramref name="JobStatus"/> is the <c>Job-Status</c> header.</summary>
public sealed record UpdateJobResult(UpdateOutcome Outcome, int StatusCode, string? JobStatus, TimeSpan? UpdateInterval, string Message)
{
    /// <summary>GitLab wants the job canceled gracefully (<c>Job-Status: canceling</c>).</summary>
    public bool CancelRequested => JobStatus == "canceling";
}

public enum PatchOutcome
{
    /// <summary>202: the bytes are stored.</summary>
    Accepted,

    /// <summary>416: GitLab holds another size; resend from <see cref="PatchTraceResult.Offset"/>.</summary>
    RangeMismatch,

    /// <summary>403 or <c>Job-Status</c> canceled/failed: stop the job and send nothing more.</summary>
    Abort,

    /// <summary>404.</summary>
    NotFound,

    /// <summary>400, 409, 5xx or a network error: retry the same patch later.</summary>
    Failed,
}

/// <summary>The answer to <c>PATCH /jobs/:id/trace</c>. <paramref name="Offset"/> is the size GitLab holds after the call
/// (its <c>Range: 0-N</c>) for Accepted and RangeMismatch, otherwise null.</summary>
public sealed record PatchTraceResult(PatchOutcome Outcome, int StatusCode, long? Offset, string? JobStatus, TimeSpan? UpdateInterval, string Message)
{
    public bool CancelRequested => JobStatus == "canceling";
}

/// <summary>What GitLab returns about a runner from register or verify. The token is a secret: it is never printed.</summary>
public sealed record RunnerCredentials(long Id, string Token, DateTimeOffset? TokenExpiresAt)
{
    public override string ToString() => $"RunnerCredentials {{ Id = {Id}, Token = [hidden], TokenExpiresAt = {TokenExpiresAt} }}";
}

public enum RunnerCallOutcome
{
    /// <summary>201 on register, 200 on verify.</summary>
    Succeeded,

    /// <summary>403: the registration or runner token is invalid.</summary>
    Forbidden,

    /// <summary>410: registration tokens are disabled on this GitLab.</summary>
    Gone,

    /// <summary>400, 422 and other client errors, with GitLab's message.</summary>
    Rejected,

    /// <summary>429, 5xx or a network error.</summary>
    Failed,
}

/// <summary>The answer to <c>POST /runners</c> or <c>POST /runners/verify</c>. <paramref name="Credentials"/> is set on success
/// (a legacy GitLab answers verify with a non-JSON 200; then it is null).</summary>
public sealed record RunnerCallResult(RunnerCallOutcome Outcome, int StatusCode, RunnerCredentials? Credentials, string Message);

/// <summary>What to send when registering with a legacy registration token.</summary>
public sealed record RegistrationRequest(string RegistrationToken, string Description, IReadOnlyList<string> TagList, bool RunUntagged = false,
    bool Locked = true, bool Paused = false, int? MaximumTimeout = null)
{
    public override string ToString() => $"RegistrationRequest {{ Description = {Description}, TagList = [{string.Join(",", TagList)}] }}";
}
