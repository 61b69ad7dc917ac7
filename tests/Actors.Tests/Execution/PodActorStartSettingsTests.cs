using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>How config.toml shapes the start of a pod, on virtual time: <c>retry_limits</c> (an error message fragment and
/// its own number of tries), <c>resource_availability_check_max_attempts</c> (the service account and imagePullSecrets are
/// waited for, 5 s apart), <c>namespace_per_job</c> (the namespace comes first) and <c>cleanup_grace_period_seconds</c> on
/// what a failed start deletes.</summary>
public sealed class PodActorStartSettingsTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    // Each delay is the backoff's ceiling (jitter 1.0): 1 s, 2 s, 4 s … up to 8 s; 30 retries for the job.
    private static readonly RetrySettings Fast = new(30, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private readonly TestProbe _watcher;

    public PodActorStartSettingsTests(ITestOutputHelper output) : base(VirtualTime, "pod-start", output)
    {
        _watcher = CreateTestProbe("pod-watcher");
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static RetryBudget Budget(RetrySettings settings) => new(settings, () => 1.0);

    private static KubernetesSettings Settings(KubernetesSettings? with = null) =>
        (with ?? new KubernetesSettings()) with { PollInterval = 3, PollTimeout = 600 };

    private void Start(JobPodPlan plan, RetryBudget budget, KubernetesSettings settings) =>
        ChildActorOf(PodActor.Props(plan, _cluster, settings, _watcher.Ref, "(default)", budget));

    private async Task AdvanceUntilAsync(Func<bool> condition, TimeSpan step) =>
        await AwaitConditionAsync(() =>
        {
            if (condition())
            {
                return Task.FromResult(true);
            }

            Clock.Advance(step);
            return Task.FromResult(condition());
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));

    private int Calls(string kind) => _cluster.Count(kind);

    // ---- retry_limits ----

    [Fact]
    public async Task A_refusal_whose_message_matches_retry_limits_is_retried_and_the_pod_starts()
    {
        // GitLab Runner's example: "exceeded quota" is a 403, final without retry_limits (see PodActorTests).
        var settings = Fast.For(5, null) with { Limits = [KeyValuePair.Create("create-pod refused", 4)] };
        var budget = Budget(settings);
        _cluster.FailNext("create-pod", 3, HttpStatusCode.Forbidden);

        Start(TestData.Plan(), budget, Settings());
        await AdvanceUntilAsync(() => Calls("create-pod") == 4, TimeSpan.FromSeconds(1));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(3, budget.Used);
    }

    [Fact]
    public async Task A_matching_error_is_tried_only_as_often_as_its_retry_limits_entry_says()
    {
        // retry_limit allows 10 tries of a 503; the entry for it allows 2.
        var settings = Fast.For(10, null) with
        {
            Limits = [KeyValuePair.Create("no such fragment", 9), KeyValuePair.Create("fault 503", 2)],
        };
        _cluster.FailNext("create-pod", 10, HttpStatusCode.ServiceUnavailable);

        Start(TestData.Plan(), Budget(settings), Settings());
        await AdvanceUntilAsync(() => Calls("create-pod") == 2, TimeSpan.FromSeconds(1));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("tried 2 times", failed.Message, StringComparison.Ordinal);
        Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, Calls("create-pod"));
    }

    [Theory]
    [InlineData("exceeded quota", "pods \"x\" is forbidden: exceeded quota: compute", 7)]
    [InlineData("connection refused", "connect: connection refused", 3)]
    [InlineData("Exceeded quota", "exceeded quota", null)] // as GitLab Runner: case matters
    [InlineData("quota", "no match here", null)]
    public void The_first_retry_limits_fragment_the_error_text_contains_gives_the_limit(string fragment, string text, int? expected)
    {
        var settings = Fast with { Limits = [KeyValuePair.Create(fragment, expected ?? 5), KeyValuePair.Create(text, 99)] };
        var onlyFirst = Fast with { Limits = [KeyValuePair.Create(fragment, expected ?? 5)] };

        Assert.Equal(expected, onlyFirst.LimitFor(text));
        Assert.Equal(expected ?? 99, settings.LimitFor(text));
    }

    // ---- resource_availability_check_max_attempts ----

    [Fact]
    public async Task A_missing_service_account_is_checked_again_every_5_s_then_the_pod_is_not_made()
    {
        var plan = TestData.Plan(new KubernetesSettings { ServiceAccount = "builder" });

        Start(plan, Budget(Fast), Settings(new KubernetesSettings { ResourceAvailabilityCheckMaxAttempts = 2 }));
        await AwaitConditionAsync(() => Task.FromResult(Calls("read-service-account") == 1), TimeSpan.FromSeconds(10));
        Clock.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(100);
        Assert.Equal(1, Calls("read-service-account")); // not before 5 s
        await AdvanceUntilAsync(() => Calls("read-service-account") == 3, TimeSpan.FromSeconds(5));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Equal("Timed out while waiting for ServiceAccount/builder to be present in the cluster", failed.Message);
        Assert.Equal(0, Calls("create-secret"));
        Assert.Equal(0, Calls("create-pod"));
    }

    [Fact]
    public async Task A_service_account_and_pull_secret_that_appear_in_time_let_the_pod_start()
    {
        var plan = TestData.Plan(new KubernetesSettings { ServiceAccount = "builder", ImagePullSecrets = ["regcred"] });

        Start(plan, Budget(Fast), Settings());
        await AwaitConditionAsync(() => Task.FromResult(Calls("read-service-account") == 1), TimeSpan.FromSeconds(10));
        _cluster.ServiceAccounts["builder"] = true;
        await AdvanceUntilAsync(() => Calls("read-secret") >= 1, TimeSpan.FromSeconds(5));
        _cluster.AddSecret("regcred");
        await AdvanceUntilAsync(() => Calls("read-secret") >= 2, TimeSpan.FromSeconds(5));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(2, Calls("read-service-account"));
    }

    [Fact]
    public async Task Only_pull_secrets_the_job_does_not_make_itself_are_waited_for()
    {
        // The job's registry Secret is in imagePullSecrets too, but it is made right after the checks.
        var job = TestData.Job(credentials: [new JobCredential { Type = "registry", Url = "r.example.com", Username = "u", Password = "p" }]);
        var plan = TestData.Plan(job: job);
        Assert.NotEmpty(plan.Pod.Spec.ImagePullSecrets ?? []);

        Start(plan, Budget(Fast), Settings());

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Calls("read-secret"));
        Assert.Equal(0, Calls("read-service-account"));
    }

    [Fact]
    public async Task A_check_that_fails_counts_as_not_there_yet_and_its_error_is_named()
    {
        var plan = TestData.Plan(new KubernetesSettings { ImagePullSecrets = ["regcred"] });
        _cluster.FailNext("read-secret", 5, HttpStatusCode.Forbidden);

        Start(plan, Budget(Fast), Settings(new KubernetesSettings { ResourceAvailabilityCheckMaxAttempts = 1 }));
        await AdvanceUntilAsync(() => Calls("read-secret") == 2, TimeSpan.FromSeconds(5));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.StartsWith("Timed out while waiting for ImagePullSecret/regcred to be present in the cluster", failed.Message);
        Assert.Contains("403", failed.Message, StringComparison.Ordinal);
    }

    // ---- namespace_per_job and cleanup_grace_period_seconds ----

    [Fact]
    public async Task With_namespace_per_job_the_namespace_is_created_before_anything_else()
    {
        var job = TestData.Job() with { Id = 31337 };
        var plan = TestData.Plan(new KubernetesSettings { NamespacePerJob = true }, job);
        Assert.Equal("ci-job-31337", plan.Namespace);

        Start(plan, Budget(Fast), Settings(new KubernetesSettings { NamespacePerJob = true }));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        var first = _cluster.History.First();
        Assert.Equal(("create-namespace", "ci-job-31337"), (first.Kind, first.Detail));
    }

    [Fact]
    public async Task A_namespace_that_cannot_be_made_fails_the_start_without_making_anything()
    {
        var plan = TestData.Plan(new KubernetesSettings { NamespacePerJob = true });
        _cluster.FailNext("create-namespace", 1, HttpStatusCode.Forbidden);

        Start(plan, Budget(Fast), Settings(new KubernetesSettings { NamespacePerJob = true }));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("could not create the job's namespace", failed.Message, StringComparison.Ordinal);
        Assert.Equal(0, Calls("create-secret"));
    }

    [Fact]
    public async Task What_a_failed_start_deletes_is_deleted_with_the_cleanup_grace_period()
    {
        // The registry Secret's owner patch is the last step: the pod and both Secrets are made by then.
        var plan = TestData.Plan(job: TestData.Job(credentials:
            [new JobCredential { Type = "registry", Url = "registry.example.com", Username = "u", Password = "p" }]));
        _cluster.FailNext("own-secret", 1, HttpStatusCode.Forbidden);

        Start(plan, Budget(Fast), Settings(new KubernetesSettings { CleanupGracePeriodSeconds = 3 }));

        await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains(("delete-pod", plan.PodName, (long?)3), _cluster.DeleteGracePeriods);
        Assert.Contains(("delete-secret", plan.JobSecret.Metadata.Name, (long?)3), _cluster.DeleteGracePeriods);
        Assert.Contains(("delete-secret", plan.RegistrySecret!.Metadata.Name, (long?)3), _cluster.DeleteGracePeriods);
    }
}
