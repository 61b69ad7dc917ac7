using System.Text;
using k8s.Models;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Execution;

/// <summary>What a look at the pod says about starting the job. Pure.</summary>
public abstract record PodVerdict
{
    public sealed record Running : PodVerdict;
    public sealed record Waiting(string Phase) : PodVerdict;
    public sealed record Failed(string FailureReason, string Message) : PodVerdict;
}

/// <summary>Reads a pod's status as GitLab Runner's waitForPodRunning does, failing fast on terminal container
/// errors (image pull, invalid image, container configuration).</summary>
public static class PodStatus
{
    public static PodVerdict Judge(V1Pod? pod)
    {
        if (pod is null)
        {
            return new PodVerdict.Failed(FailureReasons.RunnerSystemFailure, "the job's pod is gone");
        }

        var phase = pod.Status?.Phase ?? "";
        switch (phase)
        {
            case "Running" when (pod.Status?.ContainerStatuses ?? []).All(c => c.Ready):
                // As GitLab Runner today: the containers must be ready too, not only the pod's phase Running.
                return new PodVerdict.Running();
            case "Succeeded":
                return new PodVerdict.Failed(FailureReasons.RunnerSystemFailure, "pod already succeeded before it begins running");
            case "Failed":
                return new PodVerdict.Failed(FailureReasons.RunnerSystemFailure, "pod status is failed");
        }

        foreach (var status in AllContainerStatuses(pod))
        {
            var waiting = status.State?.Waiting;
            if (waiting?.Reason is null)
            {
                continue;
            }

            switch (waiting.Reason)
            {
                case "ErrImagePull" or "ImagePullBackOff" or "InvalidImageName":
                    return new PodVerdict.Failed(FailureReasons.ImagePullFailure, $"image pull failed: {waiting.Message ?? waiting.Reason}");
                case "CreateContainerConfigError":
                    return new PodVerdict.Failed(FailureReasons.RunnerConfigurationError,
                        $"container configuration error: {waiting.Message ?? waiting.Reason}");
            }
        }

        return new PodVerdict.Waiting(phase.Length == 0 ? "Pending" : phase);
    }

    /// <summary>The trace line printed while waiting: the phase, then each unmet condition and each waiting container.</summary>
    public static string WaitingLine(V1Pod pod)
    {
        var ns = pod.Metadata?.NamespaceProperty ?? "";
        var name = pod.Metadata?.Name ?? "";
        var phase = string.IsNullOrEmpty(pod.Status?.Phase) ? "Pending" : pod.Status!.Phase;
        var text = new StringBuilder($"Waiting for pod {ns}/{name} to be running, status is {phase}\n");
        var printed = new HashSet<string>();
        foreach (var condition in pod.Status?.Conditions ?? [])
        {
            // Ready and ContainersReady usually say the same thing: print it once.
            var line = $"\t{condition.Reason}: \"{condition.Message}\"\n";
            if (condition.Status != "True" && !string.IsNullOrEmpty(condition.Reason) && printed.Add(line))
            {
                text.Append(line);
            }
        }

        foreach (var status in AllContainerStatuses(pod))
        {
            if (status.State?.Waiting?.Reason is { } reason)
            {
                text.Append("\tcontainer ").Append(status.Name).Append(": ").Append(reason);
                if (!string.IsNullOrEmpty(status.State.Waiting.Message))
                {
                    text.Append(": \"").Append(status.State.Waiting.Message).Append('"');
                }

                text.Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>Whether a Warning event is only the pod's wait for its job Secret, which the runner creates just after the pod
    /// (kubelet's FailedMount, then a retry): expected once the pod reached Running, so not for a failed job's trace. Any
    /// other mount failure is, and so is this one for a pod that never ran (it may be why). kubelet words it
    /// <c>secret "x" not found</c> with the Watch change-detection strategy and <c>secrets "x" not found</c> (the API's
    /// NotFound) with Cache or Get.</summary>
    public static bool IsJobSecretMountWait(Corev1Event warning, string jobSecretName, bool podReachedRunning) =>
        podReachedRunning
        && warning.Reason == "FailedMount"
        && warning.Message is { } message
        && (message.Contains($"secret \"{jobSecretName}\" not found", StringComparison.Ordinal)
            || message.Contains($"secrets \"{jobSecretName}\" not found", StringComparison.Ordinal));

    private static IEnumerable<V1ContainerStatus> AllContainerStatuses(V1Pod pod) =>
        (pod.Status?.InitContainerStatuses ?? []).Concat(pod.Status?.ContainerStatuses ?? []);
}
