using Akka.Actor;
using Akka.Event;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Execution;

/// <summary>
/// The node's capacity: a pool of <c>concurrent</c> <see cref="JobSlot"/>s (routees of <see cref="SlotPool"/>'s router) and
/// the admission rules (<see cref="Admission"/>, pure). An intake reserves a slot before it asks GitLab (ReserveSlot →
/// SlotReserved from the slot, or NoSlotFree) and sends the job it received with the reservation, or releases it; a job
/// sent without one (<c>scheduler exec</c>, tests) waits for a slot. Each slot parents at most one job. AdoptJob takes a slot at
/// once, beyond the limits (the job already runs). HandOverJobs makes every running job stop driving its pod and fails the
/// jobs still waiting, which have no pod another node could adopt. A crash of the coordinator keeps the slots and their jobs
/// running: its state lives in a <see cref="CoordinatorState"/> made once with its Props, and its restart does not stop its
/// children.
/// </summary>
public sealed class JobCoordinator : ReceiveActor
{
    public const string LeavingReason = "the node is leaving the fleet";

    /// <summary>How long a reserved slot waits for its job before it is free again (the intake's GitLab request is long
    /// over by then).</summary>
    public static readonly TimeSpan DefaultReservationTtl = TimeSpan.FromMinutes(5);

    /// <summary>A job that waits for a slot.</summary>
    public sealed record Pending(RunJob Request, RunnerEntry Runner);

    /// <summary>What the coordinator knows; outlives its restarts.</summary>
    public sealed class CoordinatorState(Admission admission)
    {
        public Admission Admission { get; } = admission;
        /// <summary>The runner entries new jobs are built with (the config's, or a reload's).</summary>
        public Dictionary<string, RunnerEntry> Runners { get; } = new(StringComparer.Ordinal);
        public SlotPool Pool { get; } = new();
        public Dictionary<long, Pending> Pending { get; } = [];
        public bool Started { get; set; }
    }

    private readonly GlobalSettings _settings;
    private readonly IKubernetesGatewayFactory _gateways;
    private readonly ExecutionOptions _options;
    private readonly IActorRef _podWatcher;
    private readonly CoordinatorState _state;
    private readonly TimeSpan _reservationTtl;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public JobCoordinator(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher,
        CoordinatorState state, TimeSpan reservationTtl)
    {
        _settings = settings;
        _gateways = gateways;
        _options = options;
        _podWatcher = podWatcher;
        _state = state;
        _reservationTtl = reservationTtl;

        Receive<ReserveSlot>(OnReserve);
        Receive<ReleaseSlotReservation>(release =>
        {
            if (_state.Admission.Release(release.ReservationId) && _state.Pool.EndReservation(release.ReservationId) is { } held)
            {
                held.Slot.Tell(new DropReservation(release.ReservationId));
                FreeSlot(held.Index, null);
            }
        });
        Receive<ReservationExpired>(expired =>
        {
            if (_state.Admission.Release(expired.ReservationId))
            {
                _log.Warning("slot {Slot}: reservation {Reservation} expired unused", expired.Slot, expired.ReservationId);
            }

            _state.Pool.EndReservation(expired.ReservationId);
            FreeSlot(expired.Slot, null);
        });
        Receive<RunJob>(OnRunJob);
        Receive<AdoptJob>(OnAdoptJob);
        Receive<HandOverJobs>(_ => OnHandOverJobs());
        Receive<UpdateAdmissionLimits>(update =>
        {
            _state.Admission.UpdateLimits(update.Concurrent, update.Limits);
            ResizePool(update.Concurrent);
            AdmitWhatFits();
        });
        Receive<UpdateRunnerEntries>(update =>
        {
            foreach (var runner in update.Runners.DistinctBy(r => r.Name))
            {
                if (_state.Runners.ContainsKey(runner.Name))
                {
                    _state.Runners[runner.Name] = runner;
                }
            }
        });
        Receive<GetCapacity>(_ => Sender.Tell(new CapacityStatus(_state.Admission.Concurrent, _state.Admission.RunningPerRunner(),
            _state.Admission.WaitingCount)));
        Receive<CancelJob>(OnCancelJob);
        Receive<SlotFreed>(freed =>
        {
            _state.Admission.Remove(freed.JobId);
            FreeSlot(freed.Slot, freed.JobId);
        });
        Receive<CrashForTest>(_ => throw new InjectedCrashException());
    }

