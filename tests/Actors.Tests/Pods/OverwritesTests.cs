using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class OverwritesTests
{
    private static OverwriteResult Resolve(KubernetesSettings settings, params JobVariable[] variables) =>
        Overwrites.Resolve(settings, variables);

    [Theory]
    // pattern, overwrite value, expected namespace (null = refused)
    [InlineData("ci-.*", "ci-review", "ci-review")]
    [InlineData("ci-.*", "production", null)]
    [InlineData("ci-.*", "evil-ci-x", "evil-ci-x")] // unanchored, as GitLab Runner
    [InlineData("^ci-.*$", "evil-ci-x", null)]
    [InlineData("^ci-.*$", "ci-x", "ci-x")]
    [InlineData("", "anything", "config-ns")] // an empty allow-list disables the overwrite
    [InlineData(null, "anything", "config-ns")]
    [InlineData("ci-.*", "", "config-ns")] // an empty overwrite keeps the config value
    [InlineData("(?i)^CI-", "ci-lower", "ci-lower")]
    public void Namespace_overwrite(string? pattern, string value, string? expected)
    {
        var settings = new KubernetesSettings { Namespace = "config-ns", NamespaceOverwriteAllowed = pattern };

        var result = Resolve(settings, TestData.Public(Overwrites.NamespaceVariable, value));

        if (expected is null)
        {
            Assert.Null(result.Overwrites);
            Assert.Contains($"\"{value}\"", result.Refusal);
            Assert.Contains($"\"{pattern}\"", result.Refusal);
        }
        else
        {
            Assert.Null(result.Refusal);
            Assert.Equal(expected, result.Overwrites!.Namespace);
        }
    }

    [Fact]
    public void Overwrite_values_are_expanded_with_job_variables_before_matching()
    {
        var settings = new KubernetesSettings { Namespace = "default", NamespaceOverwriteAllowed = "^ci-[0-9]+$" };

        var result = Resolve(settings, TestData.Hidden("PIPE", "120"), TestData.Public(Overwrites.NamespaceVariable, "ci-$PIPE"));

        Assert.Equal("ci-120", result.Overwrites!.Namespace);
    }

    [Theory]
    [InlineData("^build-.*$", "build-bot", "build-bot")]
    [InlineData("^build-.*$", "admin", null)]
    [InlineData("", "admin", "config-sa")]
    public void Service_account_overwrite(string pattern, string value, string? expected)
    {
        var settings = new KubernetesSettings { ServiceAccount = "config-sa", ServiceAccountOverwriteAllowed = pattern };

        var result = Resolve(settings, TestData.Hidden(Overwrites.ServiceAccountVariable, value));

        Assert.Equal(expected, result.Overwrites?.ServiceAccount);
        Assert.Equal(expected is null, result.IsRefused);
    }

    [Theory]
    [InlineData(true, "job-bearer-token", "job-bearer-token")]
    [InlineData(false, "job-bearer-token", null)] // disabled unless allowed
    [InlineData(true, "", null)]
    public void Bearer_token_overwrite_only_when_allowed(bool allowed, string value, string? expected)
    {
        var settings = new KubernetesSettings { BearerToken = "config-token", BearerTokenOverwriteAllowed = allowed };

        var result = Resolve(settings, TestData.Masked(Overwrites.BearerTokenVariable, value));

        Assert.Null(result.Refusal);
        Assert.Equal(expected, result.Overwrites!.BearerToken);
        Assert.DoesNotContain("job-bearer-token", result.Overwrites.ToString());
    }

    [Fact]
    public void Annotation_overwrites_add_and_override_config_annotations()
    {
        var settings = new KubernetesSettings
        {
            PodAnnotations = new Dictionary<string, string> { ["team"] = "infra", ["keep"] = "yes" },
            PodAnnotationsOverwriteAllowed = "^team=|^extra",
        };

        var result = Resolve(settings,
            TestData.Public("KUBERNETES_POD_ANNOTATIONS_1", "team=payments"),
            TestData.Public("KUBERNETES_POD_ANNOTATIONS_2", "extra=a=b"),
            TestData.Public("NOT_AN_OVERWRITE", "team=x"));

        var annotations = result.Overwrites!.PodAnnotations;
        Assert.Equal("payments", annotations["team"]);
        Assert.Equal("yes", annotations["keep"]);
        Assert.Equal("a=b", annotations["extra"]); // split on the first "="
    }

    [Theory]
    // pattern, variable value, expected fragment of the refusal (null = accepted, config kept when disabled)
    [InlineData("^team=", "owner=me", "does not match")]
    [InlineData(".*", "no-equals-sign", "malformed")]
    [InlineData(".*", "", "malformed")]
    [InlineData("", "owner=me", null)]
    [InlineData("(a", "owner=me", "cannot be used")]
    [InlineData("(a)\\1", "owner=me", "cannot be used")] // backreferences do not exist in the linear-time engine
    public void Annotation_overwrite_rules(string pattern, string value, string? refusal)
    {
        var settings = new KubernetesSettings
        {
            PodAnnotations = new Dictionary<string, string> { ["team"] = "infra" },
            PodAnnotationsOverwriteAllowed = pattern,
        };

        var result = Resolve(settings, TestData.Public("KUBERNETES_POD_ANNOTATIONS_X", value));

        if (refusal is null)
        {
            Assert.Equal(new Dictionary<string, string> { ["team"] = "infra" }, result.Overwrites!.PodAnnotations);
        }
        else
        {
            Assert.Contains(refusal, result.Refusal);
        }
    }

    [Fact]
    public void Config_annotation_values_are_expanded_with_public_variables()
    {
        var settings = new KubernetesSettings
        {
            PodAnnotations = new Dictionary<string, string> { ["commit"] = "$CI_COMMIT_SHA", ["literal"] = "$$HOME" },
        };

        var result = Resolve(settings, TestData.Public("CI_COMMIT_SHA", "abc123"));

        Assert.Equal("abc123", result.Overwrites!.PodAnnotations["commit"]);
        Assert.Equal("$HOME", result.Overwrites.PodAnnotations["literal"]);
    }

    [Fact]
    public void Annotations_referring_to_secrets_are_refused()
    {
        var settings = new KubernetesSettings { PodAnnotations = new Dictionary<string, string> { ["leak"] = "$MY_SECRET" } };

        var result = Resolve(settings, TestData.Masked("MY_SECRET", "s3cr3t"));

        Assert.Contains("MY_SECRET", result.Refusal);
        Assert.DoesNotContain("s3cr3t", result.Refusal);
    }

    [Fact]
    public void A_masked_annotation_overwrite_is_refused()
    {
        var settings = new KubernetesSettings { PodAnnotationsOverwriteAllowed = ".*" };

        var result = Resolve(settings, TestData.Masked("KUBERNETES_POD_ANNOTATIONS_1", "key=s3cr3t"));

        Assert.Contains("masked", result.Refusal);
        Assert.DoesNotContain("s3cr3t", result.Refusal);
    }

    [Fact]
    public void A_rejected_bearer_token_is_never_printed()
    {
        // The gate is a bool, so only an invalid pattern can reject; the message must still not carry the value.
        Assert.True(Overwrites.Matches(".+", "x", out _));
        var settings = new KubernetesSettings { BearerTokenOverwriteAllowed = true };

        var result = Resolve(settings, TestData.Masked(Overwrites.BearerTokenVariable, "$NOTHING"));

        Assert.Null(result.Overwrites!.BearerToken); // expands to empty: the config token stays
    }

    [Fact]
    public void Patterns_run_on_the_linear_time_engine()
    {
        // Catastrophic for a backtracking engine; linear here.
        var evil = new string('a', 50_000) + "!";

        Assert.False(Overwrites.Matches("^(a+)+$", evil, out var error));
        Assert.Null(error);
    }
}

