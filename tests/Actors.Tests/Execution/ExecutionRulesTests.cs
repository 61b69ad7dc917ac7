using k8s.Models;
using Scheduler.Actors.Execution;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Tests.Execution;

public sealed class AdmissionTests
{
    [Theory]
    // concurrent, limit of runner "a", jobs as runner letters in arrival order, expected admitted job indexes
    [InlineData(2, 0, "aaa", new[] { 0, 1 })]
    [InlineData(1, 0, "ab", new[] { 0 })]
    [InlineData(3, 1, "aab", new[] { 0, 2 })]   // a at its limit does not hold back b
    [InlineData(5, 2, "aaaa", new[] { 0, 1 })]
    [InlineData(0, 0, "aa", new[] { 0 })]       // concurrent below 1 counts as 1
    public void Admits_in_arrival_order_within_concurrent_and_limits(int concurrent, int limitA, string runners, int[] expected)
    {
        var admission = new Admission(concurrent, new Dictionary<string, int> { ["a"] = limitA, ["b"] = 0 });
        for (var i = 0; i < runners.Length; i++)
        {
            admission.Enqueue(i, runners[i].ToString());
        }

        var admitted = admission.AdmitAll().Select(a => (int)a.JobId).ToArray();

        Assert.Equal(expected, admitted);
        Assert.Equal(runners.Length - expected.Length, admission.WaitingCount);
    }

    [Fact]
    public void A_freed_slot_admits_the_next_job_with_the_lowest_free_concurrent_id()
    {
        var admission = new Admission(2, new Dictionary<string, int>());
        admission.Enqueue(1, "a");
        admission.Enqueue(2, "a");
        admission.Enqueue(3, "a");
        Assert.Equal([(1L, "a", 0), (2L, "a", 1)], admission.AdmitAll());

        admission.Remove(1);

        Assert.Equal([(3L, "a", 0)], admission.AdmitAll());
        Assert.Empty(admission.AdmitAll());
    }

    [Fact]
    public void The_same_job_twice_is_queued_once()
    {
        var admission = new Admission(1, new Dictionary<string, int>());
        admission.Enqueue(7, "a");
        admission.Enqueue(7, "a");

        Assert.Single(admission.AdmitAll());
        admission.Enqueue(7, "a");
        Assert.Equal(0, admission.WaitingCount);
    }
}

public sealed class PodStatusTests
{
    private static V1Pod Pod(string phase, string? waitingReason = null, bool init = false)
    {
        var statuses = waitingReason is null
            ? null
            : new List<V1ContainerStatus> { new() { Name = "build", State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = waitingReason, Message = "details" } } } };
        return new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "p", NamespaceProperty = "ns" },
            Status = new V1PodStatus { Phase = phase, ContainerStatuses = init ? null : statuses, InitContainerStatuses = init ? statuses : null },
        };
    }

    [Theory]
    [InlineData("Running", null, false, "running", null)]
    [InlineData("Running", "ContainerCreating", false, "waiting", null)] // a container not ready yet
    [InlineData("Pending", null, false, "waiting", null)]
    [InlineData("Pending", "ContainerCreating", false, "waiting", null)]
    [InlineData("Pending", "ErrImagePull", false, "failed", FailureReasons.ImagePullFailure)]
    [InlineData("Pending", "ImagePullBackOff", true, "failed", FailureReasons.ImagePullFailure)]
    [InlineData("Pending", "InvalidImageName", false, "failed", FailureReasons.ImagePullFailure)]
    [InlineData("Pending", "CreateContainerConfigError", false, "failed", FailureReasons.RunnerConfigurationError)]
    [InlineData("Succeeded", null, false, "failed", FailureReasons.RunnerSystemFailure)]
    [InlineData("Failed", null, false, "failed", FailureReasons.RunnerSystemFailure)]
    public void Judges_the_pod_as_GitLab_Runner_waits_for_it(string phase, string? waitingReason, bool init, string verdict, string? reason)
    {
        var judged = PodStatus.Judge(Pod(phase, waitingReason, init));

        Assert.Equal(verdict, judged switch
        {
            PodVerdict.Running => "running",
            PodVerdict.Waiting => "waiting",
            PodVerdict.Failed => "failed",
            _ => "?",
        });
        Assert.Equal(reason, (judged as PodVerdict.Failed)?.FailureReason);
    }

    [Fact]
    public void A_pod_that_is_gone_is_a_system_failure()
    {
        Assert.Equal(FailureReasons.RunnerSystemFailure, Assert.IsType<PodVerdict.Failed>(PodStatus.Judge(null)).FailureReason);
    }

    [Fact]
    public void The_waiting_line_names_the_pod_its_phase_unmet_conditions_and_waiting_containers()
    {
        var pod = Pod("Pending", "ContainerCreating");
        pod.Status.Conditions =
        [
            new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "no nodes" },
            new V1PodCondition { Type = "Ready", Status = "False", Reason = "ContainersNotReady", Message = "unready: [build]" },
            new V1PodCondition { Type = "ContainersReady", Status = "False", Reason = "ContainersNotReady", Message = "unready: [build]" },
            new V1PodCondition { Type = "Initialized", Status = "True" },
        ];

        Assert.Equal("Waiting for pod ns/p to be running, status is Pending\n\tUnschedulable: \"no nodes\"\n" +
                     "\tContainersNotReady: \"unready: [build]\"\n\tcontainer build: ContainerCreating: \"details\"\n",
            PodStatus.WaitingLine(pod));
    }

    [Theory]
    [InlineData(3600, "1h0m0s")]
    [InlineData(5400, "1h30m0s")]
    [InlineData(60, "1m0s")]
    [InlineData(90, "1m30s")]
    [InlineData(45, "45s")]
    public void Durations_are_printed_as_GitLab_Runner_prints_them(int seconds, string expected)
    {
        Assert.Equal(expected, JobActor.Format(TimeSpan.FromSeconds(seconds)));
    }
}
