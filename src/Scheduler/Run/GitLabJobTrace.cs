// One actor: the trace file, its offsets and the PATCH/PUT protocol with GitLab (ranges, 416 recovery, final update
// retries) share state and timers; splitting them would spread one protocol across files.
using System.Buffers;
using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Intake;
using Scheduler.Actors.Trace;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Metrics;
using GitLabJobState = Scheduler.GitLab.JobState;
using ProtocolJobState = Scheduler.Messages.Protocol.JobState;

namespace Scheduler.Run;

/// <summary>
/// The listener of one job: keeps its trace, sends it to GitLab in patches of at most 1 MiB every trace update interval
/// (GitLab's <c>X-GitLab-Trace-Update-Interval</c>, default 3 s) and at once whenever a full patch is waiting, resends from GitLab's offset after a 416, follows
/// <c>Job-Status</c> (canceling → graceful cancel; canceled/failed/403 → cancel at once), and on <see cref="JobFinished"/>
/// sends the rest of the trace and then the final update (state, failure_reason, exit_code, checksum, byte size),
/// retried until GitLab accepts or clearly refuses it. It stops itself then, which frees the intake's slot.
/// After the end every retry is bounded, as GitLab Runner's final update is: a trace patch that keeps failing (400, 5xx,
/// a network error, a 416 that moves nothing) is tried <c>job_status_final_update_retry_limit</c> times (default
/// <see cref="MaxFinalPatchFailures"/>), one pause apart, and a 404 stops the flush at once; then the final state is reported
/// anyway, and a final update that keeps failing is given up after as many failures. A 416 is resent at once only when it moved the
/// offset; otherwise after a pause, so a 416 without a usable Range is never a hot loop.
/// Every GitLab call runs outside the mailbox and comes back through PipeTo.
/// The trace is kept by a <see cref="TraceFile"/> (memory up to 16 KiB, a file past that) with its CRC32 updated as chunks
/// arrive: a long trace or a slow GitLab costs disk, and each patch is read back into one pooled buffer. A store that
/// loses bytes (a file that cannot be read back) stops the job as a runner system failure rather than send a cut trace.
/// </summary>
public sealed class GitLabJobTrace : UntypedActor, IWithTimers
{
    private sealed record Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed record SendFinal
    {
        public static readonly SendFinal Instance = new();
    }

    private sealed record HandOverDeadline
    {
        public static readonly HandOverDeadline Instance = new();
    }

    private sealed record RetryPatch
    {
        public static readonly RetryPatch Instance = new();
    }

    private sealed record PatchDone(TracePatch Patch, PatchTraceResult Result, byte[] Buffer);
    private sealed record FinalDone(UpdateJobResult Result);
    private sealed record TouchDone(UpdateJobResult Result);

    private const string FlushTimer = "flush";
    private const string FinalTimer = "final";
    private const string HandOverTimer = "hand-over";
    private const string RetryPatchTimer = "retry-patch";

    /// <summary>How many failed trace patches after the job ended before the rest of the trace is given up and the final state
    /// is reported anyway, and how many failed final updates before they are given up: GitLab Runner's
    /// <c>job_status_final_update_retry_limit</c> default; the runner entry's value replaces it.</summary>
    public const int MaxFinalPatchFailures = 10;

    /// <summary>How long a handed-over job's listener keeps trying to send the trace it has before it stops anyway.</summary>
    public static readonly TimeSpan HandOverFlushLimit = TimeSpan.FromSeconds(10);
    private const int MaxFinalAttempts = 30;
    public static readonly TimeSpan DefaultUpdateInterval = TimeSpan.FromSeconds(3);

    /// <summary>Where the listeners keep their trace files unless told otherwise.</summary>
    public static string DefaultTraceDirectory => Path.Combine(Path.GetTempPath(), "scheduler-traces");