/// <summary>A refusal's text ends up in the job trace and the runner's log: it never shows a secret or a file's content.</summary>
public sealed class OverwriteRefusalTextTests
{
    private const string FileContent = "-----BEGIN PRIVATE KEY-----MIIEvQ";

    private static readonly JobVariable KeyFile = new() { Key = "DEPLOY_KEY", Value = FileContent, Public = true, File = true };

    public static TheoryData<KubernetesSettings, JobVariable> Overwrites => new()
    {
        // A value that refers to a file variable.
        { new KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" }, TestData.Public(Scheduler.Actors.Pods.Overwrites.NamespaceVariable, "$DEPLOY_KEY") },
        { new KubernetesSettings { ServiceAccountOverwriteAllowed = "^ci-" }, TestData.Public(Scheduler.Actors.Pods.Overwrites.ServiceAccountVariable, "x-$DEPLOY_KEY") },
        // A masked or non-public overwrite variable.
        { new KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" }, TestData.Masked(Scheduler.Actors.Pods.Overwrites.NamespaceVariable, FileContent) },
        { new KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" }, TestData.Hidden(Scheduler.Actors.Pods.Overwrites.NamespaceVariable, FileContent) },
        // The overwrite variable is itself a file variable.
        { new KubernetesSettings { PodAnnotationsOverwriteAllowed = ".*" }, new JobVariable { Key = "KUBERNETES_POD_ANNOTATIONS_1", Value = FileContent, Public = true, File = true } },
        { new KubernetesSettings { PodLabelsOverwriteAllowed = ".*" }, new JobVariable { Key = "KUBERNETES_POD_LABELS_1", Value = FileContent, Public = true, File = true } },
        // Map overwrites that refer to a file variable.
        { new KubernetesSettings { PodAnnotationsOverwriteAllowed = "^a=" }, TestData.Public("KUBERNETES_POD_ANNOTATIONS_1", "a=$DEPLOY_KEY") },
        { new KubernetesSettings { NodeSelectorOverwriteAllowed = "^zone=" }, TestData.Public("KUBERNETES_NODE_SELECTOR_1", "zone=$DEPLOY_KEY") },
    };

    [Theory]
    [MemberData(nameof(Overwrites))]
    public void A_refusal_never_prints_a_secret_or_file_value(KubernetesSettings settings, JobVariable overwrite)
    {
        var result = Scheduler.Actors.Pods.Overwrites.Resolve(settings, [KeyFile, overwrite]);

        Assert.NotNull(result.Refusal);
        Assert.DoesNotContain("PRIVATE KEY", result.Refusal);
        Assert.DoesNotContain("MIIEvQ", result.Refusal);
    }

    [Fact]
    public void A_public_value_is_still_shown_so_the_user_sees_what_was_refused()
    {
        var settings = new KubernetesSettings { NamespaceOverwriteAllowed = "^ci-" };

        var result = Scheduler.Actors.Pods.Overwrites.Resolve(settings, [TestData.Public("BRANCH", "prod"), TestData.Public(Scheduler.Actors.Pods.Overwrites.NamespaceVariable, "x-$BRANCH")]);

        Assert.Contains("\"x-prod\"", result.Refusal);
    }

    [Fact]
    public void A_file_variable_is_never_expanded_into_the_pod()
    {
        var job = TestData.Job(image: "$DEPLOY_KEY", variables: [KeyFile]);

        var refusal = TestData.Refusal(job: job);

        Assert.Contains("DEPLOY_KEY", refusal);
        Assert.DoesNotContain("MIIEvQ", refusal);
    }
}
