using Akka.Actor;
using k8s;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Actors.Execution;

/// <summary>
/// The node's pod watches: one per (cluster, namespace) while some PodActor waits for a pod there, fanned out to
/// every actor that asked about the pod (its PodActor while it waits for Running; in a fleet also its JobActor, which
/// reacts to an owner change). A watch that ends or fails is started again after a pause. It only makes PodActors
/// react sooner: their poll timers are the guarantee.
/// </summary>
public sealed class PodWatcher : ReceiveActor, IWithTimers
{
    private sealed record WatchKey(string Cluster, string Namespace);
    private sealed record WatchEvent(WatchKey Key, int Generation, WatchEventType Type, V1Pod Pod);
    private sealed record WatchEnded(WatchKey Key, int Generation);
    private sealed record RestartWatch(WatchKey Key);

    private sealed class ActiveWatch(IKubernetesGateway gateway)
    {
        public IKubernetesGateway Gateway { get; } = gateway;
        public Dictionary<string, List<IActorRef>> Subscribers { get; } = [];
        public CancellationTokenSource? Cancel { get; set; }
        public int Generation { get; set; }
    }

    private readonly Dictionary<WatchKey, ActiveWatch> _watches = [];
    private readonly TimeSpan _restartDelay;
    private int _nextGeneration;

    public ITimerScheduler Timers { get; set; } = null!;

    public PodWatcher(TimeSpan restartDelay)
    {
        _restartDelay = restartDelay;

        Receive<WatchPod>(OnWatchPod);
        Receive<UnwatchPod>(unwatch => Remove(new WatchKey(unwatch.Cluster, unwatch.Namespace), unwatch.PodName, Sender));
        Receive<WatchEvent>(OnEvent);
        Receive<WatchEnded>(ended =>
        {
            if (_watches.TryGetValue(ended.Key, out var watch) && watch.Generation == ended.Generation)
            {
                Timers.StartSingleTimer(ended.Key, new RestartWatch(ended.Key), _restartDelay);
            }
        });
        Receive<RestartWatch>(restart =>
        {
            if (_watches.TryGetValue(restart.Key, out var watch))
            {
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

    public static Props Props(TimeSpan restartDelay) => Akka.Actor.Props.Create(() => new PodWatcher(restartDelay));

    protected override void PostStop()
    {
        foreach (var watch in _watches.Values)
        {
            watch.Cancel?.Cancel();
        }
    }

    private void OnWatchPod(WatchPod request)
    {
        var key = new WatchKey(request.Cluster, request.Namespace);
        if (!_watches.TryGetValue(key, out var watch))
        {
            watch = new ActiveWatch(request.Gateway);
            _watches[key] = watch;
            Start(key, watch);
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
        }
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
        }

        if (!_watches.Values.Any(w => w.Subscribers.Values.Any(list => list.Contains(subscriber))))
        {
            Context.Unwatch(subscriber);
        }

        if (watch.Subscribers.Count == 0)
        {
            watch.Cancel?.Cancel();
            Timers.Cancel(key);
            _watches.Remove(key);
        }
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
