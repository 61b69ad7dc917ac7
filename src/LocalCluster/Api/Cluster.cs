using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s.Models;
using Scheduler.LocalCluster.Resources;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Store;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Api;

/// <summary>How a DELETE was asked for.</summary>
internal sealed record DeleteRequest(long? GracePeriodSeconds, string? PropagationPolicy, string? PreconditionUid, string? PreconditionResourceVersion, bool DryRun);

/// <summary>
/// The API semantics of the embedded cluster, independent of HTTP: admission (defaults, validation), create, replace,
/// patch, delete with graceful pod termination, ownerReference garbage collection, and the store side of the runtime seam.
/// This file holds reads; Cluster.Create.cs, Cluster.Update.cs, Cluster.Delete.cs and Cluster.PodHost.cs the rest.
/// </summary>
internal sealed partial class Cluster : IPodHost
{
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    private readonly ConcurrentDictionary<string, Task> _terminations = new();
    private readonly NodeSettings _node;
    private long _eventCounter;
    private int _nextServiceIp = 10;
    private IPodRuntime? _runtime;

    private readonly ConcurrentQueue<(DateTime Created, string Namespace, string Name)> _eventAges = new();
    private readonly TimeSpan _eventTimeToLive;

    public Cluster(ObjectStore store, NodeSettings node, TimeSpan eventTimeToLive)
    {
        Store = store;
        _node = node;
        _eventTimeToLive = eventTimeToLive;
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
            Create(ResourceKind.Namespaces, null, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } }, dryRun: false);
        CreateNode();
    }

    public ObjectStore Store { get; }

    /// <summary>Set once, right after construction (the runtime is built with this host).</summary>
    public IPodRuntime Runtime
    {
        get => _runtime ?? throw new InvalidOperationException("runtime not attached");
        set => _runtime = value;
    }


    public JsonObject Get(ResourceKind kind, string? ns, string name)
    {
        if (kind.Namespaced) RequireNamespaceForRead(ns!, kind, name);
        return Store.Get(kind, ns ?? "", name) ?? throw ApiException.NotFound(kind, name);
    }

    private void RequireNamespaceForRead(string ns, ResourceKind kind, string name)
    {
        if (Store.Get(ResourceKind.Namespaces, "", ns) is null) throw ApiException.NotFound(kind, name);
    }

    public static Func<JsonObject, bool> Matcher(LabelSelector labels, FieldSelector fields) => obj =>
    {
        if (!fields.Matches(obj)) return false;
        if (labels.IsEmpty) return true;
        var map = (ObjectStore.Meta(obj)["labels"] as JsonObject)?
            .ToDictionary(kv => kv.Key, kv => JsonText.Str(kv.Value) ?? "") ?? new Dictionary<string, string>();
        return labels.Matches(map);
    };

}
