using k8s;
using k8s.Autorest;
using k8s.Models;
using Scheduler.Actors.Pods;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>One event of the test's own watch on job pods.</summary>
public sealed record PodEvent(WatchEventType Type, string PodName, string PodUid, string? JobId, string? Owner, string? Phase);

/// <summary>
/// The test's own watch on the job pods of a namespace (selector <c>scheduler/job-id</c>), held for the whole test: it
/// proves how many pods each job got (ADDED events) and who owned them. A watch the server ends is resumed from the last
/// resourceVersion, so no event is seen twice.
/// </summary>
public sealed class PodWatchRecorder : IAsyncDisposable
{
    private readonly k8s.Kubernetes _client;
    private readonly string _namespace;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<PodEvent> _events = [];
    private readonly Task _watching;
    private string? _resourceVersion;

    public PodWatchRecorder(k8s.Kubernetes client, string ns)
    {
        _client = client;
        _namespace = ns;
        _watching = Task.Run(WatchAsync);
    }

    public IReadOnlyList<PodEvent> Events
    {
        get { lock (_events) { return _events.ToArray(); } }
    }

    /// <summary>Pods created for the job (distinct uids seen ADDED).</summary>
    public int PodsCreatedFor(long jobId) => Events
        .Where(e => e.Type == WatchEventType.Added && e.JobId == jobId.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .Select(e => e.PodUid).Distinct().Count();

    /// <summary>Every owner the job's pods have named, in order of first appearance.</summary>
    public IReadOnlyList<string> OwnersOf(long jobId) => Events
        .Where(e => e.JobId == jobId.ToString(System.Globalization.CultureInfo.InvariantCulture) && e.Owner is not null)
        .Select(e => e.Owner!).Distinct().ToArray();

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var (type, pod) in _client.CoreV1.WatchListNamespacedPodAsync(_namespace,
                                   labelSelector: PodMetadata.JobIdLabel, resourceVersion: _resourceVersion,
                                   cancellationToken: _stop.Token))
                {
                    if (type is WatchEventType.Bookmark or WatchEventType.Error)
                    {
                        _resourceVersion = pod?.Metadata?.ResourceVersion ?? _resourceVersion;
                        continue;
                    }

                    _resourceVersion = pod.Metadata.ResourceVersion;
                    lock (_events)
                    {
                        _events.Add(new PodEvent(type, pod.Metadata.Name, pod.Metadata.Uid, ValueOf(pod.Metadata.Labels, PodMetadata.JobIdLabel),
                            ValueOf(pod.Metadata.Annotations, PodMetadata.OwnerAnnotation), pod.Status?.Phase));
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or KubernetesException)
            {
                // Ended or refused (e.g. 410 Gone): resume; after a 410 start over from the current state.
                if (e is HttpOperationException { Response.StatusCode: System.Net.HttpStatusCode.Gone })
                {
                    _resourceVersion = null;
                }

                await Task.Delay(200);
            }
        }
    }

    public static string? ValueOf(IDictionary<string, string>? map, string key) =>
        map is not null && map.TryGetValue(key, out var value) ? value : null;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _watching;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }
}
