using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Scheduler.LocalCluster.Validation;
using static Scheduler.LocalCluster.Tests.TestObjects;

namespace Scheduler.LocalCluster.Tests;

/// <summary>Validation rules, table by table, as pure functions and through the API as 422 Invalid statuses.</summary>
public sealed class ValidationTests
{
    [Theory]
    [InlineData("runner-abc-123", true)]
    [InlineData("a.b.c", true)]
    [InlineData("a", true)]
    [InlineData("Runner", false)]
    [InlineData("-runner", false)]
    [InlineData("runner-", false)]
    [InlineData("run_ner", false)]
    [InlineData("", false)]
    public void Dns1123_subdomain(string name, bool valid) => Assert.Equal(valid, NameRules.IsDns1123Subdomain(name));

    [Theory]
    [InlineData("build", true)]
    [InlineData("svc-0", true)]
    [InlineData("a.b", false)]
    [InlineData("Build", false)]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123", false)]
    public void Dns1123_label(string name, bool valid) => Assert.Equal(valid, NameRules.IsDns1123Label(name));

    [Theory]
    [InlineData("app", true)]
    [InlineData("gitlab.com/job-id", true)]
    [InlineData("app.kubernetes.io/name", true)]
    [InlineData("Upper_Case.ok", true)]
    [InlineData("/name", false)]
    [InlineData("a/b/c", false)]
    [InlineData("Bad.Prefix/name", false)]
    [InlineData("-bad", false)]
    [InlineData("", false)]
    public void Qualified_names_for_label_and_annotation_keys(string key, bool valid) => Assert.Equal(valid, NameRules.IsQualifiedName(key));

    [Theory]
    [InlineData("", true)]
    [InlineData("v1.2_3-x", true)]
    [InlineData("has space", false)]
    [InlineData("-start", false)]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123", false)]
    public void Label_values(string value, bool valid) => Assert.Equal(valid, NameRules.IsLabelValue(value));

