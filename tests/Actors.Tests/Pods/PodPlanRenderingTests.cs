using System.Text.Json;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodPlanRenderingTests
{
    private static JobPodPlan ExamplePlan()
    {
        var job = JobPayloadParser.Parse(File.ReadAllText(Path.Combine(TestData.RepositoryRoot(), "examples", "job.json"))).Payload!;
        return TestData.Plan(new KubernetesSettings { Namespace = "ci" }, job);
    }

    [Fact]
    public void Json_is_a_v1_list_with_the_pod_first_and_redacted_secrets()
    {
        var plan = ExamplePlan();

        var text = PodPlanRendering.Render(plan, RenderFormat.Json);

        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        Assert.Equal(("v1", "List"), (root.GetProperty("apiVersion").GetString(), root.GetProperty("kind").GetString()));
        var items = root.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["Pod", "Secret", "Secret"], items.Select(i => i.GetProperty("kind").GetString()));
        Assert.Equal(plan.PodName, items[0].GetProperty("metadata").GetProperty("name").GetString());
        foreach (var secret in items.Skip(1))
        {
            Assert.False(secret.TryGetProperty("data", out _));
            Assert.All(secret.GetProperty("stringData").EnumerateObject(), p => Assert.Equal(PodPlanRendering.RedactedValue, p.Value.GetString()));
            var owner = Assert.Single(secret.GetProperty("metadata").GetProperty("ownerReferences").EnumerateArray());
            Assert.Equal(PodPlanRendering.PodUidPlaceholder, owner.GetProperty("uid").GetString());
            Assert.Equal(plan.PodName, owner.GetProperty("name").GetString());
        }

        var jobSecretKeys = items[1].GetProperty("stringData").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains(JobSecretLayout.TokenKey, jobSecretKeys);
        Assert.Contains("var.DEPLOY_KEY", jobSecretKeys);
        Assert.Contains("file.APP_SETTINGS", jobSecretKeys);
        Assert.Equal([".dockerconfigjson"], items[2].GetProperty("stringData").EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [InlineData(RenderFormat.Json)]
    [InlineData(RenderFormat.Yaml)]
    public void No_secret_value_is_rendered(RenderFormat format)
    {
        var text = PodPlanRendering.Render(ExamplePlan(), format);

        Assert.DoesNotContain("glcbt-64_zyxwvutsrqpo", text);
        Assert.DoesNotContain("s3cr3t-deploy-key-123", text);
        Assert.DoesNotContain("retries: 3", text);
        Assert.DoesNotContain(Convert.ToBase64String("glcbt-64_zyxwvutsrqpo"u8.ToArray())[..12], text);
        Assert.Contains(PodPlanRendering.RedactedValue, text);
    }

    [Fact]
    public void Yaml_is_a_v1_list()
    {
        var text = PodPlanRendering.Render(ExamplePlan(), RenderFormat.Yaml);

        Assert.StartsWith("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n", text.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Rendering_leaves_the_plan_untouched()
    {
        var plan = ExamplePlan();

        PodPlanRendering.Render(plan, RenderFormat.Json);

        Assert.NotNull(plan.JobSecret.Data);
        Assert.Null(plan.JobSecret.StringData);
        Assert.Null(plan.JobSecret.Metadata.OwnerReferences);
    }
}
