using Akka.Actor;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;

namespace Scheduler.Exec;

/// <summary>Runs one job through a RunnerSupervisor and waits for its end, turning cancellation into CancelJob.</summary>
public static class ExecJobRun
{
    /// <summary>How long an aborted job may take to delete its pod and report.</summary>
    public static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(60);

    /// <param name="graceful">First Ctrl-C: the script is stopped, after_script still runs.</param>
    /// <param name="abort">Second Ctrl-C: stop at once (the pod is still deleted).</param>
    public static async Task<JobResult> RunAsync(ActorSystem system, IActorRef supervisor, JobPayload job, string runnerName,
        ConsoleTraceSink sink, CancellationToken graceful, CancellationToken abort)
    {
        var finished = new TaskCompletionSource<JobResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = system.ActorOf(ExecListener.Props(job.Id, sink, finished), $"exec-listener-{job.Id}");
        // RunJob first: a cancellation that came before it is then delivered after it, from the same sender, in order.
        supervisor.Tell(new RunJob(job, runnerName, listener));
        using var onGraceful = graceful.Register(() => supervisor.Tell(new CancelJob(job.Id, Graceful: true)));
        using var onAbort = abort.Register(() => supervisor.Tell(new CancelJob(job.Id, Graceful: false)));

        var abortedLongAgo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onAbortTimer = abort.Register(() => _ = Task.Delay(AbortGrace).ContinueWith(_ => abortedLongAgo.TrySetResult()));
        var first = await Task.WhenAny(finished.Task, abortedLongAgo.Task);
        if (first == finished.Task)
        {
            return await finished.Task;
        }

        system.Stop(listener);
        return new JobResult(JobState.Canceled, FailureReasons.JobCanceled, null, "aborted; the job did not report its end in time");
    }
}
