using Akka.Actor;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Admits jobs within <c>concurrent</c> and each runner's <c>limit</c> (see <see cref="Admission"/>): a job beyond
/// capacity waits, never fails. Spawns one JobActor per admitted job and frees its slot when it stops. A crashing
/// JobActor is restarted (it re-derives its state from Kubernetes) up to a limit; past it the job fails. Each job's
/// LogStreamActor is a sibling of its JobActor here, so the trace's offsets survive the JobActor's restarts.
/// AdoptJob starts a JobActor for an existing pod at once (beyond the limits: it runs already); HandOverJobs makes every
/// JobActor stop driving its job (a job that was handed over is not reported as failed) and fails the jobs still
/// waiting, which have no pod another node could adopt.
/// </summary>
public sealed class JobCoordinator : ReceiveActor
{
    private sealed record Pending(RunJob Request, RunnerEntry Runner);
    private sealed record Running(IActorRef Actor, IActorRef Log, IActorRef Listener, bool Done);

    public const string LeavingReason = "the node is leaving the fleet";

    private readonly GlobalSettings _settings;
    private readonly IKubernetesGatewayFactory _gateways;
    private readonly ExecutionOptions _options;
    private readonly IActorRef _podWatcher;
    private readonly Admission _admission;
    private readonly Dictionary<long, Pending> _pending = [];
    private readonly Dictionary<long, Running> _running = [];

    public JobCoordinator(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher)
    {
        _settings = settings;
        _gateways = gateways;
        _options = options;
        _podWatcher = podWatcher;
        _admission = new Admission(settings.Concurrent,
            settings.Runners.GroupBy(r => r.Name).ToDictionary(g => g.Key, g => g.First().Limit));

        Receive<RunJob>(OnRunJob);
        Receive<AdoptJob>(OnAdoptJob);
        Receive<HandOverJobs>(_ => OnHandOverJobs());
        Receive<UpdateAdmissionLimits>(update =>
        {
            _admission.UpdateLimits(update.Concurrent, update.Limits);
            AdmitWhatFits();
        });
        Receive<GetCapacity>(_ =>
            Sender.Tell(new CapacityStatus(_admission.Concurrent, _admission.RunningPerRunner(), _admission.WaitingCount)));
        Receive<CancelJob>(OnCancelJob);
        Receive<JobDone>(done =>
        {
            if (_running.TryGetValue(done.JobId, out var running))
            {
                _running[done.JobId] = running with { Done = true };
            }
        });
        Receive<Terminated>(OnTerminated);
    }

    public static Props Props(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher) =>
        Akka.Actor.Props.Create(() => new JobCoordinator(settings, gateways, options, podWatcher));

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(_options.MaxJobRestarts, TimeSpan.FromMinutes(1), _ => Directive.Restart);

    private void OnRunJob(RunJob run)
    {
        var jobId = run.Job.Id;
        if (_admission.IsKnown(jobId))
        {
            return; // the same job twice: it is already waiting or running
        }

        var runner = _settings.Runners.FirstOrDefault(r => r.Name == run.RunnerName);
        if (runner is null)
        {
            run.Listener.Tell(new JobFinished(jobId, new JobResult(JobState.Failed, FailureReasons.RunnerConfigurationError, null,
                $"ERROR: Job failed: no runner named \"{run.RunnerName}\" in the configuration")));
            return;
        }

        _pending[jobId] = new Pending(run, runner);
        _admission.Enqueue(jobId, runner.Name);
        AdmitWhatFits();
    }

    private void OnAdoptJob(AdoptJob adopt)
    {
        var jobId = adopt.Job.Id;
        var runner = _settings.Runners.FirstOrDefault(r => r.Name == adopt.RunnerName);
        if (runner is null)
        {
            adopt.Listener.Tell(new JobHandedOver(jobId, $"no runner named \"{adopt.RunnerName}\" in this node's configuration"));
            return;
        }

        if (!_admission.Adopt(jobId, runner.Name, adopt.Pod.ConcurrentId))
        {
            return; // already here
        }

        adopt.Listener.Tell(new JobAdmitted(jobId, runner.Name));
        var name = adopt.Pod.Name;
        var suffix = name.Length > PodNaming.SuffixLength ? name[^PodNaming.SuffixLength..] : name;
        Start(adopt.Job, runner, adopt.Pod.ConcurrentId, suffix, adopt.Listener, adopt.Pod.StartedAt, adopt.Pod);
    }

    private void OnHandOverJobs()
    {
        foreach (var (jobId, pending) in _pending.ToList())
        {
            _admission.Remove(jobId);
            _pending.Remove(jobId);
            pending.Request.Listener.Tell(new JobFinished(jobId, new JobResult(JobState.Failed, FailureReasons.RunnerSystemFailure,
                null, "ERROR: Job failed: the runner node left the fleet before the job started")));
        }

        foreach (var running in _running.Values)
        {
            running.Actor.Tell(new HandOverRequested(LeavingReason));
        }
    }

    private void OnCancelJob(CancelJob cancel)
    {
        if (_admission.IsWaiting(cancel.JobId) && _pending.Remove(cancel.JobId, out var pending))
        {
            _admission.Remove(cancel.JobId);
            pending.Request.Listener.Tell(new JobFinished(cancel.JobId,
                new JobResult(JobState.Canceled, FailureReasons.JobCanceled, null, "ERROR: Job failed: canceled")));
            return;
        }

        if (_running.TryGetValue(cancel.JobId, out var running))
        {
            running.Actor.Tell(new CancelRequested(cancel.Graceful));
        }
    }

    private void OnTerminated(Terminated terminated)
    {
        var entry = _running.FirstOrDefault(r => r.Value.Actor.Equals(terminated.ActorRef));
        if (entry.Value is null)
        {
            return;
        }

        _running.Remove(entry.Key);
        _admission.Remove(entry.Key);
        Context.Stop(entry.Value.Log);
        if (!entry.Value.Done)
        {
            entry.Value.Listener.Tell(new JobFinished(entry.Key, new JobResult(JobState.Failed,
                FailureReasons.RunnerSystemFailure, null, "ERROR: Job failed: the job's actor failed repeatedly")));
        }

        AdmitWhatFits();
    }

    private void AdmitWhatFits()
    {
        foreach (var (jobId, _, concurrentId) in _admission.AdmitAll())
        {
            _pending.Remove(jobId, out var pending);
            var run = pending!.Request;
            run.Listener.Tell(new JobAdmitted(jobId, pending.Runner.Name));
            var suffix = (_options.PodNameSuffix ?? PodNaming.RandomSuffix)();
            Start(run.Job, pending.Runner, concurrentId, suffix, run.Listener, Context.System.Scheduler.Now, adopted: null);
        }
    }

    private void Start(Scheduler.Messages.Jobs.JobPayload job, RunnerEntry runner, int concurrentId, string suffix, IActorRef listener,
        DateTimeOffset timeoutFrom, AdoptedPod? adopted)
    {
        var limit = (long)Math.Max(1, runner.OutputLimit) * 1024;
        var log = Context.ActorOf(LogStreamActor.Props(job.Id, listener, LogStreamActor.SecretsOf(job), limit,
            _options.ReattachDelay), $"log-{job.Id}");
        var actor = Context.ActorOf(JobActor.Props(job, runner, concurrentId, suffix, listener, log, _gateways,
            _options, _podWatcher, timeoutFrom, adopted), $"job-{job.Id}");
        Context.Watch(actor);
        _running[job.Id] = new Running(actor, log, listener, false);
    }
}
