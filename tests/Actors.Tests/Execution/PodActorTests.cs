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

/// <summary>The PodActor against Kubernetes faults, on virtual time: transient ones (timeouts, 429, 5xx) are retried with
/// backoff within the job's budget, permanent ones fail at once with the status, and what was made before a failure is
/// deleted. The registry Secret comes first, then the pod, then the job Secret (its owner in the create), then the registry
/// Secret's owner.</summary>
public sealed class PodActorTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    // A fixed jitter: each delay is the backoff's ceiling, 1 s, 2 s, 4 s … up to 8 s.
    private static readonly RetrySettings Fast = new(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private readonly TestProbe _watcher;

    public PodActorTests(ITestOutputHelper output) : base(VirtualTime, "pod-actor", output)
    {
        _watcher = CreateTestProbe("pod-watcher");
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static RetryBudget Budget(RetrySettings? settings = null) => new(settings ?? Fast, () => 1.0);

    private static JobPodPlan Plan(bool withRegistry = false) => TestData.Plan(job: TestData.Job(credentials: withRegistry
        ? [new JobCredential { Type = "registry", Url = "registry.example.com", Username = "u", Password = "p" }]
        : null));

    private IActorRef Start(JobPodPlan plan, RetryBudget budget, bool adopt = false, KubernetesSettings? settings = null) =>
        ChildActorOf(PodActor.Props(plan, _cluster, settings ?? new KubernetesSettings { PollInterval = 3, PollTimeout = 600 },
            _watcher.Ref, "(default)", budget, adopt));

    // Moves virtual time on until the condition holds: the retry timer is set only after the failure came back.
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

    [Fact]
    public async Task A_pod_create_that_times_out_on_the_client_is_retried_and_the_pod_starts()
    {
        var plan = Plan();
        var budget = Budget();
        _cluster.TimeOutNext("create-pod");

        Start(plan, budget);
        await AdvanceUntilAsync(() => Calls("create-pod") == 2, TimeSpan.FromSeconds(1));

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(plan.PodName, created.Pod.Metadata.Name);
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, budget.Used);
    }

    [Fact]
    public async Task Answers_429_and_500_to_the_secret_and_the_pod_create_are_retried_within_the_budget()
    {
        var plan = Plan();
        var budget = Budget();
        _cluster.FailNext("create-secret", 1, HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(2));
        _cluster.FailNext("create-pod", 2, HttpStatusCode.InternalServerError);

        Start(plan, budget);
        await AdvanceUntilAsync(() => Calls("create-secret") == 2, TimeSpan.FromSeconds(1));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(3, budget.Used);
        Assert.Equal(3, Calls("create-pod"));
        Assert.Equal(2, Calls("create-secret"));
        Assert.Single(_cluster.PodNames());
    }

    [Fact]
    public async Task A_permanent_refusal_of_the_pod_fails_at_once_with_the_status_and_deletes_the_secret_made_for_it()
    {
        var plan = Plan(withRegistry: true);
        var budget = Budget();
        _cluster.FailNext("create-pod", 1, HttpStatusCode.Forbidden);

        Start(plan, budget);

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Equal(FailureReasons.RunnerSystemFailure, failed.FailureReason);
        Assert.Contains("403", failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.JobToken, failed.Message, StringComparison.Ordinal);
        Assert.Equal(1, Calls("create-pod"));
        Assert.Equal(0, budget.Used);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
        Assert.Contains(plan.RegistrySecret!.Metadata.Name, _cluster.DeletedSecrets);
        // The job Secret (the job token, the variables) comes after the pod: a refused pod never had one.
        Assert.Equal(1, Calls("create-secret"));
    }

    [Fact]
    public async Task When_the_budget_is_spent_the_pod_does_not_start_and_nothing_is_left_behind()
    {
        var plan = Plan();
        var budget = Budget(Fast with { MaxRetriesPerJob = 2 });
        _cluster.FailNext("create-pod", 10, HttpStatusCode.ServiceUnavailable);

        Start(plan, budget);
        await AdvanceUntilAsync(() => Calls("create-pod") == 3, TimeSpan.FromSeconds(1));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("503", failed.Message, StringComparison.Ordinal);
        Assert.Contains("retries", failed.Message, StringComparison.Ordinal);
        Assert.Equal(3, Calls("create-pod"));
        Assert.Equal(2, budget.Used);
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task A_create_whose_answer_was_lost_finds_the_pod_it_made_instead_of_making_another()
    {
        var plan = Plan();
        _cluster.LoseNextAnswer("create-pod");

        Start(plan, Budget());
        await AdvanceUntilAsync(() => Calls("create-pod") == 2, TimeSpan.FromSeconds(1));

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(_cluster.Pod(plan.PodName)!.Metadata.Uid, created.Pod.Metadata.Uid);
        Assert.Single(_cluster.PodNames());
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task The_registry_secret_comes_before_the_pod_and_the_job_secret_after_it_made_with_its_owner()
    {
        var plan = Plan(withRegistry: true);
        Assert.Equal(2, plan.Secrets.Count);

        Start(plan, Budget());

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        var order = _cluster.History.Where(c => c.Kind is "create-secret" or "create-pod" or "own-secret")
            .Select(c => (c.Kind, c.Detail)).ToList();
        Assert.Equal([("create-secret", plan.RegistrySecret!.Metadata.Name), ("create-pod", plan.PodName),
            ("create-secret", plan.JobSecret.Metadata.Name), ("own-secret", plan.RegistrySecret.Metadata.Name)], order);
        // The job Secret had its owner in the create's body: no patch.
        var made = Assert.Single(_cluster.CreatedSecrets, s => s.Metadata.Name == plan.JobSecret.Metadata.Name);
        Assert.Equal(created.Pod.Metadata.Uid, Assert.Single(made.Metadata.OwnerReferences).Uid);
        foreach (var secret in plan.Secrets)
        {
            var owner = Assert.Single(_cluster.Secret(secret.Metadata.Name)!.Metadata.OwnerReferences);
            Assert.Equal(("Pod", plan.PodName, created.Pod.Metadata.Uid), (owner.Kind, owner.Name, owner.Uid));
        }

        // The plan itself stays without owner: a restarted JobActor builds the same objects again.
        Assert.All(plan.Secrets, s => Assert.Null(s.Metadata.OwnerReferences));
    }

    [Fact]
    public async Task A_registry_secret_that_cannot_be_made_fails_the_pod_before_it_is_created()
    {
        var plan = Plan(withRegistry: true);
        _cluster.FailNext("create-secret", 1, HttpStatusCode.UnprocessableEntity);

        Start(plan, Budget());

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("422", failed.Message, StringComparison.Ordinal);
        Assert.Contains("Secret", failed.Message, StringComparison.Ordinal);
        Assert.Equal(0, Calls("create-pod"));
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task A_secret_whose_owner_cannot_be_set_takes_the_pod_and_the_secrets_with_it()
    {
        var plan = Plan(withRegistry: true);
        _cluster.FailNext("own-secret", 1, HttpStatusCode.Forbidden);

        Start(plan, Budget());

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("403", failed.Message, StringComparison.Ordinal);
        Assert.Contains("owner", failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task An_owner_patch_that_times_out_is_retried()
    {
        var plan = Plan(withRegistry: true);
        _cluster.TimeOutNext("own-secret");

        Start(plan, Budget());
        await AdvanceUntilAsync(() => Calls("own-secret") == 2, TimeSpan.FromSeconds(1));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.NotNull(_cluster.Secret(plan.RegistrySecret!.Metadata.Name)!.Metadata.OwnerReferences);
    }

    [Fact]
    public async Task A_failed_read_of_a_pending_pod_waits_for_the_next_poll_instead_of_failing_the_job()
    {
        _cluster.InitialPhase = "Pending";
        var plan = Plan();
        Start(plan, Budget());
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        _cluster.FailNext("read-pod", 1, HttpStatusCode.InternalServerError);
        _cluster.TimeOutNext("read-pod");

        await AdvanceUntilAsync(() => Calls("read-pod") == 2, TimeSpan.FromSeconds(3));
        _cluster.SetPodStatus(plan.PodName, "Running", notify: false);
        await AdvanceUntilAsync(() => Calls("read-pod") == 3, TimeSpan.FromSeconds(3));

        var ready = await FishForMessageAsync(m => m is PodReady or PodNotStarted, TimeSpan.FromSeconds(10));
        Assert.IsType<PodReady>(ready);
    }

    [Fact]
    public async Task A_poll_tick_after_a_watch_event_reads_nothing_and_a_lost_event_is_found_by_the_next_read()
    {
        _cluster.InitialPhase = "Pending";
        var plan = Plan();
        var actor = Start(plan, Budget());
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await _watcher.ExpectMsgAsync<WatchPod>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<TraceText>(TimeSpan.FromSeconds(10)); // the waiting line of the created pod

        // The watch speaks within the interval: the tick prints the waiting line from its event and reads nothing.
        actor.Tell(new PodUpdated(k8s.WatchEventType.Modified, _cluster.Pod(plan.PodName)!));
        Clock.Advance(TimeSpan.FromSeconds(3));
        var line = await ExpectMsgAsync<TraceText>(TimeSpan.FromSeconds(10));
        Assert.Contains("status is Pending", line.Text);
        Assert.Equal(0, Calls("read-pod"));

        // The watch's next event is lost: the tick after an interval without events reads the pod and finds it running.
        _cluster.SetPodStatus(plan.PodName, "Running", notify: false);
        Clock.Advance(TimeSpan.FromSeconds(3));
        var ready = await FishForMessageAsync(m => m is PodReady or PodNotStarted, TimeSpan.FromSeconds(10));
        Assert.IsType<PodReady>(ready);
        Assert.Equal(1, Calls("read-pod"));
    }

    [Fact]
    public async Task A_pod_that_runs_while_its_job_secret_is_being_made_is_ready_at_once_without_waiting_for_a_poll()
    {
        // The pod is created Pending and runs before the job Secret's create answers: the watch's event comes while the
        // pod is still being made, and must not be lost (it used to be: the pod was followed only once made).
        _cluster.InitialPhase = "Pending";
        var plan = Plan();
        var jobSecretCreate = _cluster.HoldNext("create-secret");
        var actor = Start(plan, Budget());
        await _watcher.ExpectMsgAsync<WatchPod>(TimeSpan.FromSeconds(10));
        await AwaitConditionAsync(() => Task.FromResult(Calls("create-secret") == 1), TimeSpan.FromSeconds(10));
        _cluster.SetPodStatus(plan.PodName, "Running", notify: false);
        actor.Tell(new PodUpdated(k8s.WatchEventType.Modified, _cluster.Pod(plan.PodName)!));

        jobSecretCreate.SetResult();

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Calls("read-pod"));
    }

    [Fact]
    public async Task A_poll_tick_after_a_deletion_event_reads_the_pod()
    {
        _cluster.InitialPhase = "Pending";
        var plan = Plan();
        var actor = Start(plan, Budget());
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await _watcher.ExpectMsgAsync<WatchPod>(TimeSpan.FromSeconds(10));

        actor.Tell(new PodUpdated(k8s.WatchEventType.Deleted, _cluster.Pod(plan.PodName)!));
        Clock.Advance(TimeSpan.FromSeconds(3));

        await AwaitConditionAsync(() => Task.FromResult(Calls("read-pod") == 1), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_permanent_refusal_of_a_pod_read_fails_with_the_status()
    {
        _cluster.InitialPhase = "Pending";
        var plan = Plan();
        Start(plan, Budget());
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        _cluster.FailNext("read-pod", 1, HttpStatusCode.Unauthorized);

        await AdvanceUntilAsync(() => Calls("read-pod") == 1, TimeSpan.FromSeconds(3));

        var failed = (PodNotStarted)await FishForMessageAsync(m => m is PodNotStarted, TimeSpan.FromSeconds(10));
        Assert.Contains("401", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Adopting_reads_the_pod_again_after_a_timeout_and_never_creates_it()
    {
        var plan = Plan();
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        _cluster.TimeOutNext("read-pod");

        Start(plan, Budget(), adopt: true);
        await AdvanceUntilAsync(() => Calls("read-pod") >= 2, TimeSpan.FromSeconds(1));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, Calls("create-pod")); // the test's own
        Assert.Equal(0, Calls("create-secret"));
    }

    [Fact]
    public async Task Adopting_makes_the_pod_the_owner_of_a_registry_secret_left_without_one()
    {
        var plan = Plan(withRegistry: true);
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        _cluster.AddSecret(plan.RegistrySecret!.Metadata.Name); // its node died before the owner patch

        Start(plan, Budget(), adopt: true);

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        var owner = Assert.Single(_cluster.Secret(plan.RegistrySecret.Metadata.Name)!.Metadata.OwnerReferences);
        Assert.Equal(plan.PodName, owner.Name);
        Assert.Equal(0, Calls("create-secret"));
    }

    [Fact]
    public async Task An_adopted_job_goes_on_when_its_registry_secret_cannot_be_owned()
    {
        var plan = Plan(withRegistry: true);
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        _cluster.AddSecret(plan.RegistrySecret!.Metadata.Name);
        _cluster.FailNext("own-secret", 1, System.Net.HttpStatusCode.Forbidden);

        Start(plan, Budget(), adopt: true);

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, Calls("own-secret"));
        Assert.Empty(_cluster.DeletedPods);
    }

    // ---- the job Secret, made after the pod with the pod as its owner ----

    [Fact]
    public async Task The_job_secret_is_made_after_the_pod_with_the_pod_as_its_owner_and_no_owner_patch()
    {
        var plan = Plan();

        Start(plan, Budget());

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        var order = _cluster.History.Select(c => c.Kind).Where(k => k is "create-secret" or "create-pod" or "own-secret").ToList();
        Assert.Equal(["create-pod", "create-secret"], order);
        var owner = Assert.Single(_cluster.Secret(plan.JobSecret.Metadata.Name)!.Metadata.OwnerReferences);
        Assert.Equal(("v1", "Pod", plan.PodName, created.Pod.Metadata.Uid), (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid));
        Assert.Equal(plan.JobSecret.Data, _cluster.Secret(plan.JobSecret.Metadata.Name)!.Data);
        Assert.Null(plan.JobSecret.Metadata.OwnerReferences); // the plan is built again by a restarted JobActor
    }

    [Fact]
    public async Task A_job_secret_create_whose_answer_was_lost_is_made_once_with_its_owner()
    {
        var plan = Plan();
        _cluster.LoseNextAnswer("create-secret");

        Start(plan, Budget());
        await AdvanceUntilAsync(() => Calls("create-secret") == 2, TimeSpan.FromSeconds(1));

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(plan.JobSecret.Metadata.Name, Assert.Single(_cluster.SecretNames()));
        Assert.Equal(created.Pod.Metadata.Uid, Assert.Single(_cluster.Secret(plan.JobSecret.Metadata.Name)!.Metadata.OwnerReferences).Uid);
        Assert.Single(_cluster.PodNames());
    }

    [Fact]
    public async Task A_restarted_start_finds_the_pod_and_its_job_secret_made_before_and_makes_neither_again()
    {
        // A JobActor restarted after both were made: the pod's create answers with the existing pod, the Secret's with a 409.
        var plan = Plan();
        var first = await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        await _cluster.CreateSecretAsync(plan.JobSecretOwnedBy(first), CancellationToken.None);

        Start(plan, Budget());

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(first.Metadata.Uid, created.Pod.Metadata.Uid);
        Assert.Single(_cluster.PodNames());
        Assert.Equal(first.Metadata.Uid, Assert.Single(_cluster.Secret(plan.JobSecret.Metadata.Name)!.Metadata.OwnerReferences).Uid);
        Assert.Empty(_cluster.DeletedPods);
    }

    [Fact]
    public async Task A_job_secret_left_by_an_earlier_pod_of_the_same_name_is_replaced_by_one_the_new_pod_owns()
    {
        // A restarted job whose earlier pod was deleted: its Secret, not yet collected, names the old uid. Kept as it is, the
        // collector would delete it under the new pod, which would wait for its mount until poll_timeout.
        var plan = Plan();
        var earlier = await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        await _cluster.CreateSecretAsync(plan.JobSecretOwnedBy(earlier), CancellationToken.None);
        await _cluster.DeletePodAsync(plan.Namespace, plan.PodName, 0, CancellationToken.None);

        Start(plan, Budget());
        await AdvanceUntilAsync(() => Calls("create-secret") == 3, TimeSpan.FromSeconds(1));

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.NotEqual(earlier.Metadata.Uid, created.Pod.Metadata.Uid);
        Assert.Equal(created.Pod.Metadata.Uid, Assert.Single(_cluster.Secret(plan.JobSecret.Metadata.Name)!.Metadata.OwnerReferences).Uid);
        Assert.Equal(plan.JobSecret.Data, _cluster.Secret(plan.JobSecret.Metadata.Name)!.Data);
        Assert.Equal(1, Calls("delete-secret"));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_job_secret_being_deleted_is_made_again_rather_than_kept()
    {
        // The pod's own Secret, but a delete (held by a finalizer) is under way: it would be gone under the pod.
        var plan = Plan();
        var pod = await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        await _cluster.CreateSecretAsync(plan.JobSecretOwnedBy(pod), CancellationToken.None);
        _cluster.MarkSecretDeleting(plan.JobSecret.Metadata.Name);

        Start(plan, Budget());
        await AdvanceUntilAsync(() => Calls("create-secret") == 3, TimeSpan.FromSeconds(1));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Null(_cluster.Secret(plan.JobSecret.Metadata.Name)!.Metadata.DeletionTimestamp);
        Assert.Equal(1, Calls("delete-secret"));
    }

    [Fact]
    public async Task An_earlier_pods_job_secret_with_the_retry_budget_spent_fails_the_start_and_deletes_the_pod()
    {
        var plan = Plan();
        var earlier = await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        await _cluster.CreateSecretAsync(plan.JobSecretOwnedBy(earlier), CancellationToken.None);
        await _cluster.DeletePodAsync(plan.Namespace, plan.PodName, 0, CancellationToken.None);

        Start(plan, Budget(new RetrySettings(0, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8))));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("an earlier Secret of that name is in the way", failed.Message, StringComparison.Ordinal);
        Assert.Contains(earlier.Metadata.Uid, failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.JobToken, failed.Message, StringComparison.Ordinal);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task A_pod_whose_create_answer_was_lost_is_deleted_by_name_when_the_retry_budget_runs_out()
    {
        // The first create lands but its answer is lost; every retry then meets a 500: the actor never saw the pod.
        var plan = Plan();
        _cluster.LoseNextAnswer("create-pod");
        _cluster.FailNext("create-pod", 100, HttpStatusCode.InternalServerError);

        Start(plan, Budget());
        await AdvanceUntilAsync(() => _cluster.DeletedPods.Contains(plan.PodName), TimeSpan.FromSeconds(1));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("could not create the pod", failed.Message, StringComparison.Ordinal);
        Assert.Empty(_cluster.PodNames());
        Assert.Equal(0, Calls("create-secret"));
    }

    [Fact]
    public async Task A_pod_whose_create_answer_was_lost_is_deleted_by_name_when_a_stop_arrives_during_the_retry()
    {
        var plan = Plan();
        _cluster.LoseNextAnswer("create-pod");

        var actor = Start(plan, Budget());
        await AwaitAssertAsync(() => Assert.Equal(1, Calls("create-pod")));
        await Task.Delay(200); // the lost answer comes back and the retry's timer is set
        actor.Tell(new StopStartingPod("the job was canceled"));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("canceled", failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Empty(_cluster.PodNames());
    }

    [Fact]
    public async Task A_pod_create_refused_for_good_deletes_nothing()
    {
        // A 422 is the server's no: there is no pod to delete (and an adopted pod is never deleted here either).
        var plan = Plan();
        _cluster.FailNext("create-pod", 1, HttpStatusCode.UnprocessableEntity);

        Start(plan, Budget());

        await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Calls("delete-pod"));
    }

    [Fact]
    public async Task A_restarted_start_whose_job_secret_is_refused_deletes_the_pod_it_found()
    {
        // The pod was made before the restart; its Secret now cannot be: the pod would wait for its mount, so it goes.
        var plan = Plan();
        await _cluster.CreatePodAsync(plan.Pod, CancellationToken.None);
        _cluster.FailNext("create-secret", 1, HttpStatusCode.Forbidden);

        Start(plan, Budget());

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("403", failed.Message, StringComparison.Ordinal);
        Assert.Contains($"Secret {plan.JobSecret.Metadata.Name}", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.JobToken, failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task A_job_secret_refused_after_the_pod_takes_the_pod_and_the_registry_secret_with_it()
    {
        var plan = Plan(withRegistry: true);
        _cluster.PassNext("create-secret"); // the registry Secret, before the pod
        _cluster.FailNext("create-secret", 1, HttpStatusCode.UnprocessableEntity);

        Start(plan, Budget());

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("422", failed.Message, StringComparison.Ordinal);
        Assert.Equal(1, Calls("create-pod"));
        Assert.Equal(0, Calls("own-secret"));
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Contains(plan.RegistrySecret!.Metadata.Name, _cluster.DeletedSecrets);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task When_the_budget_is_spent_on_the_job_secret_the_pod_is_deleted()
    {
        var plan = Plan();
        var budget = Budget(Fast with { MaxRetriesPerJob = 2 });
        _cluster.FailNext("create-secret", 10, HttpStatusCode.ServiceUnavailable);

        Start(plan, budget);
        await AdvanceUntilAsync(() => Calls("create-secret") == 3, TimeSpan.FromSeconds(1));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("503", failed.Message, StringComparison.Ordinal);
        Assert.Contains("retries", failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Empty(_cluster.PodNames());
        Assert.Empty(_cluster.SecretNames());
    }

    [Fact]
    public async Task A_job_that_ends_while_the_job_secret_waits_for_its_retry_deletes_the_pod_and_reports_at_once()
    {
        var plan = Plan();
        _cluster.FailNext("create-secret", 1, HttpStatusCode.ServiceUnavailable);
        IActorRef? actor = null;
        // Logged as the retry timer is set (virtual time stands still): the stop comes while nothing is in flight.
        await EventFilter.Warning(contains: "retry 1").ExpectOneAsync(() =>
        {
            actor = Start(plan, Budget());
            return Task.CompletedTask;
        });

        actor!.Tell(new StopStartingPod("the job was canceled"));

        var failed = await ExpectMsgAsync<PodNotStarted>(TimeSpan.FromSeconds(10));
        Assert.Contains("canceled", failed.Message, StringComparison.Ordinal);
        Assert.Contains(plan.PodName, _cluster.DeletedPods);
        Assert.Empty(_cluster.PodNames());
        Assert.Equal(1, Calls("create-secret"));
    }
}
