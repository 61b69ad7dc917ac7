using Akka.Actor;
using Scheduler.Messages.Protocol;

namespace Scheduler.Exec;

/// <summary>
/// Receives one job's progress from the actor tree and shows it through the <see cref="ConsoleTraceSink"/>; completes
/// <c>finished</c> with the job's result. It is the only caller of the sink, so the sink needs no locking.
/// </summary>
public sealed class ExecListener : ReceiveActor
{
    private long _nextOffset;

    public ExecListener(long jobId, ConsoleTraceSink sink, TaskCompletionSource<JobResult> finished)
    {
        Receive<JobAdmitted>(admitted => admitted.JobId == jobId, _ => { });
        Receive<JobStageChanged>(stage => stage.JobId == jobId, stage =>
        {
            if (stage.Finished)
            {
                sink.StageFinished(stage.Stage, stage.ExitCode);
            }
            else
            {
                sink.StageStarted(stage.Stage);
            }
        });
        Receive<JobTraceChunk>(chunk => chunk.JobId == jobId, chunk =>
        {
            // The tree sends contiguous chunks; anything already shown (a resend after a restart) is skipped.
            var skip = _nextOffset - chunk.Offset;
            if (skip >= chunk.Bytes.Length)
            {
                return;
            }

            var start = (int)Math.Max(0, skip);
            sink.WriteTrace(chunk.Bytes.AsSpan(start));
            _nextOffset = chunk.Offset + chunk.Bytes.Length;
        });
        Receive<JobFinished>(done => done.JobId == jobId, done =>
        {
            finished.TrySetResult(done.Result);
            Context.Stop(Self);
        });
    }

    public static Props Props(long jobId, ConsoleTraceSink sink, TaskCompletionSource<JobResult> finished) =>
        Akka.Actor.Props.Create(() => new ExecListener(jobId, sink, finished));
}
