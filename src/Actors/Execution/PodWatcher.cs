using Akka.Actor;
using k8s;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Actors.Execution;

/// <summary>
/// The node's pod watches: one per (cluster, namespace), started by the first subscriber that needs it (a PodActor that
/// waits for Running; in a fleet a JobActor, which reacts to an owner change) and kept while any actor follows a pod
/// there (on a single node each JobActor follows its pod without starting a watch, to keep it counted), and for an idle
/// linger after its last pod is left: the next job's pod usually comes within it, and reusing the open watch saves a
/// watch request (and its initial events) per job. Events are fanned out to every actor that asked about the pod. A
/// watch that ends or fails is started again after a pause, unless no one follows a pod there. It only makes PodActors
/// react sooner: their poll timers are the guarantee.
/// It reports to the <see cref="IExecutionObserver"/> each restart of a watch and the phases of the pods it follows (each
/// pod once, by the phase of its latest event; a pod that is deleted or no longer followed leaves the count).
/// </summary>
public sealed class PodWatcher : ReceiveActor, IWithTimers
{
    private sealed record WatchKey(string Cluster, string Namespace);
    private sealed record WatchEvent(WatchKey Key, int Generation, WatchEventType Type, V1Pod Pod);
    private sealed record WatchEnded(WatchKey Key, int Generation);
    private sealed record RestartWatch(WatchKey Key);
    private sealed record IdleLingerEnded(WatchKey Key);
    private sealed record IdleTimerKey(WatchKey Key);

    private sealed class ActiveWatch(IKubernetesGateway gateway)
    {
        public IKubernetesGateway Gateway { get; } = gateway;
        public Dictionary<string, List<IActorRef>> Subscribers { get; } = [];

        /// <summary>The latest phase of each followed pod that an event named.</summary>
        public Dictionary<string, string> Phases { get; } = [];
        public CancellationTokenSource? Cancel { get; set; }
        public int Generation { get; set; }
    }

    private readonly Dictionary<WatchKey, ActiveWatch> _watches = [];
    private readonly TimeSpan _restartDelay;
    private readonly TimeSpan _idleLinger;
    private readonly IExecutionObserver _observer;
    private Dictionary<string, int> _reportedPhases = [];
    private int _nextGeneration;

    public ITimerScheduler Timers { get; set; } = null!;

    public PodWatcher(TimeSpan restartDelay, IExecutionObserver observer, TimeSpan idleLinger)
    {
        _restartDelay = restartDelay;
        _idleLinger = idleLinger;
        _observer = observer;

        Receive<WatchPod>(OnWatchPod);
        Receive<UnwatchPod>(unwatch => Remove(new WatchKey(unwatch.Cluster, unwatch.Namespace), unwatch.PodName, Sender));
        Receive<WatchEvent>(OnEvent);
        Receive<WatchEnded>(ended =>
        {
            if (_watches.TryGetValue(ended.Key, out var watch) && watch.Generation == ended.Generation)
            {
                if (watch.Subscribers.Count == 0)
                {
                    Drop(ended.Key, watch); // lingering idle: nothing to restart it for
                }
                else
                {
                    Timers.StartSingleTimer(ended.Key, new RestartWatch(ended.Key), _restartDelay);
                }
            }
        });
        Receive<IdleLingerEnded>(idle =>
        {
            if (_watches.TryGetValue(idle.Key, out var watch) && watch.Subscribers.Count == 0)
            {
                Drop(idle.Key, watch);
            }
        });
        Receive<RestartWatch>(restart =>
        {
            if (_watches.TryGetValue(restart.Key, out var watch))
            {
                _observer.WatchRestarted();
                Start(restart.Key, watch);
            }
        });
        Receive<Terminated>(terminated =>
        {
            foreach (var (key, watch) in _watches.ToList())
            {
                foreach (var (pod, subscribers) in watch.Subscribers.ToList())
                {
                    if (subscribers.Contains(terminated.ActorRef))
                    {
                        Remove(key, pod, terminated.ActorRef);
                    }
                }
            }
        });
    }

    /// <summary>Props of the node's watcher.</summary>
    /// <param name="idleLinger">How long a watch stays open after the last pod followed through it is left (default 30 s).</param>
    public static Props Props(TimeSpan restartDelay, IExecutionObserver? observer = null, TimeSpan? idleLinger = null) =>
        Akka.Actor.Props.Create(() => new PodWatcher(restartDelay, observer ?? NoExecutionObserver.Instance,
            idleLinger ?? DefaultIdleLinger));

    /// <summary>A few of GitLab's 3 s job requests: long enough for the next job's pod on a busy runner, short enough that
    /// watches of namespaces no job uses any more (namespace_per_job) do not pile up.</summary>
    public static readonly TimeSpan DefaultIdleLinger = TimeSpan.FromSeconds(30);

