using Akka.Actor;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Messages.Protocol;

// ---- to the RunnerSupervisor ----

/// <summary>Run a job on the named runner entry. Progress goes to <paramref name="Listener"/>. With
/// <see cref="ReservationId"/> the job takes the slot reserved for it (<see cref="ReserveSlot"/>); without, or when the
/// reservation has expired, it waits for a slot.</summary>
public sealed record RunJob(JobPayload Job, string RunnerName, IActorRef Listener)
{
    public string? ReservationId { get; init; }
}

/// <summary>An intake asks for one of the node's slots for its runner entry before it asks GitLab for a job (admission is
/// pull-based). Answered with <see cref="SlotReserved"/> (from the slot) or <see cref="NoSlotFree"/>.</summary>
public sealed record ReserveSlot(string RunnerName, string ReservationId);

/// <summary>A slot is held for the job the intake is about to receive, which gets <paramref name="ConcurrentId"/>. The
/// reservation ends with <see cref="RunJob"/> (its ReservationId set), <see cref="ReleaseSlotReservation"/>, or after
/// a while unused.</summary>
public sealed record SlotReserved(string ReservationId, int ConcurrentId);

/// <summary>No slot is free for the entry now (the node is full, or the entry is at its <c>limit</c>).</summary>
public sealed record NoSlotFree(string ReservationId);

/// <summary>The intake received no job for its reservation: the slot is free again.</summary>
public sealed record ReleaseSlotReservation(string ReservationId);

/// <summary>Cancel a job. Graceful is GitLab's <c>canceling</c>: stop the script, still run after_script.</summary>
public sealed record CancelJob(long JobId, bool Graceful);

/// <summary>Drive a job whose pod already exists and was claimed for this node (its previous owner left the fleet):
/// the stages go on where the pod is, the trace is produced again from its start (the listener skips what GitLab holds).
/// Admitted at once, even beyond <c>concurrent</c>: the job is already running.</summary>
public sealed record AdoptJob(JobPayload Job, string RunnerName, AdoptedPod Pod, IActorRef Listener);

/// <summary>Where an adopted job runs. <paramref name="StartedVia"/> is the host name of the node that created the pod
/// (the trace names it); <paramref name="StartedAt"/> is the pod's creation time, from which the job timeout counts.</summary>
public sealed record AdoptedPod(string Namespace, string Name, int ConcurrentId, string StartedVia, DateTimeOffset StartedAt);

/// <summary>Stop driving every job of this node without deleting pods or reporting outcomes (a graceful leave: other
/// nodes adopt them). Each job's listener gets <see cref="JobHandedOver"/>.</summary>
public sealed record HandOverJobs
{
    public static readonly HandOverJobs Instance = new();
}

/// <summary>New <c>concurrent</c> and per-runner <c>limit</c> values (a config reload); they bound new admissions.</summary>
public sealed record UpdateAdmissionLimits(int Concurrent, IReadOnlyDictionary<string, int> Limits);

/// <summary>The runner entries of a reloaded config: jobs started from now on are built with them (pod shape, allow-lists,
/// security contexts, …); running jobs keep the entry they started with. Entries the node does not serve are ignored.</summary>
public sealed record UpdateRunnerEntries(IReadOnlyList<RunnerEntry> Runners);

/// <summary>Asks the coordinator how full this node is; answered with <see cref="CapacityStatus"/>.</summary>
public sealed record GetCapacity
{
    public static readonly GetCapacity Instance = new();
}

/// <summary>This node's jobs: running per runner entry, waiting for a slot, and <c>concurrent</c>.</summary>
public sealed record CapacityStatus(int Concurrent, IReadOnlyDictionary<string, int> RunningPerRunner, int Waiting)
{
    public int Running => RunningPerRunner.Values.Sum();
    public int Free => Math.Max(0, Concurrent - Running);
}

// ---- to the Listener, in this order for one job ----

/// <summary>The job got a slot within <c>concurrent</c> and its runner's <c>limit</c>.</summary>
public sealed record JobAdmitted(long JobId, string RunnerName);

/// <summary>A stage started (<paramref name="Finished"/> false) or ended with <paramref name="ExitCode"/>.</summary>
public sealed record JobStageChanged(long JobId, string Stage, bool Finished, int? ExitCode);

/// <summary>Trace bytes, masked and output-limited; offsets are contiguous from 0.</summary>
public sealed record JobTraceChunk(long JobId, long Offset, byte[] Bytes);

/// <summary>The last message for a job: its pod is deleted and the whole trace was sent.</summary>
public sealed record JobFinished(long JobId, JobResult Result);

/// <summary>Instead of <see cref="JobFinished"/>: this node no longer drives the job (it was handed over, or another node
/// owns its pod now). The pod keeps running; the listener sends the trace it has and stops without a final update.</summary>
public sealed record JobHandedOver(long JobId, string Reason);

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