    private readonly JobPayload _job;
    private readonly string _runnerName;
    private readonly IActorRef _supervisor;
    private readonly GitLabClient _client;
    private readonly RunnerMetrics? _metrics;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly TraceFile _trace;
    private readonly string _traceDirectory;
    private bool _fileErrorReported;
    // Set when the trace store lost bytes: the trace is no longer whole, so the job is stopped and reported as a runner
    // failure rather than with a cut trace GitLab would take as complete.
    private string? _traceStoreError;
    private readonly TraceCrc32 _checksum = new();
    private readonly CancellationTokenSource _stopping = new();
    private TraceUploadState _upload = TraceUploadState.Start;
    private TimeSpan _interval;
    private bool _firstPatchTried;
    private bool _catchingUp;
    // False from a failed patch until the next one is accepted: output arriving then waits for the tick.
    private bool _sendFullPatches = true;
    // The pause between retries after the end: the listener's own interval, not GitLab's (up to 60 s), as GitLab Runner resets
    // its interval to 3 s for the final update.
    private readonly TimeSpan _retryPause;
    private int _finalPatchFailures;
    private bool _traceAbandoned;
    private bool _patchInFlight;
    private bool _finalInFlight;
    private bool _touchInFlight;
    private bool _cancelSent;
    private bool _gitLabGaveUp;
    private bool _handedOver;
    private string? _abortReason;
    private JobFinished? _finished;
    private DateTimeOffset? _admittedAt;
    private int _finalAttempts;
    private int _finalFailures;
    private readonly int _finalRetryLimit;

    public GitLabJobTrace(JobPayload job, string runnerName, IActorRef supervisor, GitLabClient client, RunnerMetrics? metrics,
        TimeSpan updateInterval, string traceDirectory, int finalRetryLimit)
    {
        _finalRetryLimit = finalRetryLimit > 0 ? finalRetryLimit : MaxFinalPatchFailures;
        _job = job;
        _trace = TraceFile.Create(traceDirectory, $"job-{job.Id}");
        _traceDirectory = traceDirectory;
        _runnerName = runnerName;
        _supervisor = supervisor;
        _client = client;
        _metrics = metrics;
        _interval = updateInterval;
        _retryPause = updateInterval;
    }

    // A switch rather than ReceiveActor's handler table, which Akka builds anew for every actor (one per job).
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case JobAdmitted:
                _admittedAt = DateTimeOffset.UtcNow;
                _metrics?.JobStarted(_runnerName);
                break;
            case JobStageChanged stage:
                _log.Debug("job {JobId}: stage {Stage} {Change}", _job.Id, stage.Stage, stage.Finished ? "ended" : "started");
                break;
            case JobTraceChunk chunk:
                OnChunk(chunk);
                break;
            case Flush:
                OnFlush();
                break;
            case TouchDone done:
                OnTouchDone(done);
                break;
            case PatchDone done:
                OnPatchDone(done);
                break;
            case JobFinished finished:
                OnFinished(finished);
                break;
            case SendFinal:
                SendFinalUpdate();
                break;
            case RetryPatch:
                SendPatch();
                break;
            case FinalDone done:
                OnFinalDone(done);
                break;
            case JobHandedOver handedOver:
                OnHandedOver(handedOver);
                break;
            case HandOverDeadline:
                _log.Warning("job {JobId}: handed over with {Bytes} trace bytes not confirmed by GitLab; the adopting node sends them",
                    _job.Id, Available - _upload.Confirmed);
                Context.Stop(Self);
                break;
            case AbortJob abort:
                _abortReason = abort.FailureReason;
                _supervisor.Tell(new CancelJob(_job.Id, Graceful: false));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(JobPayload job, string runnerName, IActorRef supervisor, GitLabClient client, RunnerMetrics? metrics,
        TimeSpan? updateInterval = null, string? traceDirectory = null, int finalRetryLimit = MaxFinalPatchFailures)
    {
        var interval = updateInterval ?? DefaultUpdateInterval;
        var directory = traceDirectory ?? DefaultTraceDirectory;
        return DirectProps.Of(() => new GitLabJobTrace(job, runnerName, supervisor, client, metrics, interval, directory, finalRetryLimit));
    }

    protected override void PreStart() => Timers.StartPeriodicTimer(FlushTimer, Flush.Instance, _interval);

    protected override void PostStop()
    {
        _stopping.Cancel();
        _trace.Dispose();
    }

    private long Available => _trace.Length;

