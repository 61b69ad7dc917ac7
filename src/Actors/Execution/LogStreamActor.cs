// One actor for the job's whole trace: the follow reader, the masker and limiter, the drain to the size the last stage
// reported and the hand-over share one cursor, so that a restart neither loses nor repeats a byte. Long for that reason.
using System.Buffers;
using System.Text;
using Akka.Actor;
using Scheduler.Actors.Trace;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

/// <summary>
/// The job's trace. Runner-side text (TraceText) and the pod's output log go through one masker and one output
/// limiter and reach the Listener as contiguous JobTraceChunks. The pod log is read by one follow exec in the helper
/// container for the whole job; the raw bytes received are counted, so after a dropped connection the reader runs
/// again from exactly that offset (no gap, no duplicate). DrainLog with the size the last stage reported lets the follow
/// reader read on to that size, and then the trace's reading is complete without another exec; a reader that makes no
/// progress towards it for <see cref="DrainIdle"/> (a marker that claims more than the log holds) falls back to what a
/// DrainLog without a size does: it ends following with one non-follow read to the end of the file;
/// FinishTrace appends the final line and sends JobFinished, the last message the Listener gets for the job;
/// HandOverTrace instead stops where it is and sends JobHandedOver (the node that adopts the job produces the trace again).
/// It is the JobActor's sibling, not its child, so that it keeps its offsets when the JobActor crashes and restarts.
/// Memory stays flat in the output's length: the reader hands on pooled chunks and waits while
/// <see cref="MaxBytesInFlight"/> are not processed yet (the exec stream, and so the pod's writer, waits with it), and once
/// <c>output_limit</c> is reached the reader is stopped and nothing more is read (the job goes on; the trace says it was cut).
/// </summary>
public sealed class LogStreamActor : UntypedActor, IWithTimers
{
    private const string ReattachTimer = "reattach";
    private const string DrainIdleTimer = "drain-idle";
    private const int MaxDrainAttempts = 10;

    /// <summary>How long a drain up to a reported size waits for the follow reader's next bytes before it makes the final
    /// read instead: the size comes from the pod, and a job can make it say more than the log will ever hold.</summary>
    public static readonly TimeSpan DrainIdle = TimeSpan.FromSeconds(10);

    /// <summary>Bytes read but not yet masked, per reader: beyond this the reader waits.</summary>
    public const int MaxBytesInFlight = 1024 * 1024;

    /// <summary>The most trace bytes one <see cref="JobTraceChunk"/> carries: below the large object heap's 85,000 bytes.</summary>
    public const int MaxTraceChunkBytes = 64 * 1024;

    /// <summary>A chunk of the log in a pooled array, counted in its reader's window until processed.</summary>
    private sealed record LogBytes(int Generation, byte[] Buffer, int Length, InFlightWindow Window);
    private sealed record ReadEnded(int Generation, bool Dropped, string? Error);
    private sealed record Reattach(int Generation);
    private sealed record DrainStalled;

    /// <summary>Where the trace stands: the offsets, the masker's and limiter's state, what is being read. Made once with the
    /// Props, so a restarted LogStreamActor goes on at the same offsets and neither loses nor repeats a byte.</summary>
    public sealed class TraceCursor(TraceMaskRules rules, long outputLimitBytes)
    {
        public TraceMasker Masker { get; } = new(rules);
        public OutputLimiter Limiter { get; } = new(outputLimitBytes);
        internal StartReading? Source { get; set; }
        public int Generation { get; set; }
        public long RawOffset { get; set; }
        public long TraceOffset { get; set; }
        public bool Following { get; set; }
        public IActorRef? DrainRequester { get; set; }
        public int DrainAttempts { get; set; }
        /// <summary>The size the follow reader reads on to before the drain is complete; null: no such drain.</summary>
        public long? DrainUpTo { get; set; }
        public bool Finished { get; set; }
    }

    private readonly long _jobId;
    private readonly IActorRef _listener;
    private readonly TimeSpan _reattachDelay;
    private readonly TraceMaskRules _rules;
    private readonly TraceCursor _cursor;
    // Grows to the largest chunk masked and stays there: a sleeping job's quiet trace keeps it small.
    private readonly ArrayBufferWriter<byte> _masked = new();
    private CancellationTokenSource? _readCancel;

