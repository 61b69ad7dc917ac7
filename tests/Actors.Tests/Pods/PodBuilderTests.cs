using k8s.Models;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodBuilderTests
{
    private static V1Container Container(V1Pod pod, string name) => Assert.Single(pod.Spec.Containers, c => c.Name == name);

    [Fact]
    public void Pod_has_an_explicit_name_namespace_and_restart_policy()
    {
        var pod = TestData.Plan(job: TestData.Job(projectId: 42), concurrentId: 3).Pod;

        Assert.Equal("v1", pod.ApiVersion);
        Assert.Equal("Pod", pod.Kind);
        Assert.Equal("runner-abcdefgh-project-42-concurrent-3-" + TestData.Suffix, pod.Metadata.Name);
        Assert.Null(pod.Metadata.GenerateName);
        Assert.Equal("default", pod.Metadata.NamespaceProperty);
        Assert.Equal("Never", pod.Spec.RestartPolicy);
    }

    [Fact]
    public void Containers_are_build_helper_then_config_services_then_job_services_skipping_empty_names()
    {
        var settings = new KubernetesSettings { Services = [new ServiceSettings("redis:7"), new ServiceSettings(""), new ServiceSettings("mysql:8")] };
        var job = TestData.Job(services: [new JobService { Name = "" }, new JobService { Name = "postgres:16" }]);

        var pod = TestData.Plan(settings, job).Pod;

        Assert.Equal(["build", "helper", "svc-0", "svc-1", "svc-2"], pod.Spec.Containers.Select(c => c.Name));
        Assert.Equal(["alpine:3.20", "scheduler:1.2.3", "redis:7", "mysql:8", "postgres:16"], pod.Spec.Containers.Select(c => c.Image));
    }

    [Fact]
    public void A_service_entrypoint_becomes_command_and_its_command_becomes_args()
    {
        var job = TestData.Job(services: [
            new JobService { Name = "docker:dind", Entrypoint = ["dockerd-entrypoint.sh"], Command = ["--tls=false"] },
            new JobService { Name = "redis:7" },
        ]);

        var pod = TestData.Plan(job: job).Pod;

        Assert.Equal(["dockerd-entrypoint.sh"], Container(pod, "svc-0").Command);
        Assert.Equal(["--tls=false"], Container(pod, "svc-0").Args);
        Assert.Null(Container(pod, "svc-1").Command);
        Assert.Null(Container(pod, "svc-1").Args);
    }

    [Theory]
    [InlineData("ruby:3.3", "alpine:latest", "ruby:3.3")]
    [InlineData(null, "alpine:latest", "alpine:latest")]
    [InlineData("", "alpine:latest", "alpine:latest")]
    [InlineData("registry.example.com/$CI_PROJECT_PATH:1", null, "registry.example.com/group/proj:1")]
    public void Build_image_is_the_jobs_image_else_the_config_image(string? jobImage, string? configImage, string expected)
    {
        var job = TestData.Job(image: jobImage, variables: [TestData.Public("CI_PROJECT_PATH", "group/proj")]);

        var pod = TestData.Plan(new KubernetesSettings { Image = configImage }, job).Pod;

        Assert.Equal(expected, Container(pod, "build").Image);
    }

    [Fact]
    public void No_image_anywhere_is_a_refusal()
    {
        var refusal = TestData.Refusal(new KubernetesSettings(), TestData.Job(image: null));

        Assert.Equal("no image specified and no default set in config", refusal);
    }

    [Fact]
    public void Build_and_helper_run_a_keep_alive_shell()
    {
        var pod = TestData.Plan(job: TestData.Job() with { Image = new JobImage { Name = "ruby", Entrypoint = ["/bin/false"], Command = ["x"] } }).Pod;

        foreach (var name in new[] { "build", "helper" })
        {
            var container = Container(pod, name);
            Assert.Equal(["sh", "-c", PodBuilder.KeepAliveScript], container.Command);
            Assert.Null(container.Args);
        }

        Assert.Contains("trap", PodBuilder.KeepAliveScript);
        Assert.Contains("exit 0", PodBuilder.KeepAliveScript);
    }

    [Theory]
    [InlineData(null, "scheduler:1.2.3")]
    [InlineData("", "scheduler:1.2.3")]
    [InlineData("my/helper:latest", "my/helper:latest")]
    [InlineData("my/helper:${CI_RUNNER_VERSION}", "my/helper:1.2.3")]
    [InlineData("my/helper:$CI_RUNNER_EXECUTABLE_ARCH-$CI_RUNNER_REVISION", "my/helper:amd64-abcdef12")]
    [InlineData("my/helper:$CI_JOB_ID", "my/helper:")]
    public void Helper_image(string? configured, string expected)
    {
        var pod = TestData.Plan(new KubernetesSettings { HelperImage = configured }, TestData.Job(variables: [TestData.Public("CI_JOB_ID", "5")])).Pod;

        Assert.Equal(expected, Container(pod, "helper").Image);
        Assert.Equal("scheduler:9.9.9", PodBuilder.DefaultHelperImage("9.9.9"));
    }

    public static TheoryData<string, string, string, string, string> ResourceKeys => new()
    {
        // keyword, container, limits|requests, resource, quantity
        { "cpu_limit", "build", "limits", "cpu", "1" },
        { "memory_limit", "build", "limits", "memory", "1Gi" },
        { "cpu_request", "build", "requests", "cpu", "500m" },
        { "memory_request", "build", "requests", "memory", "512Mi" },
        { "service_cpu_limit", "svc-0", "limits", "cpu", "2" },
        { "service_memory_limit", "svc-0", "limits", "memory", "2Gi" },
        { "service_cpu_request", "svc-0", "requests", "cpu", "250m" },
        { "service_memory_request", "svc-0", "requests", "memory", "256Mi" },
        { "helper_cpu_limit", "helper", "limits", "cpu", "200m" },
        { "helper_memory_limit", "helper", "limits", "memory", "128Mi" },
        { "helper_cpu_request", "helper", "requests", "cpu", "100m" },
        { "helper_memory_request", "helper", "requests", "memory", "64Mi" },
    };

    [Theory]
    [MemberData(nameof(ResourceKeys))]
    public void Each_resource_keyword_sets_only_its_own_quantity(string keyword, string container, string list, string resource, string quantity)
    {
        var settings = WithResource(new KubernetesSettings(), keyword, quantity);
        var job = TestData.Job(services: [new JobService { Name = "redis:7" }]);

        var pod = TestData.Plan(settings, job).Pod;

        foreach (var c in pod.Spec.Containers)
        {
            if (c.Name != container)
            {
                Assert.Null(c.Resources);
                continue;
            }

            var expected = list == "limits" ? c.Resources!.Limits : c.Resources!.Requests;
            var other = list == "limits" ? c.Resources!.Requests : c.Resources!.Limits;
            Assert.Equal(quantity, Assert.Single(expected, e => e.Key == resource).Value.ToString());
            Assert.Single(expected);
            Assert.Null(other);
        }
    }

    [Theory]
    [InlineData("1.5", "1500m")]
    [InlineData("1.5Gi", "1536Mi")]
    [InlineData("0", "0")]
    [InlineData("1e3", "1e3")]
    [InlineData("+2", "2")]
    public void Quantities_are_canonical(string text, string expected)
    {
        var pod = TestData.Plan(new KubernetesSettings { CpuLimit = text }).Pod;

        Assert.Equal(expected, Container(pod, "build").Resources.Limits["cpu"].ToString());
    }

    [Theory]
    [InlineData("cpu_limit", "100j")]
    [InlineData("memory_request", "1.2.3")]
    [InlineData("helper_memory_limit", "abc")]
    [InlineData("service_cpu_request", " 1")]
    [InlineData("cpu_request", "-1")]
    [InlineData("memory_limit", "1Gb")]
    public void An_invalid_quantity_is_a_refusal_naming_the_keyword(string keyword, string quantity)
    {
        var refusal = TestData.Refusal(WithResource(new KubernetesSettings(), keyword, quantity));

        Assert.Contains(keyword, refusal);
        Assert.Contains($"\"{quantity}\"", refusal);
    }

    private static KubernetesSettings WithResource(KubernetesSettings s, string keyword, string value) => keyword switch
    {
        "cpu_limit" => s with { CpuLimit = value },
        "memory_limit" => s with { MemoryLimit = value },
        "cpu_request" => s with { CpuRequest = value },
        "memory_request" => s with { MemoryRequest = value },
        "service_cpu_limit" => s with { ServiceCpuLimit = value },
        "service_memory_limit" => s with { ServiceMemoryLimit = value },
        "service_cpu_request" => s with { ServiceCpuRequest = value },
        "service_memory_request" => s with { ServiceMemoryRequest = value },
        "helper_cpu_limit" => s with { HelperCpuLimit = value },
        "helper_memory_limit" => s with { HelperMemoryLimit = value },
        "helper_cpu_request" => s with { HelperCpuRequest = value },
        "helper_memory_request" => s with { HelperMemoryRequest = value },
        _ => throw new ArgumentOutOfRangeException(nameof(keyword)),
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Privileged_sets_the_security_context_of_every_container(bool privileged)
    {
        var pod = TestData.Plan(new KubernetesSettings { Privileged = privileged, Services = [new ServiceSettings("redis")] }).Pod;

        Assert.Equal(3, pod.Spec.Containers.Count);
        Assert.All(pod.Spec.Containers, c =>
        {
            // NET_RAW is dropped either way (GitLab Runner's default).
            Assert.Equal(privileged ? true : null, c.SecurityContext.Privileged);
            Assert.Equal(["NET_RAW"], c.SecurityContext.Capabilities.Drop);
        });
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("always", "Always")]
    [InlineData("never", "Never")]
    [InlineData("if-not-present", "IfNotPresent")]
    public void Pull_policy_on_every_container(string? configured, string? expected)
    {
        var pod = TestData.Plan(new KubernetesSettings
        {
            PullPolicy = string.IsNullOrEmpty(configured) ? [] : [configured], Services = [new ServiceSettings("redis")],
        }).Pod;

        Assert.All(pod.Spec.Containers, c => Assert.Equal(expected, c.ImagePullPolicy));
    }

    [Theory]
    [InlineData("Always")]
    [InlineData("sometimes")]
    public void An_unknown_pull_policy_is_a_refusal(string configured)
    {
        Assert.Contains(configured, TestData.Refusal(new KubernetesSettings { PullPolicy = [configured] }));
    }

    [Theory]
    // key in config, effect, expected key, operator, value, effect
    [InlineData("dedicated=ci", "NoSchedule", "dedicated", "Equal", "ci", "NoSchedule")]
    [InlineData("empty.value=", "PreferNoSchedule", "empty.value", "Equal", "", "PreferNoSchedule")]
    [InlineData("a=b=c", "NoExecute", "a", "Equal", "b=c", "NoExecute")]
    [InlineData("gpu", "NoSchedule", "gpu", "Exists", null, "NoSchedule")]
    // No effect: no effect field at all (it tolerates every effect), as GitLab Runner's omitempty gives.
    [InlineData("gpu", "", "gpu", "Exists", null, null)]
    [InlineData("", "", null, "Exists", null, null)]
    public void Tolerations(string key, string effect, string? expectedKey, string expectedOperator, string? expectedValue, string? expectedEffect)
    {
        var settings = new KubernetesSettings { NodeTolerations = [new KeyValuePair<string, string>(key, effect)] };

        var toleration = Assert.Single(TestData.Plan(settings).Pod.Spec.Tolerations);

        Assert.Equal((expectedKey, expectedOperator, expectedValue, expectedEffect),
            (toleration.Key, toleration.OperatorProperty, toleration.Value, toleration.Effect));
    }

    [Fact]
    public void Tolerations_keep_file_order_and_are_omitted_when_none()
    {
        var settings = new KubernetesSettings { NodeTolerations = [new("b", "NoSchedule"), new("a=1", "NoExecute")] };

        Assert.Equal(["b", "a"], TestData.Plan(settings).Pod.Spec.Tolerations.Select(t => t.Key));
        Assert.Null(TestData.Plan().Pod.Spec.Tolerations);
    }

    [Fact]
    public void Node_selector_is_copied_and_omitted_when_empty()
    {
        var settings = new KubernetesSettings { NodeSelector = new Dictionary<string, string> { ["kubernetes.io/arch"] = "amd64", ["ci"] = "true" } };

        Assert.Equal(settings.NodeSelector, TestData.Plan(settings).Pod.Spec.NodeSelector);
        Assert.Null(TestData.Plan().Pod.Spec.NodeSelector);
    }

    public static TheoryData<PodSecurityContextSettings, string> SecurityContexts => new()
    {
        { new PodSecurityContextSettings { FsGroup = 2000 }, "fsGroup=2000" },
        { new PodSecurityContextSettings { RunAsGroup = 3000 }, "runAsGroup=3000" },
        { new PodSecurityContextSettings { RunAsNonRoot = true }, "runAsNonRoot=True" },
        { new PodSecurityContextSettings { RunAsNonRoot = false }, "runAsNonRoot=False" },
        { new PodSecurityContextSettings { RunAsUser = 1000 }, "runAsUser=1000" },
        { new PodSecurityContextSettings { SupplementalGroups = [4, 5] }, "supplementalGroups=4,5" },
    };

    [Theory]
    [MemberData(nameof(SecurityContexts))]
    public void Pod_security_context_sets_each_field_alone(PodSecurityContextSettings settings, string expected)
    {
        var context = TestData.Plan(new KubernetesSettings { PodSecurityContext = settings }).Pod.Spec.SecurityContext;

        var set = new List<string>();
        if (context.FsGroup is { } fs) set.Add($"fsGroup={fs}");
        if (context.RunAsGroup is { } group) set.Add($"runAsGroup={group}");
        if (context.RunAsNonRoot is { } nonRoot) set.Add($"runAsNonRoot={nonRoot}");
        if (context.RunAsUser is { } user) set.Add($"runAsUser={user}");
        if (context.SupplementalGroups is { } groups) set.Add($"supplementalGroups={string.Join(',', groups)}");
        Assert.Equal(expected, Assert.Single(set));
    }

    [Fact]
    public void Pod_security_context_is_omitted_when_nothing_is_set()
    {
        Assert.Null(TestData.Plan(new KubernetesSettings { PodSecurityContext = new() }).Pod.Spec.SecurityContext);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData(0L, 0L)]
    [InlineData(45L, 45L)]
    public void Termination_grace_period_only_when_configured(long? configured, long? expected)
    {
        Assert.Equal(expected, TestData.Plan(new KubernetesSettings { TerminationGracePeriodSeconds = configured }).Pod.Spec.TerminationGracePeriodSeconds);
    }

    [Theory]
    [InlineData(3600, 3900)]
    [InlineData(600, 900)]
    [InlineData(0, 3900)]
    [InlineData(-5, 3900)]
    public void Active_deadline_is_the_job_timeout_plus_a_margin(int timeout, long expected)
    {
        Assert.Equal(expected, TestData.Plan(job: TestData.Job(timeout: timeout)).Pod.Spec.ActiveDeadlineSeconds);
    }

    [Theory]
    [InlineData(null, null, null, "default")]
    [InlineData("ci", null, null, "ci")]
    [InlineData("ci", "^ci-", "ci-review", "ci-review")]
    [InlineData(null, "^ci-", "ci-review", "ci-review")]
    public void Namespace_from_config_then_overwrite_then_default(string? configured, string? allowed, string? overwrite, string expected)
    {
        var settings = new KubernetesSettings { Namespace = configured, NamespaceOverwriteAllowed = allowed };
        var variables = overwrite is null ? new List<JobVariable>() : [TestData.Public(Overwrites.NamespaceVariable, overwrite)];

        var plan = TestData.Plan(settings, TestData.Job(variables: variables));

        Assert.Equal(expected, plan.Pod.Metadata.NamespaceProperty);
        Assert.All(plan.Secrets, s => Assert.Equal(expected, s.Metadata.NamespaceProperty));
    }

    [Theory]
    [InlineData("Bad_Namespace")]
    [InlineData("ci-")]
    public void An_invalid_namespace_is_a_refusal(string overwrite)
    {
        var settings = new KubernetesSettings { NamespaceOverwriteAllowed = "ci" };

        var refusal = TestData.Refusal(settings, TestData.Job(variables: [TestData.Public(Overwrites.NamespaceVariable, overwrite)]));

        Assert.Contains(overwrite, refusal);
    }

    [Fact]
    public void A_rejected_overwrite_refuses_the_job()
    {
        var settings = new KubernetesSettings { NamespaceOverwriteAllowed = "ci-.*" };

        var refusal = TestData.Refusal(settings, TestData.Job(variables: [TestData.Public(Overwrites.NamespaceVariable, "production")]));

        Assert.Contains("\"production\"", refusal);
        Assert.Contains("\"ci-.*\"", refusal);
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("builder", null, "builder")]
    [InlineData("builder", "^deploy", "deploy-bot")]
    public void Service_account_from_config_or_overwrite(string? configured, string? allowed, string? expected)
    {
        var settings = new KubernetesSettings { ServiceAccount = configured, ServiceAccountOverwriteAllowed = allowed };
        var job = TestData.Job(variables: [TestData.Public(Overwrites.ServiceAccountVariable, "deploy-bot")]);

        Assert.Equal(expected, TestData.Plan(settings, job).Pod.Spec.ServiceAccountName);
    }

    [Fact]
    public void Labels_identify_the_job_and_the_runner()
    {
        var plan = TestData.Plan(job: TestData.Job(projectId: 42), concurrentId: 2);
        var labels = plan.Pod.Metadata.Labels;

        Assert.Equal("runner-abcdefgh-project-42-concurrent-2", labels["pod"]);
        Assert.Equal("1234", labels[PodMetadata.JobIdLabel]);
        Assert.Equal("42", labels[PodMetadata.ProjectIdLabel]);
        Assert.Equal("k8s-runner", labels[PodMetadata.RunnerLabel]);
        Assert.Equal("2", labels[PodMetadata.ConcurrentIdLabel]);
        Assert.All(labels, l => Assert.True(KubernetesNames.IsQualifiedName(l.Key) && KubernetesNames.IsLabelValue(l.Value), l.ToString()));
        Assert.All(plan.Secrets, s => Assert.Equal("1234", s.Metadata.Labels[PodMetadata.JobIdLabel]));
    }

    [Theory]
    [InlineData("", "unnamed")]
    [InlineData("My Runner #1", "my-runner--1")]
    public void Runner_label_is_the_sanitized_runner_name(string name, string expected)
    {
        Assert.Equal(expected, PodBuilder.RunnerLabelValue(name));
    }

    [Fact]
    public void Annotations_carry_the_job_details_and_configured_annotations()
    {
        var settings = new KubernetesSettings { PodAnnotations = new Dictionary<string, string> { ["example.com/team"] = "ci" } };

        var annotations = TestData.Plan(settings).Pod.Metadata.Annotations;

        Assert.Equal("ci", annotations["example.com/team"]);
        Assert.Equal("1234", annotations[PodMetadata.JobIdLabel]);
        Assert.Equal("unit", annotations[PodMetadata.JobNameAnnotation]);
        Assert.Equal("group/proj", annotations[PodMetadata.ProjectPathAnnotation]);
        Assert.Equal("main", annotations[PodMetadata.RefAnnotation]);
        Assert.Equal("0123456789abcdef", annotations[PodMetadata.ShaAnnotation]);
        Assert.Equal("k8s runner", annotations[PodMetadata.RunnerNameAnnotation]);
        Assert.Equal("3600", annotations[PodMetadata.TimeoutAnnotation]);
        Assert.Equal($"runner-abcdefgh-project-42-concurrent-0-{TestData.Suffix}-job", annotations[PodMetadata.JobSecretAnnotation]);
    }

    [Theory]
    // label key, configured value, expected value (null = refused)
    [InlineData("team", "ci", "ci")]
    [InlineData("branch", "$CI_COMMIT_REF_SLUG", "feature-x")]
    [InlineData("branch", "${CI_COMMIT_REF_SLUG}-1", "feature-x-1")]
    [InlineData("unknown", "$NOT_DEFINED", "")]
    [InlineData("pod", "custom", "custom")] // the user may set "pod"
    [InlineData("bad", "has space", null)]
    [InlineData("bad", "$CI_COMMIT_REF_NAME", null)] // expands to "feature/x": invalid
    [InlineData("Bad Key", "x", null)]
    [InlineData("secret", "$MY_SECRET", null)]
    public void Pod_labels_are_expanded_and_validated(string key, string value, string? expected)
    {
        var settings = new KubernetesSettings { PodLabels = new Dictionary<string, string> { [key] = value } };
        var job = TestData.Job(variables: [
            TestData.Public("CI_COMMIT_REF_SLUG", "feature-x"),
            TestData.Public("CI_COMMIT_REF_NAME", "feature/x"),
            TestData.Masked("MY_SECRET", "s3cr3t"),
        ]);

        var result = TestData.Build(settings, job);

        if (expected is null)
        {
            Assert.Contains(key, result.Refusal);
            Assert.DoesNotContain("s3cr3t", result.Refusal);
        }
        else
        {
            Assert.Equal(expected, result.Plan!.Pod.Metadata.Labels[key]);
        }
    }

    [Theory]
    [InlineData("bad key=x")]
    [InlineData("=x")]
    [InlineData("-lead=x")]
    public void An_invalid_annotation_key_is_a_refusal(string overwrite)
    {
        var settings = new KubernetesSettings { PodAnnotationsOverwriteAllowed = ".*" };

        var refusal = TestData.Refusal(settings, TestData.Job(variables: [TestData.Public("KUBERNETES_POD_ANNOTATIONS_1", overwrite)]));

        Assert.Contains("not a valid annotation key", refusal);
    }

    [Fact]
    public void The_runners_own_labels_cannot_be_overridden()
    {
        var settings = new KubernetesSettings { PodLabels = new Dictionary<string, string> { [PodMetadata.JobIdLabel] = "999" } };

        Assert.Equal("1234", TestData.Plan(settings).Pod.Metadata.Labels[PodMetadata.JobIdLabel]);
    }

    [Fact]
    public void Env_holds_runner_environment_predefined_and_public_variables_only()
    {
        var runner = TestData.Runner(environment: ["RUNNER_ENV=1", "GIT_DEPTH=10"]);
        var job = TestData.Job(variables: [
            TestData.Public("CI_JOB_NAME", "unit"),
            TestData.Hidden("CI_JOB_TOKEN", "tok"),
            TestData.Masked("DEPLOY_KEY", "key"),
            new JobVariable { Key = "PUBLIC_MASKED", Value = "pm", Public = true, Masked = true },
            new JobVariable { Key = "CONFIG_FILE", Value = "content", Public = true, File = true },
            TestData.Public("GIT_DEPTH", "20"),
            TestData.Public("PRICE", "$5 $(HOME)"),
        ]);

        var pod = TestData.Plan(job: job, runner: runner, concurrentId: 4).Pod;
        var env = Container(pod, "build").Env.Select(e => $"{e.Name}={e.Value}").ToList();

        Assert.Equal([
            "RUNNER_ENV=1", "GIT_DEPTH=20", "CI_RUNNER_VERSION=1.2.3", "CI_RUNNER_REVISION=abcdef12", "CI_RUNNER_EXECUTABLE_ARCH=amd64",
            "CI_CONCURRENT_ID=4", "CI_BUILDS_DIR=/builds", "CI_JOB_NAME=unit", "PRICE=$$5 $$(HOME)",
        ], env);
        Assert.Null(Container(pod, "helper").Env);
    }

    [Fact]
    public void Services_get_the_env_and_their_own_variables()
    {
        var job = TestData.Job(
            variables: [TestData.Public("DB", "app")],
            services: [new JobService { Name = "postgres", Variables = [new JobServiceVariable { Key = "POSTGRES_DB", Value = "$DB" }] }, new JobService { Name = "redis" }]);

        var pod = TestData.Plan(job: job).Pod;

        Assert.Contains(Container(pod, "svc-0").Env, e => e is { Name: "POSTGRES_DB", Value: "app" });
        Assert.Contains(Container(pod, "svc-0").Env, e => e is { Name: "DB", Value: "app" });
        Assert.DoesNotContain(Container(pod, "svc-1").Env, e => e.Name == "POSTGRES_DB");
        Assert.DoesNotContain(Container(pod, "build").Env, e => e.Name == "POSTGRES_DB");
    }

    [Theory]
    [InlineData("BAD-NAME")]
    [InlineData("")]
    public void An_invalid_variable_name_is_a_refusal(string key)
    {
        Assert.Contains("not a valid", TestData.Refusal(job: TestData.Job(variables: [TestData.Public(key, "x")])));
    }

    [Theory]
    [InlineData("$DB_PASSWORD")]
    [InlineData("${DB_PASSWORD}")]
    public void A_service_variable_that_is_exactly_a_secret_reads_it_from_the_job_secret(string value)
    {
        var job = TestData.Job(
            variables: [TestData.Masked("DB_PASSWORD", "hunter2"), TestData.Masked("DB_PASSWORD", "hunter3")],
            services: [new JobService { Name = "postgres", Variables = [new JobServiceVariable { Key = "POSTGRES_PASSWORD", Value = value }] }]);

        var plan = TestData.Plan(job: job);

        var env = Assert.Single(Container(plan.Pod, "svc-0").Env, e => e.Name == "POSTGRES_PASSWORD");
        Assert.Null(env.Value);
        Assert.Equal((plan.JobSecret.Metadata.Name, "var.DB_PASSWORD"), (env.ValueFrom.SecretKeyRef.Name, env.ValueFrom.SecretKeyRef.Key));
        Assert.Equal("hunter3"u8.ToArray(), plan.JobSecret.Data["var.DB_PASSWORD"]);
        Assert.DoesNotContain("hunter", k8s.KubernetesJson.Serialize(plan.Pod));
    }

    [Theory]
    [InlineData("pre-$DB_PASSWORD")]
    [InlineData("$DB_PASSWORD$PUB")]
    [InlineData("$CERT")] // a file variable has no value key in the job Secret
    public void A_service_variable_mixing_a_secret_with_text_is_a_refusal(string value)
    {
        var job = TestData.Job(
            variables: [TestData.Masked("DB_PASSWORD", "hunter2"), TestData.Public("PUB", "p"), new JobVariable { Key = "CERT", Value = "pem", File = true }],
            services: [new JobService { Name = "postgres", Variables = [new JobServiceVariable { Key = "POSTGRES_PASSWORD", Value = value }] }]);

        var refusal = TestData.Refusal(job: job);

        Assert.Contains("POSTGRES_PASSWORD", refusal);
        Assert.DoesNotContain("hunter2", refusal);
    }

    [Fact]
    public void Ports_of_the_image_and_services_become_container_ports()
    {
        var job = TestData.Job() with
        {
            Image = new JobImage { Name = "web", Ports = [new JobPort { Number = 8080 }] },
            Services = [new JobService { Name = "db", Ports = [new JobPort { Number = 5432 }] }],
        };

        var pod = TestData.Plan(job: job).Pod;

        Assert.Equal(8080, Assert.Single(Container(pod, "build").Ports).ContainerPort);
        Assert.Equal(5432, Assert.Single(Container(pod, "svc-0").Ports).ContainerPort);
        Assert.Contains("70000", TestData.Refusal(job: job with { Image = new JobImage { Name = "web", Ports = [new JobPort { Number = 70000 }] } }));
    }

    [Theory]
    [InlineData("""{"id": 1, "token": "t", "job_info": {"project_id": -5}, "image": {"name": "a"}}""", true)]
    [InlineData("""{"id": 9223372036854775807, "token": "t", "job_info": {"project_id": 9223372036854775807, "name": "ünïcødé \u0000"}, "image": {"name": "a"}}""", true)]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": " a"}}""", false)]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a"}, "variables": [{"key": "ÄÖ", "value": "x", "public": true}]}""", false)]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a"}, "variables": [{"key": "K", "value": "\u0000$(x)${", "public": true}]}""", true)]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a"}, "services": [{"name": "s", "ports": [{"number": -1}]}]}""", false)]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a"}, "runner_info": {"timeout": 2147483647}}""", true)]
    public void Untrusted_payloads_give_a_plan_or_a_refusal_never_an_exception(string json, bool planned)
    {
        var job = JobPayloadParser.Parse(json).Payload!;

        var result = TestData.Build(job: job);

        Assert.Equal(planned, result.Plan is not null);
        Assert.Equal(!planned, result.Refusal is not null);
        if (result.Plan is { } plan)
        {
            Assert.True(KubernetesNames.IsDns1123Label(plan.PodName));
        }
    }

    [Fact]
    public void The_same_inputs_give_the_same_plan()
    {
        var settings = new KubernetesSettings { CpuLimit = "1", PodLabels = new Dictionary<string, string> { ["a"] = "b" } };

        var first = k8s.KubernetesJson.Serialize(TestData.Plan(settings).AllObjects);
        var second = k8s.KubernetesJson.Serialize(TestData.Plan(settings).AllObjects);

        Assert.Equal(first, second);
    }
}
