using System.Text.Json.Nodes;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>[[runners.kubernetes.pod_spec]] patches: the three patch types as pure functions, then through the pod builder.</summary>
public sealed class PodSpecPatchesTests
{
    private const string Spec = """
        {"containers":[
           {"name":"build","image":"alpine","env":[{"name":"A","value":"1"}],"ports":[{"containerPort":80}],
            "volumeMounts":[{"name":"repo","mountPath":"/builds"}]},
           {"name":"helper","image":"helper"}],
         "volumes":[{"name":"repo","emptyDir":{}}],
         "nodeSelector":{"a":"1"},
         "tolerations":[{"key":"x","operator":"Exists"}],
         "restartPolicy":"Never"}
        """;

    private static string Apply(string type, params string[] patches) =>
        PodSpecPatches.Apply(JsonNode.Parse(Spec)!.AsObject(),
            patches.Select((p, i) => new PodSpecPatchSettings($"p{i}", p, type)).ToList()).ToJsonString();

    private static string Expected(Action<JsonObject> change)
    {
        var spec = JsonNode.Parse(Spec)!.AsObject();
        change(spec);
        return spec.ToJsonString();
    }

    public static TheoryData<string, string, string> StrategicCases => new()
    {
        {
            "env of build merged by name, a new container appended",
            """
            containers:
              - name: build
                env:
                  - name: B
                    value: "2"
                  - name: A
                    value: changed
              - name: sidecar
                image: busybox
            """,
            Expected(s =>
            {
                s["containers"]![0]!["env"] = JsonNode.Parse("""[{"name":"A","value":"changed"},{"name":"B","value":"2"}]""");
                s["containers"]!.AsArray().Add(JsonNode.Parse("""{"name":"sidecar","image":"busybox"}"""));
            })
        },
        {
            "ports merge by containerPort, volumeMounts by mountPath, volumes by name",
            """
            {"containers":[{"name":"build","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443}],
              "volumeMounts":[{"mountPath":"/builds","readOnly":true}]}],
             "volumes":[{"name":"cache","emptyDir":{"medium":"Memory"}}]}
            """,
            Expected(s =>
            {
                s["containers"]![0]!["ports"] = JsonNode.Parse("""[{"containerPort":80,"protocol":"TCP"},{"containerPort":443}]""");
                s["containers"]![0]!["volumeMounts"] = JsonNode.Parse("""[{"name":"repo","mountPath":"/builds","readOnly":true}]""");
                s["volumes"]!.AsArray().Add(JsonNode.Parse("""{"name":"cache","emptyDir":{"medium":"Memory"}}"""));
            })
        },
        {
            "a list without a merge key is replaced; maps merge; null removes",
            """{"tolerations":[{"key":"y","operator":"Exists"}],"nodeSelector":{"b":"2"},"restartPolicy":null}""",
            Expected(s =>
            {
                s["tolerations"] = JsonNode.Parse("""[{"key":"y","operator":"Exists"}]""");
                s["nodeSelector"]!["b"] = "2";
                s.Remove("restartPolicy");
            })
        },
        {
            "$patch: delete removes a keyed element; on a field it removes the field",
            """{"containers":[{"name":"build","env":[{"name":"A","$patch":"delete"}]}],"nodeSelector":{"$patch":"delete"}}""",
            Expected(s =>
            {
                s["containers"]![0]!["env"] = new JsonArray();
                s.Remove("nodeSelector");
            })
        },
        {
            "$patch: replace replaces a map, or a whole keyed list",
            """{"nodeSelector":{"$patch":"replace","only":"this"},"volumes":[{"$patch":"replace"},{"name":"other","emptyDir":{}}]}""",
            Expected(s =>
            {
                s["nodeSelector"] = JsonNode.Parse("""{"only":"this"}""");
                s["volumes"] = JsonNode.Parse("""[{"name":"other","emptyDir":{}}]""");
            })
        },
        {
            "the documentation's example: a resource request on the build container",
            """
            containers:
            - name: build
              resources:
                requests:
                  cpu: "500m"
            """,
            Expected(s => s["containers"]![0]!["resources"] = JsonNode.Parse("""{"requests":{"cpu":"500m"}}"""))
        },
    };

    [Theory]
    [MemberData(nameof(StrategicCases))]
    public void Strategic_merge(string why, string patch, string expected)
    {
        Assert.False(string.IsNullOrEmpty(why));
        JsonAssert.Equal(expected, Apply(PodSpecPatchSettings.Strategic, patch));
    }