    // Quantities apimachinery accepts, however odd they look, create the pod and are stored in canonical form; the
    // parser's own table is Messages.Tests' KubernetesQuantityTests.
    [Theory]
    [InlineData("-0", "0", "0")]
    [InlineData(".", "1", "0")]
    [InlineData("0.5", "500m", "500m")]
    [InlineData("1e3", "1k", "1e3")]
    [InlineData("1.5Gi", "1536Mi", "1536Mi")]
    [InlineData(" 1", "1", "1")] // JSON decoding trims spaces
    public async Task Quantities_the_api_server_accepts_create_the_pod(string request, string limit, string stored)
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = JsonNode.Parse("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
             "spec":{"containers":[{"name":"main","image":"busybox","resources":{"requests":{"cpu":"R"},"limits":{"cpu":"L"}}}]}}
            """)!;
        pod["spec"]!["containers"]![0]!["resources"]!["requests"]!["cpu"] = request;
        pod["spec"]!["containers"]![0]!["resources"]!["limits"]!["cpu"] = limit;
        using var http = cluster.Http();

        var response = await http.PostAsync("/api/v1/namespaces/default/pods", new StringContent(pod.ToJsonString(), null, "application/json"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var read = JsonNode.Parse(await http.GetStringAsync("/api/v1/namespaces/default/pods/p"))!;
        Assert.Equal(stored, (string?)read["spec"]!["containers"]![0]!["resources"]!["requests"]!["cpu"]);
        Assert.Equal("p", (await cluster.Client.CoreV1.ReadNamespacedPodAsync("p", "default")).Metadata.Name);
    }

    public static TheoryData<string, string, string, string> InvalidPods => new()
    {
        // mutation of a valid pod JSON, the field, the reason, a part of the message
        { """{"metadata":{"name":"Bad_Name"}}""", "metadata.name", "FieldValueInvalid", "RFC 1123 subdomain" },
        { """{"metadata":{"labels":{"bad key":"v"}}}""", "metadata.labels", "FieldValueInvalid", "name part must consist" },
        { """{"metadata":{"labels":{"k":"bad value!"}}}""", "metadata.labels", "FieldValueInvalid", "a valid label must be" },
        { """{"metadata":{"annotations":{"a/b/c":"v"}}}""", "metadata.annotations", "FieldValueInvalid", "qualified name" },
        { """{"spec":{"containers":[]}}""", "spec.containers", "FieldValueRequired", "Required value" },
        { """{"spec":{"containers":[{"name":"main","image":""}]}}""", "spec.containers[0].image", "FieldValueRequired", "Required value" },
        { """{"spec":{"containers":[{"name":"Main","image":"x"}]}}""", "spec.containers[0].name", "FieldValueInvalid", "RFC 1123 label" },
        { """{"spec":{"containers":[{"name":"a","image":"x"},{"name":"a","image":"y"}]}}""", "spec.containers[1].name", "FieldValueDuplicate", "Duplicate value: \"a\"" },
        { """{"spec":{"containers":[{"name":"a","image":"x","volumeMounts":[{"name":"ghost","mountPath":"/g"}]}]}}""", "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", "Not found: \"ghost\"" },
        { """{"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"v","emptyDir":{}}]}}""", "spec.volumes[1].name", "FieldValueDuplicate", "Duplicate value" },
        { """{"spec":{"volumes":[{"name":"V_1","emptyDir":{}}]}}""", "spec.volumes[0].name", "FieldValueInvalid", "RFC 1123 label" },
        { """{"spec":{"restartPolicy":"Sometimes"}}""", "spec.restartPolicy", "FieldValueNotSupported", "supported values: \"Always\", \"OnFailure\", \"Never\"" },
        { """{"spec":{"tolerations":[{"key":"k","operator":"Exists","value":"v"}]}}""", "spec.tolerations[0].operator", "FieldValueInvalid", "value must be empty when `operator` is 'Exists'" },
        { """{"spec":{"tolerations":[{"key":"k","operator":"Maybe"}]}}""", "spec.tolerations[0].operator", "FieldValueNotSupported", "Unsupported value: \"Maybe\"" },
        { """{"spec":{"tolerations":[{"key":"k","operator":"Equal","value":"v","effect":"Sometimes"}]}}""", "spec.tolerations[0].effect", "FieldValueNotSupported", "NoSchedule" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"lots"}}}]}}""", "spec.containers[0].resources.limits[cpu]", "FieldValueInvalid", "quantities must match" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"memory":"1gi"}}}]}}""", "spec.containers[0].resources.limits[memory]", "FieldValueInvalid", "quantities must match" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"memory":"1Ki1"}}}]}}""", "spec.containers[0].resources.limits[memory]", "FieldValueInvalid", "unable to parse quantity's suffix" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"1001m"},"limits":{"cpu":"1"}}}]}}""", "spec.containers[0].resources.requests", "FieldValueInvalid", "less than or equal to cpu limit" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"memory":"-1Gi"}}}]}}""", "spec.containers[0].resources.requests[memory]", "FieldValueInvalid", "greater than or equal to 0" },
        { """{"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}]}}""", "spec.containers[0].resources.requests", "FieldValueInvalid", "less than or equal to cpu limit" },
        { """{"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"1BAD","value":"v"}]}]}}""", "spec.containers[0].env[0].name", "FieldValueInvalid", "environment variable name" },
        { """{"spec":{"activeDeadlineSeconds":0}}""", "spec.activeDeadlineSeconds", "FieldValueInvalid", "between 1 and 2147483647" },
    };

    [Theory]
    [MemberData(nameof(InvalidPods))]
    public async Task Invalid_pods_are_rejected_with_causes(string mutation, string field, string reason, string message)
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = JsonNode.Parse("""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
             "spec":{"containers":[{"name":"main","image":"busybox"}]}}
            """)!.AsObject();
        var merged = Store.Patches.MergePatch(pod, JsonNode.Parse(mutation))!;
        using var http = cluster.Http();

        var response = await http.PostAsync("/api/v1/namespaces/default/pods", new StringContent(merged.ToJsonString(), null, "application/json"));
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal((HttpStatusCode)422, response.StatusCode);
        Assert.Equal("Invalid", (string?)status["reason"]);
        Assert.Equal(422, (int)status["code"]!);
        Assert.Contains("is invalid", (string?)status["message"]);
        var causes = status["details"]!["causes"]!.AsArray();
        Assert.Contains(causes, c => (string?)c!["field"] == field && (string?)c["reason"] == reason && ((string?)c["message"])!.Contains(message));
        Assert.Empty((await cluster.Client.CoreV1.ListNamespacedPodAsync("default")).Items);
    }

    [Fact]
    public async Task Annotations_over_256KiB_are_too_long()
    {
        await using var cluster = await TestCluster.StartAsync();
        var pod = Pod("p");
        pod.Metadata.Annotations = new Dictionary<string, string> { ["big"] = new('x', 256 * 1024) };
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedPodAsync(pod, "default"));
        Assert.Equal((HttpStatusCode)422, code);
        var cause = status["details"]!["causes"]!.AsArray().Single()!;
        Assert.Equal("metadata.annotations", (string?)cause["field"]);
        Assert.Equal("FieldValueTooLong", (string?)cause["reason"]);
    }

    [Theory]
    [InlineData("good-key", true)]
    [InlineData("GOOD_KEY.2", true)]
    [InlineData("bad/key", false)]
    [InlineData("bad key", false)]
    [InlineData("..", false)]
    public async Task Secret_data_keys(string key, bool valid)
    {
        await using var cluster = await TestCluster.StartAsync();
        var secret = new V1Secret { Metadata = new V1ObjectMeta { Name = "s" }, Data = new Dictionary<string, byte[]> { [key] = [1, 2] } };
        if (valid)
        {
            var created = await cluster.Client.CoreV1.CreateNamespacedSecretAsync(secret, "default");
            Assert.Equal([1, 2], created.Data[key]);
            return;
        }
        var (code, status) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespacedSecretAsync(secret, "default"));
        Assert.Equal((HttpStatusCode)422, code);
        Assert.Equal($"data[{key}]", (string?)status["details"]!["causes"]![0]!["field"]);
    }

    [Theory]
    [InlineData("ok-name", true)]
    [InlineData("Not.A.Label", false)]
    [InlineData("with.dot", false)]
    public async Task Namespace_names_are_DNS_labels(string name, bool valid)
    {
        await using var cluster = await TestCluster.StartAsync();
        var ns = new V1Namespace { Metadata = new V1ObjectMeta { Name = name } };
        if (valid)
        {
            Assert.Equal("Active", (await cluster.Client.CoreV1.CreateNamespaceAsync(ns)).Status.Phase);
            return;
        }
        var (code, _) = await FailureOf(() => cluster.Client.CoreV1.CreateNamespaceAsync(ns));
        Assert.Equal((HttpStatusCode)422, code);
    }

    public static TheoryData<string, string, bool> SpecUpdates => new()
    {
        // old spec, new spec, allowed
        { """{"containers":[{"name":"a","image":"x"}]}""", """{"containers":[{"name":"a","image":"y"}]}""", true },
        { """{"containers":[{"name":"a","image":"x"}]}""", """{"containers":[{"name":"a","image":"x"}],"activeDeadlineSeconds":5}""", true },
        { """{"containers":[{"name":"a","image":"x"}]}""", """{"containers":[{"name":"a","image":"x"}],"tolerations":[{"key":"k","operator":"Exists"}]}""", true },
        { """{"containers":[{"name":"a","image":"x"}],"tolerations":[{"key":"k","operator":"Exists"}]}""", """{"containers":[{"name":"a","image":"x"}]}""", false },
        { """{"containers":[{"name":"a","image":"x"}]}""", """{"containers":[{"name":"a","image":"x","command":["sh"]}]}""", false },
        { """{"containers":[{"name":"a","image":"x"}]}""", """{"containers":[{"name":"a","image":"x"}],"nodeSelector":{"a":"b"}}""", false },
        { """{"containers":[{"name":"a","image":"x"}],"activeDeadlineSeconds":5}""", """{"containers":[{"name":"a","image":"x"}]}""", false },
    };

    [Theory]
    [MemberData(nameof(SpecUpdates))]
    public void Pod_spec_update_rules(string oldSpec, string newSpec, bool allowed)
    {
        var errors = PodValidation.ValidateUpdate(JsonNode.Parse(oldSpec)!.AsObject(), JsonNode.Parse(newSpec)!.AsObject());
        Assert.Equal(allowed, errors.Count == 0);
    }

    [Fact]
    public void Field_errors_render_like_kube()
    {
        var error = FieldError.NotSupported("spec.restartPolicy", "Sometimes", ["Always", "Never"]);
        Assert.Equal("spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\"", error.ToString());
        Assert.Equal("spec.containers: Required value", FieldError.Required("spec.containers").ToString());
    }
}
