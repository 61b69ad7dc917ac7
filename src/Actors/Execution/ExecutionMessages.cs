using Akka.Actor;
using k8s;
using k8s.Models;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

// Messages inside the actor tree. The public protocol is Scheduler.Messages.Protocol.

// ---- JobActor ⇄ PodActor ----
internal sealed record PodCreated(V1Pod Pod);
internal sealed record PodReady(V1Pod Pod);
internal sealed record PodNotStarted(string FailureReason, string Message);
internal sealed record TraceText(string Text);
/// <summary>To a PodActor still making the pod: the job is over; stop retrying, delete what was made, report PodNotStarted
/// (or PodCreated when the pod was made and owns its Secrets already).</summary>
internal sealed record StopStartingPod(string Reason);

// ---- a stage's end (StageRun.Judge, in the JobActor) ----
/// <summary><paramref name="LogSize"/>: the output log's size when the stage ended, as its marker says (null: not recorded).</summary>
internal sealed record StageExited(string Stage, int ExitCode, long? LogSize = null);
internal sealed record StageBroken(string Stage, string Message);

// ---- JobActor ⇄ LogStreamActor ----
internal sealed record StartReading(IKubernetesGateway Gateway, string Namespace, string Pod, string Container,
    Func<long, bool, IReadOnlyList<string>> ReadLog);
/// <summary>End the trace's reading. <paramref name="UpTo"/>: the output log's size the last stage reported; the follow
/// reader reads on to it and no final read is made (null: one final read to the end of the file, as before).</summary>
internal sealed record DrainLog(long? UpTo = null);
internal sealed record LogDrained;
internal sealed record FinishTrace(string FinalText, JobFinished Finished);
internal sealed record TraceFinished;
/// <summary>Stop reading, deliver what was read, then tell the listener <paramref name="HandedOver"/> instead of JobFinished.</summary>
internal sealed record HandOverTrace(JobHandedOver HandedOver);

// ---- JobCoordinator ⇄ JobActor ----
internal sealed record CancelRequested(bool Graceful);
internal sealed record JobDone(long JobId);
/// <summary>Stop driving the job: no delete, no outcome; the listener gets JobHandedOver.</summary>
internal sealed record HandOverRequested(string Reason);

// ---- PodWatcher ----
/// <summary>Follow the pod through the namespace's watch. <paramref name="StartsWatch"/> false joins a running watch (or one
/// that a later subscriber starts) without starting it.</summary>
internal sealed record WatchPod(string Cluster, string Namespace, string PodName, IKubernetesGateway Gateway, bool StartsWatch = true);
internal sealed record UnwatchPod(string Cluster, string Namespace, string PodName);
internal sealed record PodUpdated(WatchEventType Type, V1Pod Pod);

// ---- JobCoordinator ⇄ JobSlot ----
/// <summary>Routed to a free slot: hold it for <paramref name="Requester"/>'s next job and tell it so; give it back after
/// <paramref name="Ttl"/> unused.</summary>
internal sealed record HoldReservation(string ReservationId, int ConcurrentId, IActorRef Requester, TimeSpan Ttl);
internal sealed record DropReservation(string ReservationId);
internal sealed record ReservationExpired(int Slot, string ReservationId);
/// <summary>Run the job in this slot: its LogStreamActor and JobActor become the slot's children.</summary>
internal sealed record StartJobInSlot(Scheduler.Messages.Jobs.JobPayload Job, Scheduler.Messages.Settings.RunnerEntry Runner,
    int ConcurrentId, string PodNameSuffix, IActorRef Listener, DateTimeOffset TimeoutFrom, AdoptedPod? Adopted);
/// <summary>The slot's job has stopped (finished, handed over or failed for good): the slot is free.</summary>
internal sealed record SlotFreed(int Slot, long JobId);

// ---- tests ----
/// <summary>Makes the receiving actor throw, as a bug would: the fault tests kill actors on purpose with it. Internal: it is
/// not one of the fleet's wire messages, so no remote sender can name it.</summary>
internal sealed record CrashForTest
{
    public static readonly CrashForTest Instance = new();
}

internal sealed class InjectedCrashException() : Exception("crash injected by a test");
