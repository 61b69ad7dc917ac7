using Akka.Actor;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Intake;

/// <summary>What one request for work gave.</summary>
public abstract record JobRequestOutcome
{
    /// <summary>A job, already acknowledged to the job source (GitLab's two-phase commit: <c>PUT state=running</c>).</summary>
    public sealed record Received(JobPayload Job) : JobRequestOutcome;

    /// <summary>Nothing to do now: ask again after <c>check_interval</c>.</summary>
    public sealed record NoJob : JobRequestOutcome;

    /// <summary>The runner's credentials were refused: an unhealthy answer.</summary>
    public sealed record Forbidden(string Message) : JobRequestOutcome;

    /// <summary>Ask again after <paramref name="Delay"/> (server-chosen or backoff). <see cref="Unhealthy"/>: no answer came at
    /// all (the connection failed), which counts towards <c>unhealthy_requests_limit</c> as GitLab Runner counts it.</summary>
    public sealed record Retry(TimeSpan Delay, string Message) : JobRequestOutcome
    {
        public bool Unhealthy { get; init; }
    }

    /// <summary>Something else went wrong (e.g. a job that could not be acknowledged); ask again after <c>check_interval</c>.</summary>
    public sealed record Failed(string Message) : JobRequestOutcome;
}

/// <summary>The port through which an intake asks for work (GitLab's <c>POST /jobs/request</c> in production).
/// Up to <c>request_concurrency</c> calls may be in flight at once for one source.</summary>
public interface IJobSource
{
    Task<JobRequestOutcome> RequestJobAsync(CancellationToken ct);
}

/// <summary>Makes the per-job listener (the trace sink) that receives the job's progress from the actor tree.</summary>
public interface IJobListenerFactory
{
    /// <param name="supervisor">Where the listener sends <c>CancelJob</c> when the job source asks for it.</param>
    Props ListenerProps(JobPayload job, string runnerName, IActorRef supervisor);
}

/// <summary>How many jobs an intake may have at once and how often it asks. <paramref name="Limit"/> 0 means only
/// <paramref name="Concurrent"/> bounds it.</summary>
public sealed record IntakeLimits(int Concurrent, int Limit, TimeSpan CheckInterval)
{
    /// <summary><c>unhealthy_requests_limit</c>: unhealthy answers in a row after which the entry stops asking for
    /// <see cref="UnhealthyInterval"/> (GitLab Runner's defaults: 3, 60 minutes).</summary>
    public int UnhealthyRequestsLimit { get; init; } = 3;
    public TimeSpan UnhealthyInterval { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary><c>request_concurrency</c>: job requests the entry may have in flight at once, each with its own slot
    /// reservation (GitLab Runner's default: 1).</summary>
    public int RequestConcurrency { get; init; } = 1;

    public int MaxJobs => Limit > 0 ? Math.Min(Limit, Math.Max(1, Concurrent)) : Math.Max(1, Concurrent);
}

/// <summary>Applies new limits (a config reload); they bound new admissions only.</summary>
public sealed record UpdateIntakeLimits(IntakeLimits Limits);

/// <summary>To a runner's intake: a job whose pod this node has just claimed (its owner left the fleet). The intake makes
/// the job's listener, counts the job as running, and sends <c>AdoptJob</c> to the supervisor.</summary>
public sealed record AdoptIntoIntake(JobPayload Job, Scheduler.Messages.Protocol.AdoptedPod Pod);

/// <summary>Stop asking for work; running jobs go on.</summary>
public sealed record StopAsking
{
    public static readonly StopAsking Instance = new();
}

/// <summary>Fail every running job of the intake with <paramref name="FailureReason"/> and delete its pod.</summary>
public sealed record AbortRunningJobs(string FailureReason);

/// <summary>To a listener: cancel the job at once and report it as failed with <paramref name="FailureReason"/>.</summary>
public sealed record AbortJob(string FailureReason);

public sealed record GetIntakeStatus
{
    public static readonly GetIntakeStatus Instance = new();
}

/// <summary>An intake's state: <paramref name="Healthy"/> false after its credentials were refused.</summary>
public sealed record IntakeStatus(string RunnerName, bool Healthy, bool Asking, IReadOnlyList<long> RunningJobs)
{
    /// <summary>A job request is out and its answer not yet handled.</summary>
    public bool RequestInFlight => RequestsInFlight > 0;

    /// <summary>Job requests out whose answers are not yet handled (at most <c>request_concurrency</c>).</summary>
    public int RequestsInFlight { get; init; }
}

/// <summary>To the RunnerSupervisor: start an intake as its child (<c>/user/runner/&lt;Name&gt;</c>); answered with its
/// IActorRef.</summary>
public sealed record StartIntake(Props Props, string Name);