    public static Props Props(GlobalSettings settings, IKubernetesGatewayFactory gateways, ExecutionOptions options, IActorRef podWatcher,
        TimeSpan? reservationTtl = null)
    {
        // Made once here, not in the constructor: what the coordinator knows survives its restarts.
        var state = new CoordinatorState(new Admission(settings.Concurrent,
            settings.Runners.GroupBy(r => r.Name).ToDictionary(g => g.Key, g => g.First().Limit)));
        foreach (var runner in settings.Runners)
        {
            state.Runners.TryAdd(runner.Name, runner); // the first entry of a name wins, as everywhere
        }

        return Akka.Actor.Props.Create(() =>
            new JobCoordinator(settings, gateways, options, podWatcher, state, reservationTtl ?? DefaultReservationTtl));
    }

    protected override void PreStart()
    {
        if (!_state.Started)
        {
            _state.Started = true;
            ResizePool(_settings.Concurrent);
        }
    }

    // The default would stop every slot and so every running job: a crash of the coordinator must lose none.
    protected override void PreRestart(Exception reason, object message) => PostStop();

    // A slot that crashes is resumed: the message is dropped, its job and the job's trace go on. (A restart would also
    // restart the JobActor and the LogStreamActor, which survive it but have nothing to gain from it.)
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(-1, TimeSpan.FromMinutes(1), error =>
        {
            _log.Error(error, "{Child} failed; resumed with its job", Sender.Path.Name);
            return Directive.Resume;
        });

    private RunnerEntry? RunnerNamed(string name) => _state.Runners.GetValueOrDefault(name);

    private void OnReserve(ReserveSlot reserve)
    {
        AdmitWhatFits(); // jobs already waiting go first
        var admission = _state.Admission;
        if (RunnerNamed(reserve.RunnerName) is null
            || admission.TryReserve(reserve.ReservationId, reserve.RunnerName) is not { } concurrentId)
        {
            Sender.Tell(new NoSlotFree(reserve.ReservationId));
            return;
        }

        var routee = _state.Pool.Take(new HoldReservation(reserve.ReservationId, concurrentId, Sender, _reservationTtl), Self);
        if (routee is null)
        {
            // Admission counted a slot the pool does not have (it is being resized): no reservation.
            admission.Release(reserve.ReservationId);
            Sender.Tell(new NoSlotFree(reserve.ReservationId));
            return;
        }

        _state.Pool.Reserved(reserve.ReservationId, routee.Index);
    }

    private void OnRunJob(RunJob run)
    {
        var jobId = run.Job.Id;
        var runner = RunnerNamed(run.RunnerName);
        if (runner is null)
        {
            ReleaseReservation(run.ReservationId);
            run.Listener.Tell(new JobFinished(jobId, new JobResult(JobState.Failed, FailureReasons.RunnerConfigurationError, null,
                $"ERROR: Job failed: no runner named \"{run.RunnerName}\" in the configuration")));
            return;
        }

        if (_state.Admission.IsKnown(jobId))
        {
            ReleaseReservation(run.ReservationId);
            return; // the same job twice: it is already waiting or running
        }

        if (run.ReservationId is { } reservationId && _state.Admission.Claim(reservationId, jobId) is { } concurrentId
            && _state.Pool.EndReservation(reservationId) is { } held)
        {
            StartIn(held.Index, held.Slot, run.Job, runner, concurrentId, NewSuffix(), run.Listener, Context.System.Scheduler.Now, null);
            return;
        }

        // No reservation, or it expired: the job waits for a slot like any other.
        _state.Pending[jobId] = new Pending(run, runner);
        _state.Admission.Enqueue(jobId, runner.Name);
        AdmitWhatFits();
    }

    private void ReleaseReservation(string? reservationId)
    {
        if (reservationId is not null)
        {
            Self.Tell(new ReleaseSlotReservation(reservationId));
        }
    }

