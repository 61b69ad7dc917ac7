using System.Collections.Concurrent;
using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// A scripted kubelet for API tests: binds every pod and marks it Running, answers exec from a script
/// (<c>sh -c 'exit N'</c> exits N, <c>echo X</c> prints X, <c>cat</c> echoes stdin), and serves a canned log.
/// </summary>
internal sealed class FakePodRuntime(NodeSettings node, IPodHost host) : IPodRuntime
{
    private readonly ConcurrentDictionary<string, V1Pod> _pods = new();

    public IPodHost Host { get; } = host;
    public ConcurrentQueue<string> Kills { get; } = new();
    public bool MarkRunning { get; set; } = true;

    /// <summary>Completes each kill; tests hold it open to observe a terminating pod.</summary>
    public TaskCompletionSource KillGate { get; set; } = CompletedGate();

    public static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    public string LogText { get; set; } = "line 1\nline 2\nline 3\n";

    /// <summary>When set, logs are refused with this message (as a runtime refuses a container that has not started).</summary>
    public string? LogRefusal { get; set; }

    public void PodCreated(V1Pod pod)
    {
        var key = Key(pod.Metadata.NamespaceProperty, pod.Metadata.Name);
        _pods[key] = pod;
        if (!MarkRunning) return;
        _ = Task.Run(() =>
        {
            var meta = pod.Metadata;
            Host.BindPod(meta.NamespaceProperty, meta.Name, meta.Uid, node.NodeName);
            Host.RecordEvent(new V1ObjectReference { Kind = "Pod", ApiVersion = "v1", NamespaceProperty = meta.NamespaceProperty, Name = meta.Name, Uid = meta.Uid },
                "Normal", "Scheduled", $"Successfully assigned {meta.NamespaceProperty}/{meta.Name} to {node.NodeName}");
            Host.UpdatePodStatus(meta.NamespaceProperty, meta.Name, meta.Uid, new V1PodStatus
            {
                Phase = "Running", HostIP = "127.0.0.1", PodIP = "127.0.0.1", StartTime = DateTime.UtcNow,
                Conditions =
                [
                    new V1PodCondition { Type = "PodScheduled", Status = "True" },
                    new V1PodCondition { Type = "Initialized", Status = "True" },
                    new V1PodCondition { Type = "ContainersReady", Status = "True" },
                    new V1PodCondition { Type = "Ready", Status = "True" },
                ],
                ContainerStatuses = pod.Spec.Containers.Select(c => new V1ContainerStatus
                {
                    Name = c.Name, Image = c.Image, ImageID = c.Image, Ready = true, Started = true, RestartCount = 0,
                    State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = DateTime.UtcNow } },
                }).ToList(),
            });
        });
    }

    public async Task KillPodAsync(string @namespace, string name, string uid, long gracePeriodSeconds)
    {
        Kills.Enqueue($"{@namespace}/{name}:{gracePeriodSeconds}");
        await KillGate.Task;
        _pods.TryRemove(Key(@namespace, name), out _);
    }

    public async Task StreamLogAsync(string @namespace, string podName, PodLogOptions options, Stream output, CancellationToken cancellationToken)
    {
        if (LogRefusal is not null || !_pods.ContainsKey(Key(@namespace, podName)))
            throw new PodRuntimeException(400, "BadRequest", LogRefusal ?? $"pod {podName} is unknown to the node");
        var lines = LogText.Split('\n', StringSplitOptions.RemoveEmptyEntries).AsEnumerable();
        if (options.TailLines is { } tail) lines = lines.TakeLast((int)tail);
        foreach (var line in lines)
        {
            var text = (options.Timestamps ? "2026-01-01T00:00:00.000000000Z " : "") + $"{options.Container}: {line}\n";
            await output.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        }
        if (options.Follow)
        {
            // A followed log keeps producing until the client goes away.
            for (var i = 0; ; i++)
            {
                await Task.Delay(20, cancellationToken);
                await output.WriteAsync(Encoding.UTF8.GetBytes($"follow {i}\n"), cancellationToken);
            }
        }
    }

    public async Task<int> ExecAsync(ExecRequest request, ExecStreams streams, CancellationToken cancellationToken)
    {
        if (!_pods.ContainsKey(Key(request.Namespace, request.PodName)))
            throw new PodRuntimeException(404, "NotFound", $"pod {request.PodName} not found");
        var command = request.Command;
        if (command is ["sh", "-c", var script] && script.StartsWith("exit ", StringComparison.Ordinal))
            return int.Parse(script[5..].Trim());
        if (command is ["echo", ..])
        {
            await streams.Stdout!.WriteAsync(Encoding.UTF8.GetBytes(string.Join(' ', command.Skip(1)) + "\n"), cancellationToken);
            return 0;
        }
        if (command is ["warn", ..])
        {
            await streams.Stderr!.WriteAsync(Encoding.UTF8.GetBytes(string.Join(' ', command.Skip(1)) + "\n"), cancellationToken);
            return 1;
        }
        if (command is ["cat"])
        {
            await streams.Stdin!.CopyToAsync(streams.Stdout!, cancellationToken);
            return 0;
        }
        if (command is ["spew", var count])
        {
            for (var i = 0; i < int.Parse(count); i++)
                await streams.Stdout!.WriteAsync(Encoding.UTF8.GetBytes($"chunk {i}\n"), cancellationToken);
            return 0;
        }
        if (command is ["blob", var size])
        {
            // One write of `size` bytes counting 0..250 over and over: a check of order as well as of length.
            var blob = new byte[int.Parse(size)];
            for (var i = 0; i < blob.Length; i++) blob[i] = (byte)(i % 251);
            await streams.Stdout!.WriteAsync(blob, cancellationToken);
            return 0;
        }
        throw new PodRuntimeException(500, "InternalError", $"unknown command {string.Join(' ', command)}");
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static string Key(string ns, string name) => $"{ns}/{name}";
}
