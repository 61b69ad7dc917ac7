namespace Scheduler.Messages.Fleet;

/// <summary>Marks a message that crosses runner nodes. Every such message is bound to the fleet's JSON serializer
/// (registered in <c>Scheduler/Hosting/SchedulerAkka</c>); messages that stay on one node do not implement it.</summary>
public interface IFleetMessage;

// ---- JobIntake ⇄ the node's fleet-limits actor: a runner entry's `limit` held across the whole fleet ----

/// <summary>Before asking GitLab for a job of <paramref name="Runner"/>: may this node take one more, within
/// <paramref name="Limit"/> jobs across the fleet? Answered with <see cref="SlotGranted"/> or <see cref="SlotRefused"/>.</summary>
public sealed record RequestSlot(string Runner, int Limit, string LeaseId) : IFleetMessage;

/// <summary>The slot is held under <paramref name="LeaseId"/> until <see cref="ReleaseSlot"/>.</summary>
public sealed record SlotGranted(string LeaseId) : IFleetMessage;

/// <summary>The fleet is at the runner's limit (or the answer could not be had): ask again after check_interval.</summary>
public sealed record SlotRefused(string LeaseId) : IFleetMessage;

/// <summary>The slot is free again: GitLab had no job, or the job that held it ended or left this node.</summary>
public sealed record ReleaseSlot(string Runner, string LeaseId) : IFleetMessage;

/// <summary>An adopted job holds a slot whether or not the limit has room: it is already running.</summary>
public sealed record AdoptSlot(string Runner, string LeaseId) : IFleetMessage;