    private void OnAdoptJob(AdoptJob adopt)
    {
        var jobId = adopt.Job.Id;
        var runner = RunnerNamed(adopt.RunnerName);
        if (runner is null)
        {
            adopt.Listener.Tell(new JobHandedOver(jobId, $"no runner named \"{adopt.RunnerName}\" in this node's configuration"));
            return;
        }

        if (!_state.Admission.Adopt(jobId, runner.Name, adopt.Pod.ConcurrentId))
        {
            return; // already here
        }

        var name = adopt.Pod.Name;
        var suffix = name.Length > PodNaming.SuffixLength ? name[^PodNaming.SuffixLength..] : name;
        var start = new StartJobInSlot(adopt.Job, runner, adopt.Pod.ConcurrentId, suffix, adopt.Listener, adopt.Pod.StartedAt, adopt.Pod);
        var routee = _state.Pool.Take(start, Self);
        if (routee is null)
        {
            // The job runs already: it takes a slot at once, beyond concurrent.
            var index = _state.Pool.NextIndex;
            var slot = CreateSlot(index);
            _state.Pool.Add(index, slot);
            routee = _state.Pool.Take(start, Self)!;
        }

        adopt.Listener.Tell(new JobAdmitted(jobId, runner.Name));
        _state.Pool.Running(jobId, routee.Index);
    }

    private void OnHandOverJobs()
    {
        foreach (var (jobId, pending) in _state.Pending.ToList())
        {
            _state.Admission.Remove(jobId);
            _state.Pending.Remove(jobId);
            pending.Request.Listener.Tell(new JobFinished(jobId, new JobResult(JobState.Failed,
                FailureReasons.RunnerSystemFailure, null, "ERROR: Job failed: the runner node left the fleet before the job started")));
        }

        foreach (var slot in _state.Pool.BusySlots)
        {
            slot.Tell(new HandOverRequested(LeavingReason));
        }
    }

    private void OnCancelJob(CancelJob cancel)
    {
        if (_state.Admission.IsWaiting(cancel.JobId) && _state.Pending.Remove(cancel.JobId, out var pending))
        {
            _state.Admission.Remove(cancel.JobId);
            pending.Request.Listener.Tell(new JobFinished(cancel.JobId,
                new JobResult(JobState.Canceled, FailureReasons.JobCanceled, null, "ERROR: Job failed: canceled")));
            return;
        }

        _state.Pool.SlotOf(cancel.JobId)?.Tell(new CancelRequested(cancel.Graceful));
    }

    private void FreeSlot(int index, long? jobId)
    {
        if (_state.Pool.Free(index, jobId) is { } retired)
        {
            Context.Stop(retired);
        }

        AdmitWhatFits();
    }

    private void AdmitWhatFits()
    {
        foreach (var (jobId, _, concurrentId) in _state.Admission.AdmitAll())
        {
            _state.Pending.Remove(jobId, out var pending);
            var run = pending!.Request;
            var start = new StartJobInSlot(run.Job, pending.Runner, concurrentId, NewSuffix(), run.Listener,
                Context.System.Scheduler.Now, null);
            var routee = _state.Pool.Take(start, Self);
            if (routee is null)
            {
                // Admission and the pool disagree (a resize in progress): the job waits for the next free slot.
                _state.Admission.Remove(jobId);
                _state.Pending[jobId] = pending;
                _state.Admission.Enqueue(jobId, pending.Runner.Name);
                return;
            }

            run.Listener.Tell(new JobAdmitted(jobId, pending.Runner.Name));
            _state.Pool.Running(jobId, routee.Index);
        }
    }

    private void StartIn(int index, IActorRef slot, JobPayload job, RunnerEntry runner, int concurrentId, string suffix,
        IActorRef listener, DateTimeOffset timeoutFrom, AdoptedPod? adopted)
    {
        listener.Tell(new JobAdmitted(job.Id, runner.Name));
        slot.Tell(new StartJobInSlot(job, runner, concurrentId, suffix, listener, timeoutFrom, adopted));
        _state.Pool.Running(job.Id, index);
    }

    private string NewSuffix() => (_options.PodNameSuffix ?? PodNaming.RandomSuffix)();

    private void ResizePool(int concurrent)
    {
        var toCreate = _state.Pool.Resize(concurrent, out var retired);
        foreach (var index in toCreate)
        {
            _state.Pool.Add(index, CreateSlot(index));
        }

        foreach (var slot in retired)
        {
            Context.Stop(slot);
        }
    }

    private IActorRef CreateSlot(int index)
    {
        // A retired slot of the same index may still be stopping: its name is not free yet.
        var name = JobSlot.Name(index);
        for (var n = 1; !Context.Child(name).IsNobody(); n++)
        {
            name = $"{JobSlot.Name(index)}.{n}";
        }

        return Context.ActorOf(JobSlot.Props(index, _gateways, _options, _podWatcher), name);
    }
}
