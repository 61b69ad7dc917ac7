using System.Diagnostics;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

// A pod's phase, conditions and container statuses, and their publication to the store.
internal sealed partial class LocalPod
{
    private bool IsFinished() => Phase() is "Succeeded" or "Failed";

    private string Phase()
    {
        if (!_scheduled) return "Pending";
        if (_deadlineExceeded) return "Failed";
        var policy = Pod.Spec?.RestartPolicy ?? "Always";
        // A failed init container fails the pod only when it will not be restarted.
        if (policy == "Never" && _initContainers.Any(c => c.ExitCode is { } code && code != 0)) return "Failed";
        if (_containers.Count > 0 && _containers.All(c => c.IsTerminated))
        {
            if (_containers.All(c => c.ExitCode == 0)) return policy == "Always" ? "Running" : "Succeeded";
            return policy == "Never" ? "Failed" : "Running";
        }
        if (_containers.Count > 0 && _containers.All(c => (c.HasStarted && !c.InPostStart) || c.RestartCount > 0)) return "Running";
        return "Pending";
    }

    private V1PodStatus BuildStatus()
    {
        var now = DateTime.UtcNow;
        var phase = Phase();
        if (!_scheduled)
        {
            SetCondition("PodScheduled", _unschedulableMessage is null ? null : "False", "Unschedulable", _unschedulableMessage, now);
            return new V1PodStatus { Phase = phase, Conditions = Conditions(), QosClass = QosClass };
        }
        SetCondition("PodScheduled", "True", null, null, now);
        var incompleteInit = _initContainers.Where(c => c.ExitCode != 0).Select(c => c.Name).ToList();
        SetCondition("Initialized", incompleteInit.Count == 0 ? "True" : "False", incompleteInit.Count == 0 ? null : "ContainersNotInitialized",
            incompleteInit.Count == 0 ? null : $"containers with incomplete status: [{string.Join(" ", incompleteInit)}]", now);
        var unready = _containers.Where(c => !c.IsRunning || c.InPostStart).Select(c => c.Name).ToList();
        var readyReason = phase == "Succeeded" ? "PodCompleted" : "ContainersNotReady";
        var readyStatus = unready.Count == 0 && phase == "Running" ? "True" : "False";
        var readyMessage = readyStatus == "True" || phase == "Succeeded" ? null : $"containers with unready status: [{string.Join(" ", unready)}]";
        SetCondition("ContainersReady", readyStatus, readyStatus == "True" ? null : readyReason, readyMessage, now);
        SetCondition("Ready", readyStatus, readyStatus == "True" ? null : readyReason, readyMessage, now);
        return new V1PodStatus
        {
            Phase = phase,
            Conditions = Conditions(),
            HostIP = "127.0.0.1",
            HostIPs = [new V1HostIP { Ip = "127.0.0.1" }],
            PodIP = "127.0.0.1",
            PodIPs = [new V1PodIP { Ip = "127.0.0.1" }],
            StartTime = _startTime,
            QosClass = QosClass,
            Reason = _deadlineExceeded ? "DeadlineExceeded" : null,
            Message = _deadlineExceeded ? "Pod was active on the node longer than the specified deadline" : null,
            InitContainerStatuses = _initContainers.Count > 0 ? _initContainers.Select(c => c.BuildStatus()).ToList() : null,
            ContainerStatuses = _containers.Select(c => c.BuildStatus()).ToList(),
        };
    }

    // lastTransitionTime moves only when the condition's status changes.
    private void SetCondition(string type, string? status, string? reason, string? message, DateTime now)
    {
        if (status is null) return;
        var since = _conditions.TryGetValue(type, out var previous) && previous.Status == status ? previous.Since : now;
        _conditions[type] = (status, reason, message, since);
    }

    private List<V1PodCondition> Conditions() =>
        new[] { "Initialized", "Ready", "ContainersReady", "PodScheduled" }
            .Where(_conditions.ContainsKey)
            .Select(type => _conditions[type] is var c
                ? new V1PodCondition { Type = type, Status = c.Status, Reason = c.Reason, Message = c.Message, LastTransitionTime = c.Since }
                : null!)
            .ToList();

    /// <summary>Pushes the status when it differs from the last one pushed; serialised so updates never arrive out of order.</summary>
    public void Publish()
    {
        lock (_publishLock)
        {
            V1PodStatus status;
            lock (_lock)
            {
                // Not placed on this node (bound elsewhere, or deleted before binding): nothing to report.
                if (!_scheduled && _unschedulableMessage is null) return;
                status = BuildStatus();
            }
            var json = KubernetesJson.Serialize(status);
            if (json == _lastPublished) return;
            _lastPublished = json;
            _env.Host.UpdatePodStatus(Namespace, Name, Uid, status);
        }
    }

    public V1PodStatus CurrentStatus()
    {
        lock (_lock) return BuildStatus();
    }

    private void Event(string type, string reason, string message, LocalContainer? container = null)
    {
        var reference = new V1ObjectReference
        {
            ApiVersion = "v1",
            Kind = "Pod",
            NamespaceProperty = Namespace,
            Name = Name,
            Uid = Uid,
            FieldPath = container is null ? null : $"spec.{(container.IsInit ? "initContainers" : "containers")}{{{container.Name}}}",
        };
        _env.Host.RecordEvent(reference, type, reason, message);
    }

    private void EventOnce(string type, string reason, string message)
    {
        lock (_lock)
        {
            if (!_recordedEvents.Add($"{reason}\n{message}")) return;
        }
        Event(type, reason, message);
    }
}