    // The standard phases at zero from the start, so that the series exist before the first pod.
    protected override void PreStart() => ReportPhases(force: true);

    protected override void PostStop()
    {
        foreach (var watch in _watches.Values)
        {
            watch.Cancel?.Cancel();
        }

        _watches.Clear();
        ReportPhases(force: false);
    }

    private void OnWatchPod(WatchPod request)
    {
        var key = new WatchKey(request.Cluster, request.Namespace);
        if (!_watches.TryGetValue(key, out var watch))
        {
            watch = new ActiveWatch(request.Gateway);
            _watches[key] = watch;
        }

        if (!watch.Subscribers.TryGetValue(request.PodName, out var subscribers))
        {
            subscribers = watch.Subscribers[request.PodName] = [];
        }

        if (!subscribers.Contains(Sender))
        {
            subscribers.Add(Sender);
        }

        Context.Watch(Sender);
        Timers.Cancel(new IdleTimerKey(key));
        if (watch.Cancel is null && request.StartsWatch)
        {
            Start(key, watch); // the first subscriber that needs the watch starts it
        }
    }

    private void OnEvent(WatchEvent evt)
    {
        if (!_watches.TryGetValue(evt.Key, out var watch) || watch.Generation != evt.Generation)
        {
            return;
        }

        if (evt.Pod.Metadata?.Name is { } name && watch.Subscribers.TryGetValue(name, out var subscribers))
        {
            foreach (var subscriber in subscribers)
            {
                subscriber.Tell(new PodUpdated(evt.Type, evt.Pod));
            }

            if (evt.Type == WatchEventType.Deleted)
            {
                watch.Phases.Remove(name);
            }
            else if (evt.Type is WatchEventType.Added or WatchEventType.Modified)
            {
                watch.Phases[name] = string.IsNullOrEmpty(evt.Pod.Status?.Phase) ? PodPhases.Default : evt.Pod.Status.Phase;
            }

            ReportPhases(force: false);
        }
    }

    /// <summary>Tells the observer the pods per phase when the counts changed since the last report.</summary>
    private void ReportPhases(bool force)
    {
        var counts = PodPhases.Standard.ToDictionary(phase => phase, _ => 0, StringComparer.Ordinal);
        foreach (var phase in _watches.Values.SelectMany(w => w.Phases.Values))
        {
            counts[phase] = counts.GetValueOrDefault(phase) + 1;
        }

        if (!force && counts.Count == _reportedPhases.Count
            && counts.All(c => _reportedPhases.TryGetValue(c.Key, out var n) && n == c.Value))
        {
            return;
        }

        _reportedPhases = counts;
        _observer.PodPhasesChanged(counts);
    }

    private void Remove(WatchKey key, string pod, IActorRef subscriber)
    {
        if (!_watches.TryGetValue(key, out var watch) || !watch.Subscribers.TryGetValue(pod, out var subscribers)
            || !subscribers.Remove(subscriber))
        {
            return;
        }

        if (subscribers.Count == 0)
        {
            watch.Subscribers.Remove(pod);
            watch.Phases.Remove(pod);
        }

        if (!_watches.Values.Any(w => w.Subscribers.Values.Any(list => list.Contains(subscriber))))
        {
            Context.Unwatch(subscriber);
        }

        if (watch.Subscribers.Count == 0)
        {
            if (watch.Cancel is not null && !Timers.IsTimerActive(key))
            {
                Timers.StartSingleTimer(new IdleTimerKey(key), new IdleLingerEnded(key), _idleLinger);
            }
            else
            {
                Drop(key, watch); // never started, or waiting to restart: nothing worth keeping
            }
        }

        ReportPhases(force: false);
    }

    private void Drop(WatchKey key, ActiveWatch watch)
    {
        watch.Cancel?.Cancel();
        Timers.Cancel(key);
        Timers.Cancel(new IdleTimerKey(key));
        _watches.Remove(key);
    }

    private void Start(WatchKey key, ActiveWatch watch)
    {
        watch.Cancel?.Cancel();
        var cancel = watch.Cancel = new CancellationTokenSource();
        var generation = watch.Generation = ++_nextGeneration;
        var (gateway, self) = (watch.Gateway, Self);
        RunAsync().PipeTo(self);
        return;

        async Task<object> RunAsync()
        {
            try
            {
                await foreach (var (type, pod) in gateway.WatchPodsAsync(key.Namespace, PodMetadata.JobIdLabel, cancel.Token))
                {
                    self.Tell(new WatchEvent(key, generation, type, pod));
                }
            }
            catch (Exception)
            {
                // Ended or failed alike: the owner restarts it after a pause, the PodActors keep polling meanwhile.
            }

            return new WatchEnded(key, generation);
        }
    }
}