    public ITimerScheduler Timers { get; set; } = null!;

    public LogStreamActor(long jobId, IActorRef listener, TraceMaskRules rules, TimeSpan reattachDelay, TraceCursor cursor)
    {
        _jobId = jobId;
        _listener = listener;
        _reattachDelay = reattachDelay;
        _rules = rules;
        _cursor = cursor;

    }

    // A switch rather than ReceiveActor's handler table, which Akka builds anew for every actor (one per job).
    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case TraceText text:
                AppendRunnerText(text.Text);
                break;
            case StartReading start:
                OnStartReading(start);
                break;
            case LogBytes bytes:
                OnLogBytes(bytes);
                break;
            case ReadEnded ended:
                OnReadEnded(ended);
                break;
            case Reattach reattach:
                if (reattach.Generation == _cursor.Generation)
                {
                    StartRead(follow: _cursor.Following);
                }

                break;
            case DrainLog drain:
                OnDrain(drain);
                break;
            case DrainStalled:
                OnDrainStalled();
                break;
            case FinishTrace finish:
                OnFinish(finish);
                break;
            case HandOverTrace handOver:
                OnHandOver(handOver);
                break;
            case CrashForTest:
                throw new InjectedCrashException();
            default:
                Unhandled(message);
                break;
        }
    }

    public static Props Props(long jobId, IActorRef listener, TraceMaskRules rules, long outputLimitBytes, TimeSpan reattachDelay)
    {
        // Made once here, not in the constructor: the trace's position survives restarts of the actor.
        var cursor = new TraceCursor(rules, outputLimitBytes);
        return DirectProps.Of(() => new LogStreamActor(jobId, listener, rules, reattachDelay, cursor));
    }

    /// <summary>The secret values of a job: masked variables' values and the job token.</summary>
    public static IReadOnlyList<string> SecretsOf(JobPayload job) =>
        job.Variables.Where(v => v.Masked).Select(v => v.Value).Append(job.Token).ToList();

    /// <summary>What the trace hides: the secret values, GitLab's token prefixes with the job's own, sensitive URL parameters.</summary>
    public static TraceMaskRules MaskRulesOf(JobPayload job) => TraceMaskRules.For(SecretsOf(job), job.Features.TokenMaskPrefixes);

    protected override void PreStart()
    {
        // After a restart: read on from the offset the cursor holds (following, or draining if a drain was asked for).
        if (_cursor.Source is not null && !_cursor.Finished)
        {
            StartRead(follow: _cursor.Following);
            if (_cursor.DrainUpTo is not null && _cursor.DrainRequester is not null)
            {
                Timers.StartSingleTimer(DrainIdleTimer, new DrainStalled(), DrainIdle);
            }
        }
    }

    protected override void PostStop() => StopReader();

    private void OnStartReading(StartReading start)
    {
        // Idempotent: a restarted JobActor asks again; the reader already running keeps its offset.
        if (_cursor.Source is not null && _cursor.Source.Namespace == start.Namespace && _cursor.Source.Pod == start.Pod)
        {
            return;
        }

        _cursor.Source = start;
        _cursor.Following = true;
        StartRead(follow: true);
    }

    private void StartRead(bool follow)
    {
        if (_cursor.Source is null || _cursor.Limiter.LimitReached)
        {
            return;
        }

        StopReader();
        var generation = ++_cursor.Generation;
        var cancel = _readCancel = new CancellationTokenSource();
        var window = new InFlightWindow(MaxBytesInFlight);
        var (gateway, source, self, offset) = (_cursor.Source.Gateway, _cursor.Source, Self, _cursor.RawOffset);
        var argv = source.ReadLog(offset, follow);
        ReadAsync().PipeTo(self);
        return;

        async Task<object> ReadAsync()
        {
            try
            {
                var code = await gateway.ExecStreamingAsync(source.Namespace, source.Pod, source.Container, argv, async chunk =>
                {
                    // Backpressure: while the actor is behind, the exec stream is not read on.
                    await window.WaitForRoomAsync(cancel.Token);
                    var buffer = ArrayPool<byte>.Shared.Rent(chunk.Length);
                    chunk.CopyTo(buffer);
                    window.Add(chunk.Length);
                    self.Tell(new LogBytes(generation, buffer, chunk.Length, window));
                }, cancel.Token);
                return new ReadEnded(generation, false, code == 0 ? null : $"the log reader exited with code {code}");
            }
            catch (ExecConnectionLostException)
            {
                return new ReadEnded(generation, true, null);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return new ReadEnded(generation, false, null); // this reader was replaced or stopped
            }
            catch (OperationCanceledException)
            {
                return new ReadEnded(generation, true, "the log read timed out"); // the client's timeout: read again
            }
            catch (Exception e)
            {
                return new ReadEnded(generation, true, e.Message);
            }
        }
    }

    private void StopReader()
    {
        _readCancel?.Cancel();
        _readCancel?.Dispose();
        _readCancel = null;
        Timers.Cancel(ReattachTimer);
    }

    private void OnLogBytes(LogBytes bytes)
    {
        try
        {
            // Bytes of a reader that was replaced are not counted: the new reader reads them again from _cursor.RawOffset.
            // Past the output limit nothing more is looked at.
            if (bytes.Generation != _cursor.Generation || _cursor.Finished || _cursor.Limiter.LimitReached)
            {
                return;
            }

            // Draining up to the reported size: bytes past it (a process the stage left behind) are not the job's trace.
            var length = _cursor.DrainUpTo is { } upTo ? (int)Math.Min(bytes.Length, Math.Max(0, upTo - _cursor.RawOffset)) : bytes.Length;
            _cursor.RawOffset += length;
            _masked.ResetWrittenCount();
            _cursor.Masker.Process(bytes.Buffer.AsSpan(0, length), _masked);
            Emit(_masked.WrittenSpan);
            if (_cursor.Limiter.LimitReached && _cursor.DrainRequester is not null)
            {
                CompleteDrain(); // the rest of the output is not read
            }
            else if (_cursor.DrainUpTo is { } end && _cursor.DrainRequester is not null)
            {
                if (_cursor.RawOffset >= end)
                {
                    CompleteDrain();
                }
                else
                {
                    Timers.StartSingleTimer(DrainIdleTimer, new DrainStalled(), DrainIdle); // progress: wait again
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes.Buffer);
            bytes.Window.Release(bytes.Length);
        }
    }

    private void OnReadEnded(ReadEnded ended)
    {
        if (ended.Generation != _cursor.Generation || _cursor.Finished || _cursor.Limiter.LimitReached)
        {
            return;
        }

        if (_cursor.Following)
        {
            // A follow reader never ends on its own: any end is a drop, so read again from the offset.
            Timers.StartSingleTimer(ReattachTimer, new Reattach(_cursor.Generation), _reattachDelay);
            return;
        }

        if (_cursor.DrainRequester is null)
        {
            return;
        }

        if ((ended.Dropped || ended.Error is not null) && ++_cursor.DrainAttempts < MaxDrainAttempts)
        {
            Timers.StartSingleTimer(ReattachTimer, new Reattach(_cursor.Generation), _reattachDelay);
            return;
        }

        if (ended.Dropped || ended.Error is not null)
        {
            // The end of the output could not be read: say so in the trace rather than end it silently short.
            FlushMasker();
            AppendRunnerText($"\u001b[0;33mWARNING: the rest of the job's output could not be read after {MaxDrainAttempts} " +
                             $"attempts ({ended.Error ?? "the connection dropped"}); the trace may be incomplete\u001b[0;m\n");
        }

        CompleteDrain();
    }

    private void OnDrain(DrainLog drain)
    {
        _cursor.DrainRequester = Sender;
        if (_cursor.Source is null || _cursor.Limiter.LimitReached)
        {
            CompleteDrain();
            return;
        }

        if (drain.UpTo is { } upTo && _cursor.Following)
        {
            if (_cursor.RawOffset >= upTo)
            {
                CompleteDrain(); // everything the stages wrote has been read
                return;
            }

            // The follow reader (or its reattach after a drop) reads on from its offset; no exec of its own.
            _cursor.DrainUpTo = upTo;
            Timers.StartSingleTimer(DrainIdleTimer, new DrainStalled(), DrainIdle);
            return;
        }

        StartFinalRead();
    }

    // No bytes towards the reported size for DrainIdle: the size is not trusted further, one final read ends the log.
    private void OnDrainStalled()
    {
        if (_cursor.DrainUpTo is null || _cursor.DrainRequester is null || _cursor.Finished)
        {
            return;
        }

        StartFinalRead();
    }

    private void StartFinalRead()
    {
        _cursor.DrainUpTo = null;
        Timers.Cancel(DrainIdleTimer);
        _cursor.Following = false;
        _cursor.DrainAttempts = 0;
        StartRead(follow: false);
    }

    private void CompleteDrain()
    {
        StopReader();
        _cursor.DrainUpTo = null;
        _cursor.Following = false; // a restart from here reads once more to the end, never follows again
        Timers.Cancel(DrainIdleTimer);
        FlushMasker();
        _cursor.DrainRequester?.Tell(new LogDrained());
        _cursor.DrainRequester = null;
    }

    private void OnFinish(FinishTrace finish)
    {
        if (_cursor.Finished)
        {
            Sender.Tell(new TraceFinished()); // handed over already: the listener heard its last message
            return;
        }

        StopReader();
        FlushMasker();
        AppendRunnerText(finish.FinalText);
        _cursor.Finished = true;
        _listener.Tell(finish.Finished);
        Sender.Tell(new TraceFinished());
    }

    private void OnHandOver(HandOverTrace handOver)
    {
        if (_cursor.Finished)
        {
            Sender.Tell(new TraceFinished());
            return;
        }

        // Bytes the masker still holds back are not flushed: they may begin a secret that the adopting node, reading on,
        // masks. Everything already emitted has reached the listener before JobHandedOver.
        StopReader();
        _cursor.Finished = true;
        _listener.Tell(handOver.HandedOver);
        Sender.Tell(new TraceFinished());
    }

    private void AppendRunnerText(string text)
    {
        if (_cursor.Finished)
        {
            return;
        }

        // Runner text is complete in itself: mask it with its own masker so bytes of the pod log held back by the
        // stream masker stay undecided and cannot be split around it.
        var masker = new TraceMasker(_rules);
        _masked.ResetWrittenCount();
        masker.Process(Encoding.UTF8.GetBytes(text), _masked);
        masker.Flush(_masked);
        Emit(_masked.WrittenSpan);
    }

    private void FlushMasker()
    {
        _masked.ResetWrittenCount();
        _cursor.Masker.Flush(_masked);
        Emit(_masked.WrittenSpan);
    }

    private void Emit(ReadOnlySpan<byte> masked)
    {
        var wasReached = _cursor.Limiter.LimitReached;
        // Each JobTraceChunk owns a new array: pieces of at most MaxTraceChunkBytes stay off the large object heap, whose
        // fresh pages cost a page fault each. Reads can be larger than that (ExecChannels hands on up to 256 KiB; with such
        // reads the large arrays were ~15 % of the runner's CPU in a profile of a 100 MiB trace).
        while (!masked.IsEmpty && !_cursor.Limiter.LimitReached)
        {
            var piece = masked[..Math.Min(masked.Length, MaxTraceChunkBytes)];
            masked = masked[piece.Length..];
            var limited = _cursor.Limiter.Process(piece);
            if (limited.Length > 0)
            {
                _listener.Tell(new JobTraceChunk(_jobId, _cursor.TraceOffset, limited));
                _cursor.TraceOffset += limited.Length;
            }
        }

        if (!masked.IsEmpty)
        {
            _cursor.Limiter.Process(masked); // past the limit: only counted
        }

        if (!wasReached && _cursor.Limiter.LimitReached)
        {
            // As GitLab Runner: past the limit the job runs on but its output is no longer read at all.
            StopReader();
        }
    }
}
