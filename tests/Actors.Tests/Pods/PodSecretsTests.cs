using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodSecretsTests
{
    private static string Text(V1Secret secret, string key) => Encoding.UTF8.GetString(secret.Data[key]);

    [Fact]
    public void The_job_secret_holds_the_token_and_every_variable_kept_out_of_the_env()
    {
        var job = TestData.Job(variables: [
            TestData.Public("CI_JOB_NAME", "unit"),
            TestData.Masked("CI_JOB_TOKEN", TestData.JobToken),
            TestData.Hidden("CI_REPOSITORY_URL", "https://x:y@host/r.git"),
            new JobVariable { Key = "SETTINGS", Value = "a: 1\n", Public = false, File = true },
            new JobVariable { Key = "PUBLIC_FILE", Value = "p\n", Public = true, File = true },
            new JobVariable { Key = "TEMPLATE", Value = "$X", Public = false, Raw = true },
            TestData.Hidden("CI_REPOSITORY_URL", "https://x:z@host/r.git"),
        ]);

        var secret = TestData.Plan(job: job).JobSecret;

        Assert.Equal(("v1", "Secret", "Opaque"), (secret.ApiVersion, secret.Kind, secret.Type));
        Assert.Equal(TestData.JobToken, Text(secret, JobSecretLayout.TokenKey));
        Assert.Equal(TestData.JobToken, Text(secret, "var.CI_JOB_TOKEN"));
        Assert.Equal("https://x:z@host/r.git", Text(secret, "var.CI_REPOSITORY_URL")); // the last definition wins
        Assert.Equal("a: 1\n", Text(secret, "file.SETTINGS"));
        Assert.Equal("p\n", Text(secret, "file.PUBLIC_FILE"));
        Assert.Equal("$X", Text(secret, "var.TEMPLATE"));
        Assert.False(secret.Data.ContainsKey("var.CI_JOB_NAME"));
        Assert.Equal(
            "CI_JOB_TOKEN\tvar\texpand\tmasked\nCI_REPOSITORY_URL\tvar\texpand\tplain\nSETTINGS\tfile\texpand\tplain\n" +
            "PUBLIC_FILE\tfile\texpand\tplain\nTEMPLATE\tvar\traw\tplain\n",
            Text(secret, JobSecretLayout.ManifestKey));
    }

    [Fact]
    public void Registry_credentials_become_a_dockerconfigjson_secret_after_the_configured_pull_secrets()
    {
        var job = TestData.Job(credentials: [
            new JobCredential { Type = "registry", Url = "registry.example.com", Username = "gitlab-ci-token", Password = "pw1" },
            new JobCredential { Type = "Registry", Url = "other.example.com:5000", Username = "u", Password = "pw2" },
            new JobCredential { Type = "something-else", Url = "ignored.example.com", Username = "u", Password = "pw3" },
        ]);
        var settings = new KubernetesSettings { ImagePullSecrets = ["team-pull", "org-pull"] };

        var plan = TestData.Plan(settings, job);

        var registry = plan.RegistrySecret!;
        Assert.Equal("kubernetes.io/dockerconfigjson", registry.Type);
        Assert.Equal(plan.PodName + "-registry", registry.Metadata.Name);
        using var config = JsonDocument.Parse(registry.Data[".dockerconfigjson"]);
        var auths = config.RootElement.GetProperty("auths");
        Assert.Equal(["registry.example.com", "other.example.com:5000"], auths.EnumerateObject().Select(p => p.Name));
        var first = auths.GetProperty("registry.example.com");
        Assert.Equal("gitlab-ci-token", first.GetProperty("username").GetString());
        Assert.Equal("pw1", first.GetProperty("password").GetString());
        Assert.Equal(Convert.ToBase64String("gitlab-ci-token:pw1"u8.ToArray()), first.GetProperty("auth").GetString());
        Assert.Equal(["team-pull", "org-pull", plan.PodName + "-registry"], plan.Pod.Spec.ImagePullSecrets.Select(s => s.Name));
        Assert.Equal([plan.JobSecret, registry], plan.Secrets);
        Assert.Equal(["Pod", "Secret", "Secret"], plan.AllObjects.Select(o => o.Kind));
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, "team-pull")]
    public void Without_registry_credentials_there_is_no_registry_secret(bool configured, string? expected)
    {
        var settings = new KubernetesSettings { ImagePullSecrets = configured ? ["team-pull"] : [] };

        var plan = TestData.Plan(settings);

        Assert.Null(plan.RegistrySecret);
        Assert.Equal(expected, plan.Pod.Spec.ImagePullSecrets?.Single().Name);
    }

    [Fact]
    public void Secrets_owned_by_the_created_pod_carry_its_uid_and_leave_the_plan_unchanged()
    {
        var plan = TestData.Plan(job: TestData.Job(credentials: [new JobCredential { Type = "registry", Url = "r", Username = "u", Password = "p" }]));
        var created = new V1Pod { Metadata = new V1ObjectMeta { Name = plan.PodName, Uid = "1f2e3d4c" } };

        var owned = plan.SecretsOwnedBy(created);

        Assert.Equal(2, owned.Count);
        Assert.All(owned, secret =>
        {
            var owner = Assert.Single(secret.Metadata.OwnerReferences);
            Assert.Equal(("v1", "Pod", plan.PodName, "1f2e3d4c"), (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid));
        });
        Assert.Equal(TestData.JobToken, Text(owned[0], JobSecretLayout.TokenKey));
        Assert.All(plan.Secrets, s => Assert.Null(s.Metadata.OwnerReferences));
        Assert.Throws<ArgumentException>(() => plan.SecretsOwnedBy(new V1Pod { Metadata = new V1ObjectMeta { Name = "x" } }));
    }

    [Fact]
    public void The_job_secret_as_created_names_the_pod_as_owner_keeps_name_labels_and_data_and_leaves_the_plan_unchanged()
    {
        var plan = TestData.Plan();
        var created = new V1Pod { Metadata = new V1ObjectMeta { Name = plan.PodName, Uid = "1f2e3d4c" } };

        var owned = plan.JobSecretOwnedBy(created);

        var owner = Assert.Single(owned.Metadata.OwnerReferences);
        Assert.Equal(("v1", "Pod", plan.PodName, "1f2e3d4c"), (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid));
        Assert.Equal((plan.JobSecret.Metadata.Name, plan.Namespace, "Opaque"), (owned.Metadata.Name, owned.Metadata.NamespaceProperty, owned.Type));
        Assert.Equal(plan.JobSecret.Metadata.Labels, owned.Metadata.Labels);
        Assert.Equal(TestData.JobToken, Text(owned, JobSecretLayout.TokenKey));
        Assert.Null(plan.JobSecret.Metadata.OwnerReferences);
        Assert.Throws<ArgumentException>(() => plan.JobSecretOwnedBy(new V1Pod { Metadata = new V1ObjectMeta { Name = "x" } }));
    }

    [Fact]
    public void No_secret_value_appears_anywhere_in_the_pod()
    {
        var json = File.ReadAllText(Path.Combine(TestData.RepositoryRoot(), "examples", "job.json"));
        var job = JobPayloadParser.Parse(json).Payload!;
        job = job with
        {
            Variables = [
                .. job.Variables,
                TestData.Masked("KUBERNETES_BEARER_TOKEN", "bearer-from-job-0001"),
                TestData.Hidden("KUBERNETES_NAMESPACE_OVERWRITE", "ci-review"),
                TestData.Public("KUBERNETES_POD_ANNOTATIONS_1", "example.com/reviewer=$CI_JOB_NAME"),
            ],
            Credentials = [.. job.Credentials, new JobCredential { Type = "registry", Url = "x.example.com", Username = "u", Password = "registry-pass-0002" }],
            Dependencies = [.. job.Dependencies, new JobDependency { Id = 1, Name = "d", Token = "dependency-token-0003" }],
        };
        var settings = new KubernetesSettings
        {
            BearerToken = "config-bearer-0004",
            BearerTokenOverwriteAllowed = true,
            NamespaceOverwriteAllowed = "^ci-",
            PodAnnotationsOverwriteAllowed = ".*",
            PodLabels = new Dictionary<string, string> { ["job"] = "$CI_JOB_NAME" },
            PodAnnotations = new Dictionary<string, string> { ["example.com/ref"] = "$CI_COMMIT_REF_NAME" },
            Privileged = true,
            Services = [new ServiceSettings("redis:7")],
        };

        var plan = TestData.Plan(settings, job);
        var podJson = KubernetesJson.Serialize(plan.Pod);

        var secrets = job.Variables.Where(v => !v.IsShowable).Select(v => v.Value)
            .Concat(job.Credentials.Select(c => c.Password))
            .Concat(job.Dependencies.Select(d => d.Token))
            .Append(job.Token).Append(job.GitInfo.RepoUrl).Append("config-bearer-0004").Append("bearer-from-job-0001")
            .Where(s => s.Length > 0 && s != "ci-review")
            .Distinct().ToList();
        Assert.True(secrets.Count >= 8, string.Join(", ", secrets));
        Assert.All(secrets, secret =>
        {
            Assert.DoesNotContain(secret, podJson);
            Assert.DoesNotContain(JsonSerializer.Serialize(secret).Trim('"'), podJson); // as JSON-escaped text too
        });
        Assert.Equal("bearer-from-job-0001", plan.Overwrites.BearerToken);
        Assert.DoesNotContain("bearer-from-job-0001", plan.ToString());
        Assert.Equal("ci-review", plan.Pod.Metadata.NamespaceProperty);
        Assert.Equal("test", plan.Pod.Metadata.Annotations["example.com/reviewer"]);
        Assert.Contains("s3cr3t-deploy-key-123", Text(plan.JobSecret, "var.DEPLOY_KEY"));
        // The runner's own credential never reaches the job.
        Assert.DoesNotContain("config-bearer-0004", string.Join("\n", plan.JobSecret.Data.Values.Select(Encoding.UTF8.GetString)));
    }

    [Fact]
    public void A_job_whose_variables_exceed_a_secret_is_refused()
    {
        var job = TestData.Job(variables: [TestData.Hidden("HUGE", new string('x', 1024 * 1024 + 1))]);

        Assert.Contains("1 MiB", TestData.Refusal(job: job));
    }
}