    [Fact]
    public void Merge_patch_replaces_lists_whole_as_the_documentation_warns()
    {
        var result = Apply(PodSpecPatchSettings.Merge, """
            containers:
            - name: build
              env:
              - name: env1
                value: "value1"
            nodeSelector:
              a: null
              c: "3"
            """);

        JsonAssert.Equal(Expected(s =>
        {
            s["containers"] = JsonNode.Parse("""[{"name":"build","env":[{"name":"env1","value":"value1"}]}]""");
            s["nodeSelector"] = JsonNode.Parse("""{"c":"3"}""");
        }), result);
    }

    public static TheoryData<string, string> JsonPatchCases => new()
    {
        { """[{"op":"add","path":"/nodeSelector/key1","value":"val1"}]""", Expected(s => s["nodeSelector"]!["key1"] = "val1") },
        { """[{"op":"replace","path":"/terminationGracePeriodSeconds","value":60}]""".Replace("replace", "add"), Expected(s => s["terminationGracePeriodSeconds"] = 60) },
        { """[{"op":"remove","path":"/tolerations/0"}]""", Expected(s => s["tolerations"] = new JsonArray()) },
        { """[{"op":"add","path":"/containers/0/env/-","value":{"name":"Z","value":"9"}}]""",
            Expected(s => s["containers"]![0]!["env"]!.AsArray().Add(JsonNode.Parse("""{"name":"Z","value":"9"}"""))) },
        { """[{"op":"test","path":"/restartPolicy","value":"Never"},{"op":"copy","from":"/nodeSelector","path":"/overhead"},{"op":"move","from":"/overhead","path":"/hostname"}]""",
            Expected(s => s["hostname"] = JsonNode.Parse("""{"a":"1"}""")) },
        { """[{"op":"add","path":"/a~1b","value":"escaped"}]""", Expected(s => s["a/b"] = "escaped") },
    };

    [Theory]
    [MemberData(nameof(JsonPatchCases))]
    public void Json_patch(string patch, string expected)
    {
        JsonAssert.Equal(expected, Apply(PodSpecPatchSettings.Json, patch));
    }

    [Fact]
    public void Patches_apply_in_order_each_on_the_result_of_the_previous()
    {
        var result = Apply(PodSpecPatchSettings.Json,
            """[{"op":"add","path":"/hostname","value":"first"}]""",
            """[{"op":"replace","path":"/hostname","value":"second"}]""");

        Assert.Equal("second", (string?)JsonNode.Parse(result)!["hostname"]);
    }

    [Theory]
    [InlineData("json", """[{"op":"replace","path":"/missing","value":1}]""", "pod_spec patch \"p0\" (json) failed: path \"/missing\" does not exist")]
    [InlineData("json", """[{"op":"test","path":"/restartPolicy","value":"Always"}]""", "pod_spec patch \"p0\" (json) failed: operation 1: test of /restartPolicy failed")]
    [InlineData("json", """[{"op":"jump","path":"/x"}]""", "pod_spec patch \"p0\" (json) failed: operation 1: unknown op \"jump\"")]
    [InlineData("strategic", """{"containers":[{"image":"no-name"}]}""", "pod_spec patch \"p0\" (strategic) failed: every element of containers needs its merge key \"name\"")]
    [InlineData("merge", "containers: [unclosed", "pod_spec patch \"p0\" (merge) failed: not valid JSON or YAML")]
    public void A_failing_patch_names_the_patch_and_why(string type, string patch, string message)
    {
        var error = Assert.Throws<FormatException>(() => Apply(type, patch));

        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("json", """{"op":"add"}""", "a json patch must be a list of operations")]
    [InlineData("strategic", "- a\n- b", "a strategic patch must be an object of PodSpec fields")]
    [InlineData("merge", "a: [", "not valid JSON or YAML")]
    [InlineData("merge", "hostname: x", null)]
    public void Parse_errors_are_found_before_any_job(string type, string patch, string? message)
    {
        var error = PodSpecPatches.ParseError(new PodSpecPatchSettings("mine", patch, type));

        if (message is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.StartsWith("pod_spec \"mine\": ", error);
            Assert.Contains(message, error);
        }
    }

