using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>An in-memory API server side: serves secrets/configmaps/claims and records bindings, statuses and events.</summary>
internal sealed class FakePodHost : IPodHost
{
    private readonly Lock _lock = new();
    private readonly List<(string Pod, V1PodStatus Status)> _statuses = [];
    private readonly List<RecordedEvent> _events = [];

    public ConcurrentDictionary<(string, string), V1Secret> Secrets { get; } = new();
    public ConcurrentDictionary<(string, string), V1ConfigMap> ConfigMaps { get; } = new();
    public ConcurrentDictionary<(string, string), V1PersistentVolumeClaim> Claims { get; } = new();
    public ConcurrentDictionary<string, string> Bindings { get; } = new();

    public V1Secret? GetSecret(string @namespace, string name) => Secrets.GetValueOrDefault((@namespace, name));
    public V1ConfigMap? GetConfigMap(string @namespace, string name) => ConfigMaps.GetValueOrDefault((@namespace, name));
    public V1PersistentVolumeClaim? GetPersistentVolumeClaim(string @namespace, string name) => Claims.GetValueOrDefault((@namespace, name));

    private TaskCompletionSource _nextConfigChange = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task NextConfigChange()
    {
        lock (_lock) return _nextConfigChange.Task;
    }

    /// <summary>Stores the Secret and tells waiting pods, as the API server does on a create.</summary>
    public void AddSecret(string @namespace, string name, V1Secret secret)
    {
        Secrets[(@namespace, name)] = secret;
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _nextConfigChange;
            _nextConfigChange = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    public bool BindPod(string @namespace, string name, string uid, string nodeName)
    {
        Bindings[name] = nodeName;
        return true;
    }

    public bool UpdatePodStatus(string @namespace, string name, string uid, V1PodStatus status)
    {
        // Keep a deep copy: the runtime must not be able to change what it already reported.
        var copy = KubernetesJson.Deserialize<V1PodStatus>(KubernetesJson.Serialize(status));
        lock (_lock) _statuses.Add((name, copy));
        return true;
    }

    public void RecordEvent(V1ObjectReference involvedObject, string type, string reason, string message)
    {
        lock (_lock) _events.Add(new RecordedEvent(involvedObject.Name, type, reason, message, involvedObject.FieldPath));
    }

    public List<V1PodStatus> Statuses(string pod)
    {
        lock (_lock) return _statuses.Where(s => s.Pod == pod).Select(s => s.Status).ToList();
    }

    public List<RecordedEvent> Events(string pod)
    {
        lock (_lock) return _events.Where(e => e.Pod == pod).ToList();
    }

    public V1PodStatus? Latest(string pod) => Statuses(pod).LastOrDefault();

    /// <summary>Waits (bounded) until the pod's latest status satisfies the condition, and returns it.</summary>
    public async Task<V1PodStatus> WaitForStatusAsync(string pod, Func<V1PodStatus, bool> condition, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Latest(pod) is { } status && condition(status)) return status;
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {pod} never reached the expected status; last: {KubernetesJson.Serialize(Latest(pod))}");
    }

    /// <summary>Waits (bounded) until any status reported so far satisfies the condition, and returns the first that does.</summary>
    public async Task<V1PodStatus> WaitForReportedStatusAsync(string pod, Func<V1PodStatus, bool> condition, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Statuses(pod).FirstOrDefault(condition) is { } status) return status;
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {pod} never reported the expected status; last: {KubernetesJson.Serialize(Latest(pod))}");
    }

    public async Task<RecordedEvent> WaitForEventAsync(string pod, string reason, double timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Events(pod).FirstOrDefault(e => e.Reason == reason) is { } found) return found;
            await Task.Delay(25);
        }
        throw new TimeoutException($"pod {pod} never had a {reason} event; events: {string.Join("; ", Events(pod))}");
    }
}

internal sealed record RecordedEvent(string Pod, string Type, string Reason, string Message, string? FieldPath);