    private void OnChunk(JobTraceChunk chunk)
    {
        // Chunks are contiguous from 0; a resend of bytes already held (a restart upstream) is skipped.
        var skip = Available - chunk.Offset;
        if (chunk.Offset > Available || skip >= chunk.Bytes.Length)
        {
            if (chunk.Offset > Available)
            {
                _log.Warning("job {JobId}: trace chunk at {Offset} leaves a gap after {Available}; dropped", _job.Id, chunk.Offset, Available);
            }

            return;
        }

        if (_traceStoreError is not null)
        {
            return;
        }

        var fresh = chunk.Bytes.AsSpan((int)skip);
        try
        {
            _trace.Append(fresh);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TraceStoreFailed(ex);
            return;
        }

        _checksum.Append(fresh);
        if (_trace.FileError is { } fileError && !_fileErrorReported)
        {
            _fileErrorReported = true;
            _log.Warning("job {JobId}: the trace cannot be kept in a file under {Directory} ({Error}); it is kept in memory instead",
                _job.Id, _traceDirectory, fileError);
        }

        // The first bytes go out at once, not at the next tick: GitLab shows the job's start without waiting an update
        // interval. So does the first byte past GitLab's length when GitLab was ahead (an adopted job regenerating its
        // trace): the trace resumes as soon as the pod's log has been read up to where it stopped.
        if (!_firstPatchTried || (_catchingUp && !_upload.IsAhead(Available)))
        {
            _firstPatchTried = true;
            _catchingUp = false;
            SendPatch();
            return;
        }

        // A full patch goes at once rather than at the next tick: a job printing fast would otherwise wait an update
        // interval with megabytes ready. Not after a failed patch: that waits for the tick, so a failing GitLab is not
        // retried at the pace output arrives.
        if (_sendFullPatches && !_patchInFlight && Available - _upload.Confirmed >= TraceUploadState.MaxPatchBytes)
        {
            SendPatch();
        }
    }

    // With no new output, a PUT state=running keeps GitLab informed and brings back its Job-Status (cancellation).
    private void OnFlush()
    {
        if (_finished is null && !_handedOver && !_patchInFlight && !_touchInFlight && !_gitLabGaveUp && _upload.Next(Available) is null)
        {
            _touchInFlight = true;
            _client.UpdateJobAsync(_job.Id, _job.Token, new JobUpdate(GitLabJobState.Running), _stopping.Token)
                .PipeTo(Self, success: r => new TouchDone(r),
                    failure: e => new TouchDone(new UpdateJobResult(UpdateOutcome.Failed, 0, null, null, e.Message)));
            return;
        }

        SendPatch();
    }

    private void OnTouchDone(TouchDone done)
    {
        _touchInFlight = false;
        var result = done.Result;
        if (result.Outcome == UpdateOutcome.Abort)
        {
            GiveUp($"GitLab stopped the job ({result.StatusCode} {result.JobStatus})");
            return;
        }

        RequestCancelIfAsked(result.CancelRequested);
    }

    private void RequestCancelIfAsked(bool cancelRequested)
    {
        if (cancelRequested && !_cancelSent)
        {
            _cancelSent = true;
            _log.Info("job {JobId}: GitLab asks to cancel it", _job.Id);
            _supervisor.Tell(new CancelJob(_job.Id, Graceful: true));
        }
    }

    private void SendPatch()
    {
        if (_patchInFlight || _gitLabGaveUp)
        {
            return;
        }

        if (_traceAbandoned)
        {
            SendFinalUpdate();
            return;
        }

        if (_upload.Next(Available) is not { } patch)
        {
            if (_handedOver)
            {
                // Another node drives the job now and regenerates its trace; this node sends no final update.
                Context.Stop(Self);
                return;
            }

            if (_finished is not null && !_finalInFlight)
            {
                SendFinalUpdate();
            }

            return;
        }

        // The buffer goes back to the pool when the answer comes (the request is over then).
        var buffer = ArrayPool<byte>.Shared.Rent(patch.Length);
        try
        {
            _trace.Read(patch.Start, buffer.AsSpan(0, patch.Length));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            TraceStoreFailed(ex);
            AbandonTrace("the trace could not be read back");
            return;
        }

        _patchInFlight = true;
        _client.PatchTraceAsync(_job.Id, _job.Token, patch.Start, buffer.AsMemory(0, patch.Length), cancellationToken: _stopping.Token)
            .PipeTo(Self, success: result => new PatchDone(patch, result, buffer),
                failure: e => new PatchDone(patch, new PatchTraceResult(PatchOutcome.Failed, 0, null, null, null, e.Message), buffer));
    }

