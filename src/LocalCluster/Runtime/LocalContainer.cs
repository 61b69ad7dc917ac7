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
    public ContainerLog? Log { get; set; }
    /// <summary>The sandbox it runs in; exec reuses it with another command.</summary>
    public SandboxSpec? Sandbox { get; set; }
    public IReadOnlyDictionary<string, string>? Environment { get; set; }

    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public int? ExitCode { get; set; }
    /// <summary>Completes once the process has exited and its output is in the log.</summary>
    public TaskCompletionSource Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public List<Process> Execs { get; } = [];

    public bool IsRunning => StartedAt is not null && ExitCode is null;
    public bool IsTerminated => ExitCode is not null;
    public bool HasStarted => StartedAt is not null;

    public V1ContainerStatus BuildStatus()
    {
        var state = new V1ContainerState();
        if (ExitCode is { } exitCode)
        {
            state.Terminated = new V1ContainerStateTerminated
            {
                ExitCode = exitCode,
                Reason = exitCode == 0 ? "Completed" : "Error",
                StartedAt = StartedAt,
                FinishedAt = FinishedAt,
                ContainerID = ContainerIdUri,
            };
        }
        else if (StartedAt is { } startedAt)
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
            ImageID = HasStarted ? $"local://{Spec.Image}" : "",
            ContainerID = HasStarted ? ContainerIdUri : null,
            Ready = IsRunning,
            Started = IsRunning,
            RestartCount = 0,
            State = state,
            LastState = new V1ContainerState(),
        };
    }

    public string ContainerIdUri => $"local://{ContainerId}";
}
