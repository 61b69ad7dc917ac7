using Akka.Actor;
using Scheduler.Messages.Jobs;

namespace Scheduler.Messages.Protocol;

// ---- to the RunnerSupervisor ----

/// <summary>Run a job on the named runner entry. Progress goes to <paramref name="Listener"/>.</summary>
public sealed record RunJob(JobPayload Job, string RunnerName, IActorRef Listener);

/// <summary>Cancel a job. Graceful is GitLab's <c>canceling</c>: stop the script, still run after_script.</summary>
public sealed record CancelJob(long JobId, bool Graceful);

// ---- to the Listener, in this order for one job ----

/// <summary>The job got a slot within <c>concurrent</c> and its runner's <c>limit</c>.</summary>
public sealed record JobAdmitted(long JobId, string RunnerName);

/// <summary>A stage started (<paramref name="Finished"/> false) or ended with <paramref name="ExitCode"/>.</summary>
public sealed record JobStageChanged(long JobId, string Stage, bool Finished, int? ExitCode);

/// <summary>Trace bytes, masked and output-limited; offsets are contiguous from 0.</summary>
public sealed record JobTraceChunk(long JobId, long Offset, byte[] Bytes);

/// <summary>The last message for a job: its pod is deleted and the whole trace was sent.</summary>
public sealed record JobFinished(long JobId, JobResult Result);

public enum JobState { Success, Failed, Canceled }

/// <summary>The outcome. <paramref name="FailureReason"/> uses GitLab's failure_reason names
/// (<see cref="FailureReasons"/>); <paramref name="Message"/> is the final trace line without colours.</summary>
public sealed record JobResult(JobState State, string? FailureReason, int? ExitCode, string Message);

/// <summary>GitLab's failure_reason values that the runner produces.</summary>
public static class FailureReasons
{
    public const string ScriptFailure = "script_failure";
    public const string RunnerSystemFailure = "runner_system_failure";
    public const string JobExecutionTimeout = "job_execution_timeout";
    public const string ImagePullFailure = "image_pull_failure";
    public const string RunnerConfigurationError = "runner_configuration_error";
    public const string JobCanceled = "job_canceled";
}
