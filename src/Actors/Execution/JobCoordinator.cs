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
/// </summary>
public sealed class JobCoordinator : ReceiveActor
{
    private sealed record Pending(RunJob Request, RunnerEntry Runner);
    private sealed record Running(IActorRef Actor, IActorRef Log, RunJob Request, bool Done);

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
            entry.Value.Request.Listener.Tell(new JobFinished(entry.Key, new JobResult(JobState.Failed,
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
            var limit = (long)Math.Max(1, pending.Runner.OutputLimit) * 1024;
            var log = Context.ActorOf(LogStreamActor.Props(jobId, run.Listener, LogStreamActor.SecretsOf(run.Job), limit,
                _options.ReattachDelay), $"log-{jobId}");
            var actor = Context.ActorOf(JobActor.Props(run.Job, pending.Runner, concurrentId, suffix, run.Listener, log, _gateways,
                _options, _podWatcher, Context.System.Scheduler.Now), $"job-{jobId}");
            Context.Watch(actor);
            _running[jobId] = new Running(actor, log, run, false);
        }
    }
}