    private void OnPatchDone(PatchDone done)
    {
        ArrayPool<byte>.Shared.Return(done.Buffer);
        _patchInFlight = false;
        var result = done.Result;
        AdoptInterval(result.UpdateInterval);
        _sendFullPatches = result.Outcome == PatchOutcome.Accepted;
        var moved = false;
        switch (result.Outcome)
        {
            case PatchOutcome.Accepted:
                _upload = _upload.Accepted(done.Patch);
                _finalPatchFailures = 0;
                break;
            case PatchOutcome.RangeMismatch when result.Offset is { } offset:
                moved = offset != done.Patch.Start;
                _log.Info("job {JobId}: GitLab holds {Offset} trace bytes; resending from there", _job.Id, offset);
                _upload = _upload.RangeMismatch(offset);
                if (_upload.IsAhead(Available))
                {
                    _catchingUp = true;
                    // GitLab holds more than this node has produced so far: an adopted job regenerating its trace. Wait
                    // until the local trace passes GitLab's length and go on from there (no patch is due before that).
                    _log.Info("job {JobId}: GitLab is {Bytes} trace bytes ahead; waiting for the trace to catch up", _job.Id,
                        _upload.Confirmed - Available);
                }

                break;
            case PatchOutcome.Abort:
                GiveUp($"GitLab stopped the job ({result.StatusCode} {result.JobStatus})");
                return;
            case PatchOutcome.NotFound when _finished is not null:
                // As GitLab Runner: GitLab does not know the trace, so the final flush stops and the final state goes out.
                AbandonTrace($"GitLab does not accept the trace ({result.StatusCode}: {result.Message})");
                return;
            default:
                _log.Warning("job {JobId}: trace patch failed ({StatusCode}: {Error}); retrying", _job.Id, result.StatusCode, result.Message);
                break;
        }

        RequestCancelIfAsked(result.CancelRequested);

        // After the end, every answer but a 202 counts against the final flush, and the next try waits a pause (a 416 that
        // moved the offset goes at once): bounded, then the final state is reported anyway.
        if (_finished is not null && !_handedOver && result.Outcome != PatchOutcome.Accepted)
        {
            if (++_finalPatchFailures >= _finalRetryLimit)
            {
                AbandonTrace($"{_finalPatchFailures} trace patches failed after the job ended (last: {result.StatusCode} {result.Message})");
                return;
            }

            if (moved)
            {
                SendPatch();
            }
            else
            {
                Timers.StartSingleTimer(RetryPatchTimer, RetryPatch.Instance, _retryPause);
            }

            return;
        }

        // While the job runs, a partial patch waits for the timer; full patches, resends and the rest after the end go at once.
        var backlog = Available - _upload.Confirmed;
        if ((result.Outcome == PatchOutcome.RangeMismatch && moved) ||
            (result.Outcome == PatchOutcome.Accepted && (_finished is not null || _handedOver || backlog >= TraceUploadState.MaxPatchBytes)))
        {
            SendPatch();
        }
    }

    // This node stops driving the job (a graceful leave, or another node owns its pod): send the trace held, then stop.
    private void OnHandedOver(JobHandedOver over)
    {
        _handedOver = true;
        _log.Info("job {JobId}: handed over ({Reason}); sending the trace held, no final update", _job.Id, over.Reason);
        if (_gitLabGaveUp)
        {
            Context.Stop(Self);
            return;
        }

        Timers.StartSingleTimer(HandOverTimer, HandOverDeadline.Instance, HandOverFlushLimit);
        SendPatch();
    }

    private void OnFinished(JobFinished finished)
    {
        var result = finished.Result;
        // A job that succeeded is still reported failed when its trace was lost in part (the store's error).
        if (_abortReason is not null && (result.State != ProtocolJobState.Success || _traceStoreError is not null))
        {
            result = result with { State = ProtocolJobState.Failed, FailureReason = _abortReason };
        }

        _finished = finished with { Result = result };
        _metrics?.JobFinished(_runnerName, _admittedAt is { } at ? DateTimeOffset.UtcNow - at : TimeSpan.Zero,
            result.State == ProtocolJobState.Success ? null : result.FailureReason ?? "unknown_failure");
        if (_gitLabGaveUp)
        {
            Context.Stop(Self);
            return;
        }

        // From here on the rest of the trace and the final update are sent by their own answers and retry timers.
        Timers.Cancel(FlushTimer);
        SendPatch();
    }

    private void TraceStoreFailed(Exception error)
    {
        if (_traceStoreError is not null)
        {
            return;
        }

        _traceStoreError = $"{error.GetType().Name}: {error.Message}";
        _abortReason = FailureReasons.RunnerSystemFailure;
        _log.Error("job {JobId}: the runner lost part of the job's trace ({Error}); the job is stopped and reported as a runner system failure",
            _job.Id, _traceStoreError);
        if (_finished is null)
        {
            _supervisor.Tell(new CancelJob(_job.Id, Graceful: false));
        }
        else
        {
            _finished = _finished with
            {
                Result = _finished.Result with { State = ProtocolJobState.Failed, FailureReason = _abortReason },
            };
        }
    }

