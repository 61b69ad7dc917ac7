using System.Net;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Scheduler.Actors.Execution.Faults;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Protocol;
using Scheduler.Messages.Settings;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary><c>pod_disruption_budget</c> in the PodActor, on virtual time: the budget comes after the pod (it needs the pod's
/// uid as its owner) and before the pod is reported; a transient fault is retried; one that cannot be made is a warning in
/// the trace and the job goes on unprotected.</summary>
public sealed class PodActorDisruptionBudgetTests : TestKit
{
    private static readonly Config VirtualTime =
        ConfigurationFactory.ParseString("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"");

    private static readonly RetrySettings Fast = new(30, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(8));

    private readonly FakeCluster _cluster = new() { InitialPhase = "Running" };
    private readonly TestProbe _watcher;

    public PodActorDisruptionBudgetTests(ITestOutputHelper output) : base(VirtualTime, "pod-pdb", output)
    {
        _watcher = CreateTestProbe("pod-watcher");
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    private static KubernetesSettings Settings(bool budget) =>
        new() { PodDisruptionBudget = budget, PollInterval = 3, PollTimeout = 600 };

    private JobPodPlan Start(bool budget, RetrySettings? retries = null)
    {
        var settings = Settings(budget);
        var plan = TestData.Plan(settings);
        ChildActorOf(PodActor.Props(plan, _cluster, settings, _watcher.Ref, "(default)", new RetryBudget(retries ?? Fast, () => 1.0)));
        return plan;
    }

    private string[] CallOrder() =>
        _cluster.History.Select(c => c.Kind).Where(k => k is "create-secret" or "create-pod" or "own-secret" or "create-pdb").ToArray();

    [Fact]
    public async Task The_budget_is_made_after_the_pod_owned_by_it_before_the_pod_is_reported()
    {
        var plan = Start(budget: true);

        var created = await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));

        Assert.Equal(["create-pod", "create-secret", "create-pdb"], CallOrder());
        var budget = _cluster.PodDisruptionBudget(plan.PodName + "-pdb");
        Assert.NotNull(budget);
        Assert.Equal(plan.Namespace, budget.Metadata.NamespaceProperty);
        var owner = Assert.Single(budget.Metadata.OwnerReferences);
        Assert.Equal(("v1", "Pod", plan.PodName, created.Pod.Metadata.Uid), (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid));
        Assert.Equal("1", budget.Spec.MinAvailable?.Value);
        Assert.Null(budget.Spec.MaxUnavailable);
        var jobId = plan.Pod.Metadata.Labels[PodMetadata.JobIdLabel];
        Assert.Equal(new Dictionary<string, string> { [PodMetadata.JobIdLabel] = jobId }, budget.Spec.Selector.MatchLabels);
    }

    [Fact]
    public async Task Without_the_key_no_budget_is_made()
    {
        Start(budget: false);

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));

        Assert.Equal(0, _cluster.Count("create-pdb"));
        Assert.Equal(["create-pod", "create-secret"], CallOrder());
    }

    [Fact]
    public async Task A_transient_fault_is_retried_with_backoff_and_the_budget_is_made()
    {
        _cluster.FailNext("create-pdb", 2, HttpStatusCode.ServiceUnavailable);
        var plan = Start(budget: true);

        await AwaitConditionAsync(() =>
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(_cluster.Count("create-pdb") == 3);
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));

        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.NotNull(_cluster.PodDisruptionBudget(plan.PodName + "-pdb"));
    }

    [Fact]
    public async Task A_refused_budget_is_a_warning_in_the_trace_and_the_job_goes_on_with_its_pod()
    {
        // The runner's credentials may not create PodDisruptionBudgets (RBAC): a 403, final.
        _cluster.FailNext("create-pdb", 1, HttpStatusCode.Forbidden);
        var plan = Start(budget: true);

        var warning = await ExpectMsgAsync<TraceText>(TimeSpan.FromSeconds(10));
        Assert.Contains($"WARNING: could not create the PodDisruptionBudget {plan.Namespace}/{plan.PodName}-pdb", warning.Text);
        Assert.Contains("not protected from evictions", warning.Text);
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        await ExpectMsgAsync<PodReady>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _cluster.Count("create-pdb"));
        Assert.Equal(0, _cluster.Count("delete-pod"));
    }

    [Fact]
    public async Task A_budget_that_keeps_failing_transiently_is_given_up_after_retry_limit_and_the_job_goes_on()
    {
        _cluster.FailNext("create-pdb", 10, HttpStatusCode.ServiceUnavailable);
        Start(budget: true, Fast.For(3, null));

        await AwaitConditionAsync(() =>
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(_cluster.Count("create-pdb") == 3);
        }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));

        var warning = await ExpectMsgAsync<TraceText>(TimeSpan.FromSeconds(10));
        Assert.Contains("(tried 3 times)", warning.Text);
        await ExpectMsgAsync<PodCreated>(TimeSpan.FromSeconds(10));
        Assert.Equal(0, _cluster.Count("delete-pod"));
    }
}
