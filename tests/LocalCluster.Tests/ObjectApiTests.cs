using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>KubernetesClient against the live server: CRUD, selectors, concurrency, deletion and garbage collection.</summary>
public sealed class ObjectApiTests
{
    [Fact]
    public async Task Creates_gets_and_lists_pods_with_server_set_metadata_and_defaults()
    {
        await using var cluster = await TestCluster.StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("web"), "default");

        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.NotNull(created.Metadata.CreationTimestamp);
        Assert.Equal("default", created.Metadata.NamespaceProperty);
        Assert.Equal("Always", created.Spec.RestartPolicy);
        Assert.Equal("default", created.Spec.ServiceAccountName);
        Assert.Equal("IfNotPresent", created.Spec.Containers[0].ImagePullPolicy);
        Assert.Equal("Pending", created.Status.Phase);

        var running = await WaitForPhase(cluster.Client, "web", "Running");
        Assert.Equal("local-node", running.Spec.NodeName);
        var list = await cluster.Client.CoreV1.ListNamespacedPodAsync("default");
        Assert.Equal(["web"], list.Items.Select(p => p.Metadata.Name));
        Assert.True(long.Parse(list.Metadata.ResourceVersion) >= long.Parse(running.Metadata.ResourceVersion));
    }

    [Fact]
    public async Task GenerateName_appends_a_random_suffix()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = Pod("");
        pod.Metadata.Name = null;
        pod.Metadata.GenerateName = "runner-abc-";
        var first = await cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "default");
        var second = await cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "default");

        Assert.Matches("^runner-abc-[bcdfghjklmnpqrstvwxz2456789]{5}$", first.Metadata.Name);
        Assert.NotEqual(first.Metadata.Name, second.Metadata.Name);
        Assert.Equal("runner-abc-", first.Metadata.GenerateName);
    }

    [Theory]
    [InlineData("app=web", "a,b")]
    [InlineData("app==web", "a,b")]
    [InlineData("app!=web", "c,d")]
    [InlineData("app in (web, db)", "a,b,c")]
    [InlineData("app notin (web)", "c,d")]
    [InlineData("tier", "b")]
    [InlineData("!tier", "a,c,d")]
    [InlineData("app=web,tier=front", "b")]
    [InlineData("", "a,b,c,d")]
    public async Task Lists_pods_by_label_selector(string selector, string expected)
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("a", new Dictionary<string, string> { ["app"] = "web" }), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("b", new Dictionary<string, string> { ["app"] = "web", ["tier"] = "front" }), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("c", new Dictionary<string, string> { ["app"] = "db" }), "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("d"), "default");

        var list = await cluster.Client.CoreV1.ListNamespacedPodAsync("default", labelSelector: selector);

        Assert.Equal(expected.Split(','), list.Items.Select(p => p.Metadata.Name));
    }

    [Theory]
    [InlineData("metadata.name=a", "a")]
    [InlineData("metadata.name!=a", "b")]
    [InlineData("status.phase=Running", "a")]
    [InlineData("status.phase=Pending", "b")]
    [InlineData("spec.nodeName=local-node", "a")]
    [InlineData("metadata.namespace=default,metadata.name==b", "b")]
    public async Task Lists_pods_by_field_selector(string selector, string expected)
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("a"), "default");
        await WaitForPhase(cluster.Client, "a", "Running");
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("b"), "default");

        var list = await cluster.Client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: selector);

        Assert.Equal(expected.Split(','), list.Items.Select(p => p.Metadata.Name));
    }

    [Theory]
    [InlineData("labelSelector", "app in (web")]
    [InlineData("labelSelector", "bad key=x")]
    [InlineData("fieldSelector", "spec.image=x")]
    [InlineData("fieldSelector", "metadata.name")]
    public async Task Rejects_bad_selectors_with_BadRequest(string parameter, string selector)
    {
        await using var cluster = await TestCluster.StartAsync();
        var (code, status) = await FailureOf(() => parameter == "labelSelector"
            ? cluster.Client.CoreV1.ListNamespacedPodAsync("default", labelSelector: selector)
            : cluster.Client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: selector));
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Equal("BadRequest", (string?)status["reason"]);
        Assert.Equal(400, (int)status["code"]!);
    }

    [Fact]
    public async Task ResourceVersion_increases_strictly_across_kinds()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        var versions = new List<long>
        {
            long.Parse((await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" } }, "default")).Metadata.ResourceVersion),
            long.Parse((await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default")).Metadata.ResourceVersion),
            long.Parse((await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("s"), "default")).Metadata.ResourceVersion),
            long.Parse((await cluster.Client.CoreV1.PatchNamespacedPodAsync(new V1Patch("""{"metadata":{"labels":{"x":"y"}}}""", V1Patch.PatchType.MergePatch), "p", "default")).Metadata.ResourceVersion),
        };
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(versions.Count, versions.Distinct().Count());
    }

    [Fact]
    public async Task Missing_objects_are_NotFound_statuses()
    {
        await using var cluster = await TestCluster.StartAsync();
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.ReadNamespacedPodAsync("nope", "default"));
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("Failure", (string?)status["status"]);
        Assert.Equal("NotFound", (string?)status["reason"]);
        Assert.Equal("pods \"nope\" not found", (string?)status["message"]);
        Assert.Equal("nope", (string?)status["details"]!["name"]);

        var (nsCode, nsStatus) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("x"), "ghost"));
        Assert.Equal(HttpStatusCode.NotFound, nsCode);
        Assert.Equal("namespaces \"ghost\" not found", (string?)nsStatus["message"]);
    }

    [Fact]
    public async Task Creating_an_existing_name_is_AlreadyExists()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("dup"), "default");
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("dup"), "default"));
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("AlreadyExists", (string?)status["reason"]);
        Assert.Equal("secrets \"dup\" already exists", (string?)status["message"]);
    }

    [Fact]
    public async Task Stale_resourceVersion_on_update_or_patch_is_Conflict()
    {
        await using var cluster = await TestCluster.StartAsync();
        var first = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cfg" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, "default");
        first.Data["a"] = "2";
        var second = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(first, "cfg", "default");
        Assert.Equal("2", second.Data["a"]);

        first.Data["a"] = "3"; // still carries the first resourceVersion
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(first, "cfg", "default"));
        Assert.Equal(HttpStatusCode.Conflict, code);
        Assert.Equal("Conflict", (string?)status["reason"]);
        Assert.Contains("the object has been modified", (string?)status["message"]);

        var stalePatch = $$$"""{"metadata":{"resourceVersion":"{{{first.Metadata.ResourceVersion}}}"},"data":{"a":"4"}}""";
        var (patchCode, _) = await FailureOf(() => cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch(stalePatch, V1Patch.PatchType.MergePatch), "cfg", "default"));
        Assert.Equal(HttpStatusCode.Conflict, patchCode);

        var stored = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("cfg", "default");
        Assert.Equal("2", stored.Data["a"]);
    }

    [Fact]
    public async Task Patches_metadata_with_merge_strategic_and_json_patch()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p", new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }), "default");

        var merged = await cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"metadata":{"labels":{"b":null,"c":"3"}}}""", V1Patch.PatchType.MergePatch), "p", "default");
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["c"] = "3" }, merged.Metadata.Labels);

        var strategic = await cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"metadata":{"annotations":{"note":"x"}},"spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}}""", V1Patch.PatchType.StrategicMergePatch), "p", "default");
        Assert.Equal("x", strategic.Metadata.Annotations["note"]);
        Assert.Equal("busybox:1.37", strategic.Spec.Containers.Single().Image);
        Assert.Equal(["sh", "-c", "sleep 3600"], strategic.Spec.Containers.Single().Command);

        var json = await cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""[{"op":"add","path":"/metadata/labels/d","value":"4"},{"op":"remove","path":"/metadata/labels/a"}]""", V1Patch.PatchType.JsonPatch), "p", "default");
        Assert.Equal(new Dictionary<string, string> { ["c"] = "3", ["d"] = "4" }, json.Metadata.Labels);
    }

    [Fact]
    public async Task Pod_spec_changes_other_than_images_are_Forbidden()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");

        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"spec":{"restartPolicy":"Never"}}""", V1Patch.PatchType.MergePatch), "p", "default"));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal("Invalid", (string?)status["reason"]);
        var cause = status["details"]!["causes"]!.AsArray().Single()!;
        Assert.Equal("spec", (string?)cause["field"]);
        Assert.Equal("FieldValueForbidden", (string?)cause["reason"]);
        Assert.StartsWith("Forbidden: pod updates may not change fields", (string?)cause["message"]);

        var deadline = await cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"spec":{"activeDeadlineSeconds":60,"tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}]}}""", V1Patch.PatchType.MergePatch), "p", "default");
        Assert.Equal(60, deadline.Spec.ActiveDeadlineSeconds);
        Assert.Single(deadline.Spec.Tolerations);
    }

    [Fact]
    public async Task Status_subresource_changes_only_the_status()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");

        var patched = await cluster.Client.CoreV1.PatchNamespacedPodStatusAsync(
            new V1Patch("""{"status":{"phase":"Running"},"metadata":{"labels":{"ignored":"yes"}}}""", V1Patch.PatchType.MergePatch), "p", "default");
        Assert.Equal("Running", patched.Status.Phase);
        Assert.Null(patched.Metadata.Labels);

        var main = await cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"status":{"phase":"Failed"}}""", V1Patch.PatchType.MergePatch), "p", "default");
        Assert.Equal("Running", main.Status.Phase);
    }

    [Fact]
    public async Task Deleting_a_pod_marks_it_terminating_until_the_runtime_has_killed_it()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Runtime.KillGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var deleted = await cluster.Client.CoreV1.DeleteNamespacedPodAsync("p", "default", gracePeriodSeconds: 7);
        Assert.NotNull(deleted.Metadata.DeletionTimestamp);
        Assert.Equal(7, deleted.Metadata.DeletionGracePeriodSeconds);
        var lingering = await cluster.Client.CoreV1.ReadNamespacedPodAsync("p", "default");
        Assert.NotNull(lingering.Metadata.DeletionTimestamp);
        Assert.Equal(["default/p:7"], cluster.Runtime.Kills);

        cluster.Runtime.KillGate.SetResult();
        await WaitUntilGone(cluster.Client, "p");
    }

    [Fact]
    public async Task Grace_period_comes_from_DeleteOptions_body_or_the_pod_spec()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        var withSpecGrace = Pod("spec-grace");
        withSpecGrace.Spec.TerminationGracePeriodSeconds = 12;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(withSpecGrace, "default");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("body-grace"), "default");

        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("spec-grace", "default");
        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("body-grace", "default", new V1DeleteOptions { GracePeriodSeconds = 0 });
        await WaitUntilGone(cluster.Client, "spec-grace");
        await WaitUntilGone(cluster.Client, "body-grace");

        Assert.Equal(["default/body-grace:0", "default/spec-grace:12"], cluster.Runtime.Kills.Order());
    }

    [Fact]
    public async Task Deleting_a_pod_garbage_collects_the_secrets_it_owns()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("owner"), "default");
        var owner = new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = "owner", Uid = pod.Metadata.Uid };
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("owned", owner), "default");
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("unrelated"), "default");

        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("owner", "default");
        await WaitUntilGone(cluster.Client, "owner");

        var secrets = await cluster.Client.CoreV1.ListNamespacedSecretAsync("default");
        Assert.Equal(["unrelated"], secrets.Items.Select(s => s.Metadata.Name));
    }

    [Fact]
    public async Task Secrets_merge_stringData_into_data()
    {
        await using var cluster = await TestCluster.StartAsync();
        var secret = await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("s"), "default");
        Assert.Equal("s3cr3t", System.Text.Encoding.UTF8.GetString(secret.Data["token"]));
        Assert.Null(secret.StringData);
        Assert.Equal("Opaque", secret.Type);
        var deleted = await cluster.Client.CoreV1.DeleteNamespacedSecretAsync("s", "default");
        Assert.Equal("Success", deleted.Status);
    }

    [Fact]
    public async Task Namespaces_get_a_default_service_account_and_pods_need_theirs()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "ci" } });
        var account = await cluster.Client.CoreV1.ReadNamespacedServiceAccountAsync("default", "ci");
        Assert.Equal("ci", account.Metadata.NamespaceProperty);
        var namespaces = await cluster.Client.CoreV1.ListNamespaceAsync();
        Assert.Contains("kube-system", namespaces.Items.Select(n => n.Metadata.Name));

        var pod = Pod("p");
        pod.Spec.ServiceAccountName = "builder";
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "ci"));
        Assert.Equal(HttpStatusCode.Forbidden, code);
        Assert.Contains("serviceaccount \"builder\" not found", (string?)status["message"]);

        await cluster.Client.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = "builder" } }, "ci");
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "ci");
        await cluster.Client.CoreV1.DeleteNamespaceAsync("ci");
        for (var i = 0; i < 200 && (await cluster.Client.CoreV1.ListNamespaceAsync()).Items.Any(n => n.Metadata.Name == "ci"); i++)
            await Task.Delay(25);
        Assert.DoesNotContain("ci", (await cluster.Client.CoreV1.ListNamespaceAsync()).Items.Select(n => n.Metadata.Name));
        Assert.Contains("ci/p:30", cluster.Runtime.Kills);
    }

    [Fact]
    public async Task Claims_are_bound_at_once_and_services_get_a_cluster_ip()
    {
        await using var cluster = await TestCluster.StartAsync();
        var claim = await cluster.Client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(new V1PersistentVolumeClaim
        {
            Metadata = new V1ObjectMeta { Name = "cache" },
            Spec = new V1PersistentVolumeClaimSpec
            {
                AccessModes = ["ReadWriteOnce"],
                Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("1Gi") } },
            },
        }, "default");
        Assert.Equal("Bound", claim.Status.Phase);
        Assert.Equal("1Gi", claim.Status.Capacity["storage"].ToString());
        Assert.Equal("Bound", (await cluster.Client.CoreV1.ReadNamespacedPersistentVolumeClaimAsync("cache", "default")).Status.Phase);

        var service = await cluster.Client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "svc" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] },
        }, "default");
        Assert.Matches(@"^10\.96\.\d+\.\d+$", service.Spec.ClusterIP);
        Assert.Equal("ClusterIP", service.Spec.Type);
    }

    [Fact]
    public async Task The_node_is_listed_and_Ready()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with
        {
            Node = new Scheduler.LocalCluster.Runtime.NodeSettings { NodeName = "builder-1", Labels = new Dictionary<string, string> { ["pool"] = "ci" } },
        });
        var node = (await cluster.Client.CoreV1.ListNodeAsync()).Items.Single();
        Assert.Equal("builder-1", node.Metadata.Name);
        Assert.Equal("ci", node.Metadata.Labels["pool"]);
        Assert.Equal("True", node.Status.Conditions.Single(c => c.Type == "Ready").Status);
    }

    [Fact]
    public async Task Runtime_events_are_recorded_in_the_pods_namespace()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        var events = await cluster.Client.CoreV1.ListNamespacedEventAsync("default",
            fieldSelector: $"involvedObject.name=p,involvedObject.namespace=default,involvedObject.uid={pod.Metadata.Uid}");
        var scheduled = events.Items.Single();
        Assert.Equal("Scheduled", scheduled.Reason);
        Assert.Equal("Normal", scheduled.Type);
        Assert.Equal("kubelet", scheduled.Source.Component);
    }

    [Fact]
    public async Task Unknown_paths_and_verbs_are_statuses()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        var missing = await http.GetAsync("/api/v1/widgets");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("NotFound", (string?)JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["reason"]);

        var put = await http.PutAsync("/api/v1/namespaces/default/pods", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        Assert.Equal("MethodNotAllowed", (string?)JsonNode.Parse(await put.Content.ReadAsStringAsync())!["reason"]);

        var garbage = await http.PostAsync("/api/v1/namespaces/default/pods", new StringContent("{not json", null, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);

        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        Assert.Equal("ok", await http.GetStringAsync("/readyz"));
        var version = await cluster.Client.Version.GetCodeAsync();
        Assert.Equal("1", version.Major);
    }

    [Fact]
    public async Task DryRun_validates_without_storing()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("dry"), "default", dryRun: "All");
        Assert.Equal("dry", pod.Metadata.Name);
        Assert.Empty((await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Items);
    }

    [Fact]
    public async Task Counts_requests_by_verb_and_resource()
    {
        await using var cluster = await TestCluster.StartAsync();
        cluster.Runtime.MarkRunning = false;
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await cluster.Client.CoreV1.ReadNamespacedPodAsync("p", "default");
        await cluster.Client.CoreV1.ReadNamespacedPodAsync("p", "default");
        await cluster.Client.CoreV1.ListNamespacedPodAsync("default");

        Assert.Equal(1, cluster.Server.Requests.Count("create", "pods"));
        Assert.Equal(2, cluster.Server.Requests.Count("get", "pods"));
        Assert.Equal(1, cluster.Server.Requests.Count("list", "pods"));
        Assert.Equal(4, cluster.Server.Requests.CountResource("pods"));
        Assert.Equal(4, cluster.Server.Requests.Total);
        Assert.Equal(2, cluster.Server.Requests.Snapshot()["get pods"]);
    }

    [Fact]
    public async Task A_second_delete_with_a_shorter_grace_kills_again_and_a_longer_one_does_not()
    {
        await using var cluster = await TestCluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("p"), "default");
        await WaitForPhase(cluster.Client, "p", "Running");
        cluster.Runtime.KillGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("p", "default", gracePeriodSeconds: 30);
        await cluster.Client.CoreV1.DeleteNamespacedPodAsync("p", "default", gracePeriodSeconds: 60);
        var forced = await cluster.Client.CoreV1.DeleteNamespacedPodAsync("p", "default", gracePeriodSeconds: 0);
        Assert.Equal(0, forced.Metadata.DeletionGracePeriodSeconds);
        for (var i = 0; i < 100 && cluster.Runtime.Kills.Count < 2; i++) await Task.Delay(20);

        Assert.Equal(["default/p:30", "default/p:0"], cluster.Runtime.Kills);
        cluster.Runtime.KillGate.SetResult();
        await WaitUntilGone(cluster.Client, "p");
    }

    [Fact]
    public async Task Events_expire_after_their_time_to_live()
    {
        await using var cluster = await TestCluster.StartAsync(o => o with { EventTimeToLive = TimeSpan.FromMilliseconds(200) });
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("old"), "default");
        await WaitForPhase(cluster.Client, "old", "Running");
        await Task.Delay(400);
        await cluster.Client.CoreV1.CreateNamespacedPodAsync(Pod("new"), "default");
        await WaitForPhase(cluster.Client, "new", "Running");

        var events = await cluster.Client.CoreV1.ListNamespacedEventAsync("default");
        Assert.Equal(["new"], events.Items.Select(e => e.InvolvedObject.Name));
    }
}
