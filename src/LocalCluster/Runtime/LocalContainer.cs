using System.Diagnostics;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>One container of a pod on the node: its spec, its process once started, and what its status reports.</summary>
internal sealed class LocalContainer(V1Container spec, bool isInit, string containerId)
{
    public V1Container Spec { get; } = spec;
    public string Name => Spec.Name;
    public bool IsInit { get; } = isInit;
    public string ContainerId { get; } = containerId;

    public string WaitingReason { get; set; } = "ContainerCreating";
    public string? WaitingMessage { get; set; }

    public Process? Process { get; set; }
    /// <summary>A process inside the running container that execs join (its command), once found; null for a new run.</summary>
    public ContainerProcess? JoinProcess { get; set; }
    public ContainerLog? Log { get; set; }
    /// <summary>The sandbox it runs in; exec reuses it with another command.</summary>
    public SandboxSpec? Sandbox { get; set; }
    public IReadOnlyDictionary<string, string>? Environment { get; set; }
    /// <summary>The image it runs in, once pulled; null while pulling, or for a container on the host's filesystem.</summary>
    public Images.LocalImage? Image { get; set; }

    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public int? ExitCode { get; set; }
    /// <summary>Completes once the process has exited and its output is in the log.</summary>
    public TaskCompletionSource Exited { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int RestartCount { get; private set; }
    public V1ContainerStateTerminated? LastTermination { get; private set; }
    /// <summary>The log of the run before the latest one, served by <c>previous=true</c>.</summary>
    public ContainerLog? PreviousLog { get; set; }
    public List<Process> Execs { get; } = [];
    /// <summary>Its postStart hook is running: as with kubelet, the container is not reported running until the hook ends.</summary>
    public bool InPostStart { get; set; }

    /// <summary>Moves the finished run into lastState and waits in CrashLoopBackOff; returns the back-off (1 s doubling, at most 30 s).</summary>
    public TimeSpan PrepareRestart(string podName)
    {
        LastTermination = Terminated();
        Process = null;
        JoinProcess = null;
        Sandbox = null;
        StartedAt = null;
        FinishedAt = null;
        ExitCode = null;
        Exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backoff = TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(RestartCount, 5)));
        RestartCount++;
        WaitingReason = "CrashLoopBackOff";
        WaitingMessage = $"back-off {backoff.TotalSeconds:0}s restarting failed container={Name} pod={podName}";
        return backoff;
    }

    private V1ContainerStateTerminated Terminated() => new()
    {
        ExitCode = ExitCode ?? 0,
        Reason = ExitCode == 0 ? "Completed" : "Error",
        StartedAt = StartedAt,
        FinishedAt = FinishedAt,
        ContainerID = ContainerIdUri,
    };

    public bool IsRunning => StartedAt is not null && ExitCode is null;
    public bool IsTerminated => ExitCode is not null;
    public bool HasStarted => StartedAt is not null;

    public V1ContainerStatus BuildStatus()
    {
        var state = new V1ContainerState();
        if (ExitCode is not null)
        {
            state.Terminated = Terminated();
        }
        else if (StartedAt is { } startedAt && !InPostStart)
        {
            state.Running = new V1ContainerStateRunning { StartedAt = startedAt };
        }
        else
        {
            state.Waiting = new V1ContainerStateWaiting { Reason = WaitingReason, Message = WaitingMessage };
        }
        return new V1ContainerStatus
        {
            Name = Name,
            Image = Spec.Image ?? "",
            ImageID = !HasStarted && RestartCount == 0 ? "" : Image?.ImageId ?? $"local://{Spec.Image}",
            ContainerID = HasStarted ? ContainerIdUri : LastTermination?.ContainerID,
            Ready = IsRunning && !InPostStart,
            Started = IsRunning && !InPostStart,
            RestartCount = RestartCount,
            State = state,
            LastState = new V1ContainerState { Terminated = LastTermination },
        };
    }

    /// <summary>Each run is a new container, as with a CRI runtime.</summary>
    public string ContainerIdUri => $"local://{ContainerId}{RestartCount:x4}";
}