    [Theory]
    [InlineData("port: 8080", "port", 8080L)]
    [InlineData("flag: true", "flag", true)]
    [InlineData("quoted: \"8080\"", "quoted", "8080")]
    [InlineData("ratio: 0.5", "ratio", 0.5)]
    [InlineData("text: 500m", "text", "500m")]
    public void Yaml_scalars_keep_their_json_types(string yaml, string key, object expected)
    {
        var node = PodSpecPatches.ParseDocument(yaml)![key]!.AsValue();

        Assert.Equal(expected, expected switch
        {
            long => node.GetValue<long>(),
            bool => node.GetValue<bool>(),
            double => node.GetValue<double>(),
            _ => (object)node.GetValue<string>(),
        });
    }

    // Through the pod builder.

    private static RunnerEntry Runner(IReadOnlyList<string> environment, params PodSpecPatchSettings[] patches) =>
        TestData.Runner(new KubernetesSettings { PodSpecPatches = patches }, environment: environment);

    private const string FlagOn = "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=true";

    [Fact]
    public void Patches_of_all_three_types_reach_the_pod_in_order_when_the_feature_flag_is_on()
    {
        var runner = Runner([FlagOn],
            new PodSpecPatchSettings("hostname", "hostname: \"custom-pod-hostname\"", "merge"),
            new PodSpecPatchSettings("subdomain", "subdomain: \"subdomain\"", "strategic"),
            new PodSpecPatchSettings("terminationGracePeriodSeconds",
                """[{"op": "add", "path": "/terminationGracePeriodSeconds", "value": 60}]""", "json"),
            new PodSpecPatchSettings("cpu request", "containers:\n- name: build\n  resources:\n    requests:\n      cpu: \"500m\"", "strategic"));

        var spec = TestData.Plan(runner: runner).Pod.Spec;

        Assert.Equal(("custom-pod-hostname", "subdomain", 60L), (spec.Hostname, spec.Subdomain, spec.TerminationGracePeriodSeconds));
        Assert.Equal("500m", spec.Containers[0].Resources.Requests["cpu"].ToString());
        Assert.Equal("alpine:3.20", spec.Containers[0].Image);
    }

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=1" }, true)]
    [InlineData(new[] { "FF_USE_ADVANCED_POD_SPEC_CONFIGURATION=false" }, false)]
    public void Patches_need_the_feature_flag_as_in_GitLab_Runner(string[] environment, bool applied)
    {
        var runner = Runner(environment, new PodSpecPatchSettings("hostname", "hostname: patched", "merge"));

        Assert.Equal(applied ? "patched" : null, TestData.Plan(runner: runner).Pod.Spec.Hostname);
    }

    [Fact]
    public void The_feature_flag_may_come_from_the_feature_flags_table_or_the_job()
    {
        var patch = new PodSpecPatchSettings("hostname", "hostname: patched", "merge");
        var fromTable = Runner([], patch) with { FeatureFlags = new Dictionary<string, bool> { [PodSpecSettings.AdvancedPodSpecFeatureFlag] = true } };
        var job = TestData.Job([TestData.Public(PodSpecSettings.AdvancedPodSpecFeatureFlag, "true")]);

        Assert.Equal("patched", TestData.Plan(runner: fromTable).Pod.Spec.Hostname);
        Assert.Equal("patched", TestData.Plan(job: job, runner: Runner([], patch)).Pod.Spec.Hostname);
    }

    [Theory]
    [InlineData("merge", "containers:\n- name: build\n  image: x", "remove the runner's volume \"scheduler-job\" or its mount in the build container")]
    [InlineData("strategic", "containers:\n- name: helper\n  $patch: delete", "remove the helper container")]
    [InlineData("json", """[{"op":"remove","path":"/volumes"}]""", "remove the runner's volume \"scheduler-job\"")]
    [InlineData("strategic", "restartPolicy: Always", "change restartPolicy")]
    [InlineData("strategic", "hostnme: typo", "set \"hostnme\", which is not a PodSpec field")]
    [InlineData("strategic", "containers:\n- name: build\n  imagePullPolicie: Always", "set \"containers[0].imagePullPolicie\", which is not a PodSpec field")]
    [InlineData("json", """[{"op":"add","path":"/terminationGracePeriodSeconds","value":"soon"}]""", "a value of the wrong type")]
    [InlineData("json", """[{"op":"remove","path":"/nothing"}]""", "pod_spec patch \"guard\" (json) failed: path \"/nothing\" does not exist")]
    public void A_patch_that_breaks_the_job_pod_is_a_refusal_naming_the_patch(string type, string patch, string expected)
    {
        var refusal = TestData.Refusal(runner: Runner([FlagOn], new PodSpecPatchSettings("guard", patch, type)));

        Assert.Contains("\"guard\"", refusal);
        Assert.Contains(expected, refusal);
    }
}
