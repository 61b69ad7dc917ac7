using Akka.Actor;
using Scheduler.Actors.Intake;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Metrics;

namespace Scheduler.Run;

/// <summary>Each received job's listener is a <see cref="GitLabJobTrace"/> on the runner entry's client, keeping its trace
/// file in <paramref name="traceDirectory"/> (default <see cref="GitLabJobTrace.DefaultTraceDirectory"/>).</summary>
public sealed class GitLabJobListeners(GitLabClient client, RunnerMetrics? metrics, TimeSpan? updateInterval = null, string? traceDirectory = null,
    int finalRetryLimit = GitLabJobTrace.MaxFinalPatchFailures)
    : IJobListenerFactory
{
    public Props ListenerProps(JobPayload job, string runnerName, IActorRef supervisor) =>
        GitLabJobTrace.Props(job, runnerName, supervisor, client, metrics, updateInterval, traceDirectory, finalRetryLimit);
}
