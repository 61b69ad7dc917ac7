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
/// again from exactly that offset (no gap, no duplicate). DrainLog ends following with one non-follow read;
/// FinishTrace appends the final line and sends JobFinished, the last message the Listener gets for the job;
/// HandOverTrace instead stops where it is and sends JobHandedOver (the node that adopts the job produces the trace again).
/// It is the JobActor's sibling, not its child, so that it keeps its offsets when the JobActor crashes and restarts.
/// </summary>
public sealed class LogStreamActor : ReceiveActor, IWithTimers
{
    private const string ReattachTimer = "reattach";
    private const int MaxDrainAttempts = 3;

    private sealed record LogBytes(int Generation, byte[] Bytes);
    private sealed record ReadEnded(int Generation, bool Dropped, string? Error);
    private sealed record Reattach(int Generation);

    private readonly long _jobId;
    private readonly IActorRef _listener;
    private readonly TimeSpan _reattachDelay;
    private readonly TraceMasker _masker;
    private readonly IReadOnlyList<string> _secrets;
    private readonly OutputLimiter _limiter;

    private StartReading? _source;
    private CancellationTokenSource? _readCancel;
    private int _generation;
    private long _rawOffset;
    private long _traceOffset;
    private bool _following;
    private IActorRef? _drainRequester;
    private int _drainAttempts;
    private bool _finished;

    public ITimerScheduler Timers { get; set; } = null!;

    public LogStreamActor(long jobId, IActorRef listener, IReadOnlyList<string> secrets, long outputLimitBytes, TimeSpan reattachDelay)
    {
        _jobId = jobId;
        _listener = listener;
        _reattachDelay = reattachDelay;
        _secrets = secrets;
        _masker = new TraceMasker(secrets);
        _limiter = new OutputLimiter(outputLimitBytes);

        Receive<TraceText>(text => AppendRunnerText(text.Text));
        Receive<StartReading>(OnStartReading);
        Receive<LogBytes>(OnLogBytes);
        Receive<ReadEnded>(OnReadEnded);
        Receive<Reattach>(reattach =>
        {
            if (reattach.Generation == _generation)
            {
                StartRead(follow: _following);
            }
        });
        Receive<DrainLog>(_ => OnDrain());
        Receive<FinishTrace>(OnFinish);
        Receive<HandOverTrace>(OnHandOver);
    }

    public static Props Props(long jobId, IActorRef listener, IReadOnlyList<string> secrets, long outputLimitBytes, TimeSpan reattachDelay) =>
        Akka.Actor.Props.Create(() => new LogStreamActor(jobId, listener, secrets, outputLimitBytes, reattachDelay));

    /// <summary>What the trace hides: masked variables' values and the job token.</summary>
    public static IReadOnlyList<string> SecretsOf(JobPayload job) =>
        job.Variables.Where(v => v.Masked).Select(v => v.Value).Append(job.Token).ToList();

    protected override void PostStop() => StopReader();

    private void OnStartReading(StartReading start)
    {
        // Idempotent: a restarted JobActor asks again; the reader already running keeps its offset.
        if (_source is not null && _source.Namespace == start.Namespace && _source.Pod == start.Pod)
        {
            return;
        }

        _source = start;
        _following = true;
        StartRead(follow: true);
    }

    private void StartRead(bool follow)
    {
        if (_source is null)
        {
            return;
        }

        StopReader();
        var generation = ++_generation;
        var cancel = _readCancel = new CancellationTokenSource();
        var (gateway, source, self, offset) = (_source.Gateway, _source, Self, _rawOffset);
        var argv = source.ReadLog(offset, follow);
        ReadAsync().PipeTo(self);
        return;

        async Task<object> ReadAsync()
        {
            try
            {
                var code = await gateway.ExecAsync(source.Namespace, source.Pod, source.Container, argv, chunk =>
                {
                    self.Tell(new LogBytes(generation, chunk.ToArray()));
                    return Task.CompletedTask;
                }, cancel.Token);
                return new ReadEnded(generation, false, code == 0 ? null : $"the log reader exited with code {code}");
            }
            catch (ExecConnectionLostException)
            {
                return new ReadEnded(generation, true, null);
            }
            catch (OperationCanceledException)
            {
                return new ReadEnded(generation, false, null);
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
        // Bytes of a reader that was replaced are not counted: the new reader reads them again from _rawOffset.
        if (bytes.Generation != _generation || _finished)
        {
            return;
        }

        _rawOffset += bytes.Bytes.Length;
        Emit(_masker.Process(bytes.Bytes));
    }

    private void OnReadEnded(ReadEnded ended)
    {
        if (ended.Generation != _generation || _finished)
        {
            return;
        }

        if (_following)
        {
            // A follow reader never ends on its own: any end is a drop, so read again from the offset.
            Timers.StartSingleTimer(ReattachTimer, new Reattach(_generation), _reattachDelay);
            return;
        }

        if (_drainRequester is null)
        {
            return;
        }

        if ((ended.Dropped || ended.Error is not null) && ++_drainAttempts < MaxDrainAttempts)
        {
            Timers.StartSingleTimer(ReattachTimer, new Reattach(_generation), _reattachDelay);
            return;
        }

        CompleteDrain();
    }

    private void OnDrain()
    {
        _drainRequester = Sender;
        if (_source is null)
        {
            CompleteDrain();
            return;
        }

        _following = false;
        _drainAttempts = 0;
        StartRead(follow: false);
    }

    private void CompleteDrain()
    {
        StopReader();
        Emit(_masker.Flush());
        _drainRequester?.Tell(new LogDrained());
        _drainRequester = null;
    }

    private void OnFinish(FinishTrace finish)
    {
        if (_finished)
        {
            Sender.Tell(new TraceFinished()); // handed over already: the listener heard its last message
            return;
        }

        StopReader();
        Emit(_masker.Flush());
        AppendRunnerText(finish.FinalText);
        _finished = true;
        _listener.Tell(finish.Finished);
        Sender.Tell(new TraceFinished());
    }

    private void OnHandOver(HandOverTrace handOver)
    {
        if (_finished)
        {
            Sender.Tell(new TraceFinished());
            return;
        }

        // Bytes the masker still holds back are not flushed: they may begin a secret that the adopting node, reading on,
        // masks. Everything already emitted has reached the listener before JobHandedOver.
        StopReader();
        _finished = true;
        _listener.Tell(handOver.HandedOver);
        Sender.Tell(new TraceFinished());
    }

    private void AppendRunnerText(string text)
    {
        if (_finished)
        {
            return;
        }

        // Runner text is complete in itself: mask it with its own masker so bytes of the pod log held back by the
        // stream masker stay undecided and cannot be split around it.
        var masker = new TraceMasker(_secrets);
        var bytes = Encoding.UTF8.GetBytes(text);
        var masked = masker.Process(bytes);
        var rest = masker.Flush();
        Emit([.. masked, .. rest]);
    }

    private void Emit(byte[] masked)
    {
        var limited = _limiter.Process(masked);
        if (limited.Length == 0)
        {
            return;
        }

        _listener.Tell(new JobTraceChunk(_jobId, _traceOffset, limited));
        _traceOffset += limited.Length;
    }
}