    // The rest of the trace will not land: report the final state with what was sent, so the slot frees.
    private void AbandonTrace(string why)
    {
        _traceAbandoned = true;
        Timers.Cancel(RetryPatchTimer);
        _log.Error("job {JobId}: {Reason}; {Confirmed} of {Available} trace bytes reached GitLab; sending the final state anyway", _job.Id, why,
            Math.Min(_upload.Confirmed, Available), Available);
        SendFinalUpdate();
    }

    private void SendFinalUpdate()
    {
        if (_finished is null || _finalInFlight || _gitLabGaveUp)
        {
            return;
        }

        if (!_traceAbandoned && _upload.Next(Available) is not null)
        {
            SendPatch();
            return;
        }

        _finalInFlight = true;
        _finalAttempts++;
        var result = _finished.Result;
        var checksum = _checksum.ToString();
        var update = result.State == ProtocolJobState.Success
            ? new JobUpdate(GitLabJobState.Success, Checksum: checksum, ByteSize: Available)
            : new JobUpdate(GitLabJobState.Failed, GitLabFailureReason(result), result.ExitCode ?? 0, checksum, Available);
        _client.UpdateJobAsync(_job.Id, _job.Token, update, _stopping.Token)
            .PipeTo(Self, success: r => new FinalDone(r),
                failure: e => new FinalDone(new UpdateJobResult(UpdateOutcome.Failed, 0, null, null, e.Message)));
    }

    private void OnFinalDone(FinalDone done)
    {
        _finalInFlight = false;
        var result = done.Result;
        AdoptInterval(result.UpdateInterval);
        switch (result.Outcome)
        {
            case UpdateOutcome.Accepted:
                _log.Info("job {JobId}: final state accepted by GitLab", _job.Id);
                Context.Stop(Self);
                return;
            case UpdateOutcome.Abort:
                _log.Warning("job {JobId}: GitLab refused the final update ({StatusCode}: {Error})", _job.Id, result.StatusCode, result.Message);
                Context.Stop(Self);
                return;
            case UpdateOutcome.TraceValidationFailed when !_traceAbandoned && _finalAttempts < MaxFinalAttempts:
                _upload = _upload.Reset();
                _finalPatchFailures = 0;
                SendPatch();
                return;
        }

        // A 202 (GitLab still persisting the trace) is not a failure; MaxFinalAttempts bounds those.
        if (result.Outcome != UpdateOutcome.TryAgain)
        {
            _finalFailures++;
        }

        if (_finalFailures >= _finalRetryLimit || _finalAttempts >= MaxFinalAttempts)
        {
            _log.Error("job {JobId}: the final update did not land after {Attempts} attempts; giving up", _job.Id, _finalAttempts);
            Context.Stop(Self);
            return;
        }

        var delay = result.Outcome == UpdateOutcome.TryAgain ? _interval : Backoff.Delay(_finalAttempts, null);
        Timers.StartSingleTimer(FinalTimer, SendFinal.Instance, delay);
    }

    // GitLab said the job is over (canceled, failed, or the token is gone): stop it at once and send nothing more.
    private void GiveUp(string why)
    {
        _gitLabGaveUp = true;
        Timers.Cancel(FlushTimer);
        _log.Info("job {JobId}: {Reason}; canceling", _job.Id, why);
        _supervisor.Tell(new CancelJob(_job.Id, Graceful: false));
        if (_finished is not null)
        {
            Context.Stop(Self);
        }
    }

    private void AdoptInterval(TimeSpan? interval)
    {
        if (interval is { } given && given > TimeSpan.Zero && given != _interval)
        {
            _interval = given;
            if (_finished is null)
            {
                Timers.StartPeriodicTimer(FlushTimer, Flush.Instance, _interval);
            }
        }
    }

    // Only a reason this GitLab lists (features.failure_reasons) is sent; job_canceled and unlisted reasons map as GitLab Runner does.
    private string GitLabFailureReason(JobResult result) =>
        Scheduler.GitLab.GitLabFailureReason.ForUpdate(result.FailureReason, _job.Features.FailureReasons);
}
