using Scheduler.LocalCluster.Images;

namespace Scheduler.LocalCluster.Runtime;

// A container's image: where it comes from (the host or the store), and pulling it as kubelet does.
internal sealed partial class LocalPod
{
    private static readonly TimeSpan MaxPullBackOff = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Makes the container's image present as its imagePullPolicy asks and returns it, or null when the container runs on
    /// the host's filesystem (see <see cref="ImageSources"/>). Waits, with events and waiting reasons as kubelet reports
    /// them, while the image cannot be had: ErrImagePull then ImagePullBackOff (retried with a doubling back-off),
    /// InvalidImageName, ErrImageNeverPull.
    /// </summary>
    private async Task<LocalImage?> PullImageAsync(LocalContainer container)
    {
        var image = container.Spec.Image ?? "";
        var source = ImageSources.Decide(image, _env.Node);
        switch (source.Kind)
        {
            case ImageSourceKind.Host:
                Event("Normal", "Pulled", source.Message!, container);
                return null;
            case ImageSourceKind.Missing:
                await FailPullForeverAsync(container, image, source.Message!);
                return null;
            case ImageSourceKind.Invalid:
                SetWaiting(container, "InvalidImageName", source.Message);
                Event("Warning", "InspectFailed", source.Message!, container);
                Event("Warning", "Failed", "Error: InvalidImageName", container);
                Publish();
                await Task.Delay(Timeout.Infinite, StopToken);
                return null;
        }

        var reference = source.Reference!;
        var policy = container.Spec.ImagePullPolicy ?? "IfNotPresent";
        var backoff = TimeSpan.FromSeconds(2);
        while (true)
        {
            var present = await _env.Images.FindAsync(reference, StopToken);
            if (present is not null && policy != "Always")
            {
                Event("Normal", "Pulled", $"Container image \"{image}\" already present on machine", container);
                return present;
            }
            string failure;
            if (policy == "Never")
            {
                failure = $"Container image \"{image}\" is not present with pull policy of Never";
                SetWaiting(container, "ErrImageNeverPull", failure);
                EventOnce("Warning", "ErrImageNeverPull", failure, container);
                EventOnce("Warning", "Failed", "Error: ErrImageNeverPull", container);
                Publish();
                await Task.Delay(backoff, StopToken);
                continue;
            }
            Event("Normal", "Pulling", $"Pulling image \"{image}\"", container);
            var started = DateTime.UtcNow;
            try
            {
                var pulled = await _env.Images.PullAsync(reference, RegistryAuth.AuthFile(PullSecrets()), policy != "Always", StopToken);
                Event("Normal", "Pulled", string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"Successfully pulled image \"{image}\" in {(DateTime.UtcNow - started).TotalSeconds:0.###}s"), container);
                return pulled;
            }
            catch (ImagePullException exception)
            {
                failure = $"Failed to pull image \"{image}\": {exception.Message}";
            }
            await ReportPullFailureAsync(container, image, failure);
            await Task.Delay(backoff, StopToken);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxPullBackOff.Ticks));
        }
    }

    /// <summary>As the kubelet: <c>ErrImagePull</c> with its events, then after a moment <c>ImagePullBackOff</c>.</summary>
    private async Task ReportPullFailureAsync(LocalContainer container, string image, string failure)
    {
        SetWaiting(container, "ErrImagePull", failure);
        Event("Warning", "Failed", failure, container);
        Event("Warning", "Failed", "Error: ErrImagePull", container);
        Publish();
        await Task.Delay(PodEnvironment.RetryInterval, StopToken);
        SetWaiting(container, "ImagePullBackOff", $"Back-off pulling image \"{image}\"");
        Event("Normal", "BackOff", $"Back-off pulling image \"{image}\"", container);
        Event("Warning", "Failed", "Error: ImagePullBackOff", container);
        Publish();
    }

    /// <summary>The images the node was told are missing (<c>--missing-images</c>): the pull fails and is never retried.</summary>
    private async Task FailPullForeverAsync(LocalContainer container, string image, string failure)
    {
        Event("Normal", "Pulling", $"Pulling image \"{image}\"", container);
        await ReportPullFailureAsync(container, image, failure);
        await Task.Delay(Timeout.Infinite, StopToken);
    }

    private void SetWaiting(LocalContainer container, string reason, string? message)
    {
        lock (_lock)
        {
            container.WaitingReason = reason;
            container.WaitingMessage = message;
        }
    }

    // Kubelet skips a pull secret that does not exist (with a warning) and tries the others.
    private IEnumerable<k8s.Models.V1Secret> PullSecrets() =>
        (Pod.Spec?.ImagePullSecrets ?? [])
        .Where(reference => !string.IsNullOrEmpty(reference.Name))
        .Select(reference => _env.Host.GetSecret(Namespace, reference.Name))
        .OfType<k8s.Models.V1Secret>()
        .ToList();

    private void EventOnce(string type, string reason, string message, LocalContainer container)
    {
        lock (_lock)
        {
            if (!_recordedEvents.Add($"{container.Name}\n{reason}\n{message}")) return;
        }
        Event(type, reason, message, container);
    }
}
