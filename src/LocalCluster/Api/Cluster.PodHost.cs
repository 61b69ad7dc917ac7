using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

// What the pod runtime reports back: pod status updates and events.
internal sealed partial class Cluster : IPodHost
{

    public V1Secret? GetSecret(string @namespace, string name) =>
        Store.Get(ResourceKind.Secrets, @namespace, name) is { } s ? ResourceKind.To<V1Secret>(s) : null;

    public V1ConfigMap? GetConfigMap(string @namespace, string name) =>
        Store.Get(ResourceKind.ConfigMaps, @namespace, name) is { } c ? ResourceKind.To<V1ConfigMap>(c) : null;

    public V1PersistentVolumeClaim? GetPersistentVolumeClaim(string @namespace, string name) =>
        Store.Get(ResourceKind.PersistentVolumeClaims, @namespace, name) is { } p ? ResourceKind.To<V1PersistentVolumeClaim>(p) : null;

    private static readonly ResourceKind[] ConfigKinds = [ResourceKind.Secrets, ResourceKind.ConfigMaps, ResourceKind.PersistentVolumeClaims];

    public Task NextConfigChange() => Store.NextChange(ConfigKinds);

    public bool BindPod(string @namespace, string name, string uid, string nodeName) =>
        ChangePod(@namespace, name, uid, pod =>
        {
            var spec = pod["spec"] as JsonObject ?? new JsonObject();
            spec["nodeName"] = nodeName;
            pod["spec"] = spec;
        });

    public bool UpdatePodStatus(string @namespace, string name, string uid, V1PodStatus status) =>
        ChangePod(@namespace, name, uid, pod => pod["status"] = ResourceKind.From(status));

    private bool ChangePod(string ns, string name, string uid, Action<JsonObject> change)
    {
        var found = true;
        try
        {
            Store.Update(ResourceKind.Pods, ns, name, pod =>
            {
                if (JsonText.Str(ObjectStore.Meta(pod)["uid"]) != uid)
                {
                    found = false;
                    return pod;
                }
                change(pod);
                return pod;
            });
        }
        catch (ApiException e) when (e.Code == 404)
        {
            return false;
        }
        return found;
    }

    public void RecordEvent(V1ObjectReference involvedObject, string type, string reason, string message)
    {
        var ns = string.IsNullOrEmpty(involvedObject.NamespaceProperty) ? "default" : involvedObject.NamespaceProperty;
        if (Store.Get(ResourceKind.Namespaces, "", ns) is null) return;
        var now = DateTime.UtcNow;
        var sequence = Interlocked.Increment(ref _eventCounter);
        var ev = new Corev1Event
        {
            ApiVersion = "v1", Kind = "Event",
            Metadata = new V1ObjectMeta
            {
                Name = $"{involvedObject.Name}.{now.Ticks:x}{sequence:x4}", NamespaceProperty = ns,
            },
            InvolvedObject = involvedObject,
            Type = type, Reason = reason, Message = message,
            Source = new V1EventSource { Component = "kubelet", Host = _node.NodeName },
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
            ReportingComponent = "kubelet", ReportingInstance = _node.NodeName,
        };
        try
        {
            Store.Create(ResourceKind.Events, ns, ResourceKind.From(ev));
            _eventAges.Enqueue((now, ns, ev.Metadata.Name));
        }
        catch (ApiException)
        {
            // An event is best effort, as in kube.
        }
        // Events expire (kube-apiserver's --event-ttl), so a long-running cluster does not grow without bound.
        while (_eventAges.TryPeek(out var oldest) && now - oldest.Created > _eventTimeToLive && _eventAges.TryDequeue(out oldest))
            Store.Remove(ResourceKind.Events, oldest.Namespace, oldest.Name);
    }
}
