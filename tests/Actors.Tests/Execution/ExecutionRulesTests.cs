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

    [Theory]
    // The job Secret is created just after the pod: kubelet's wait for it is expected once the pod ran (its words with the
    // Watch strategy, with Cache/Get, and the embedded cluster's).
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"scripts\" : secret \"job-1-secret\" not found", true, true)]
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"scripts\" : secrets \"job-1-secret\" not found", true, true)]
    [InlineData("FailedMount", "secret \"job-1-secret\" not found", true, true)]
    // A pod that never ran: the same wait may be why, so it stays in the trace.
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"scripts\" : secret \"job-1-secret\" not found", false, false)]
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"scripts\" : secrets \"job-1-secret\" not found", false, false)]
    // Anything else is for the trace: another Secret, another mount failure, another reason.
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"creds\" : secret \"operator-made\" not found", true, false)]
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"creds\" : secrets \"operator-made\" not found", true, false)]
    [InlineData("FailedMount", "secret \"job-1-secret-old\" not found", true, false)]
    [InlineData("FailedMount", "secrets \"job-1-secret-old\" not found", true, false)]
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"data\" : configmap \"job-1-secret\" not found", true, false)]
    [InlineData("FailedMount", "MountVolume.SetUp failed for volume \"data\" : configmaps \"job-1-secret\" not found", true, false)]
    [InlineData("FailedMount", "Unable to attach or mount volumes: timed out waiting for the condition", true, false)]
    [InlineData("Failed", "secret \"job-1-secret\" not found", true, false)]
    [InlineData("FailedMount", null, true, false)]
    public void Only_the_wait_for_the_job_secret_of_a_pod_that_ran_is_an_expected_mount_failure(string reason, string? message,
        bool podReachedRunning, bool expected)
    {
        var warning = new Corev1Event { Type = "Warning", Reason = reason, Message = message };

        Assert.Equal(expected, PodStatus.IsJobSecretMountWait(warning, "job-1-secret", podReachedRunning));
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

public sealed class AdmissionAdoptionTests
{
    [Theory]
    // concurrent, jobs running before, adopted concurrent id → running after adoption
    [InlineData(1, 1, 5, 2)]   // beyond concurrent: adopted anyway
    [InlineData(2, 0, 0, 1)]
    [InlineData(1, 0, 3, 1)]
    public void An_adopted_job_counts_as_running_at_once_with_its_own_concurrent_id(int concurrent, int runningBefore, int concurrentId,
        int runningAfter)
    {
        var admission = new Admission(concurrent, new Dictionary<string, int> { ["a"] = 1 });
        for (var i = 0; i < runningBefore; i++)
        {
            admission.Enqueue(100 + i, "a");
        }

        admission.AdmitAll();

        Assert.True(admission.Adopt(7, "a", concurrentId));

        Assert.Equal(runningAfter, admission.RunningCount);
        Assert.Equal(runningAfter, admission.RunningPerRunner()["a"]);
    }

    [Fact]
    public void An_adopted_job_keeps_its_concurrent_id_from_new_admissions_and_holds_a_slot()
    {
        var admission = new Admission(3, new Dictionary<string, int>());
        Assert.True(admission.Adopt(7, "a", 0));
        admission.Enqueue(8, "a");
        admission.Enqueue(9, "b");

        Assert.Equal([(8L, "a", 1), (9L, "b", 0)], admission.AdmitAll());
        admission.Enqueue(10, "a");
        Assert.Empty(admission.AdmitAll());
    }

    [Fact]
    public void A_job_already_known_is_not_adopted_twice()
    {
        var admission = new Admission(2, new Dictionary<string, int>());
        admission.Enqueue(7, "a");

        Assert.False(admission.Adopt(7, "a", 4));
        admission.AdmitAll();
        Assert.False(admission.Adopt(7, "a", 4));
        Assert.Equal(1, admission.RunningCount);
    }

    [Theory]
    // concurrent before, after, limit of "a" after, waiting jobs → admitted after the update
    [InlineData(1, 3, 0, 3, 2)]
    [InlineData(1, 3, 2, 3, 1)]
    [InlineData(2, 1, 0, 2, 0)]   // lowered: running jobs stay, no new one
    public void New_limits_bound_new_admissions(int before, int after, int limitAfter, int waiting, int admittedAfter)
    {
        var admission = new Admission(before, new Dictionary<string, int>());
        for (var i = 0; i < waiting + 1; i++)
        {
            admission.Enqueue(i, "a");
        }

        var first = admission.AdmitAll().Count;

        admission.UpdateLimits(after, new Dictionary<string, int> { ["a"] = limitAfter });

        Assert.Equal(admittedAfter, admission.AdmitAll().Count);
        Assert.Equal(first + admittedAfter, admission.RunningCount);
        Assert.Equal(after < 1 ? 1 : after, admission.Concurrent);
    }
}

public sealed class PodOwnershipTests
{
    private static V1Pod Pod(string? owner, string resourceVersion = "5") => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = "p",
            ResourceVersion = resourceVersion,
            Annotations = owner is null ? null : new Dictionary<string, string> { [Scheduler.Actors.Pods.PodMetadata.OwnerAnnotation] = owner },
        },
    };

    [Theory]
    [InlineData("node-a", "Owned")]
    [InlineData("node-b", "OtherOwner")]
    [InlineData(null, "OtherOwner")]
    public void A_pod_is_owned_only_when_it_names_this_node(string? owner, string verdict)
    {
        Assert.Equal(verdict, PodOwnership.Judge(Pod(owner), "node-a").GetType().Name);
    }

    [Fact]
    public void A_missing_pod_is_gone()
    {
        Assert.IsType<OwnerVerdict.Gone>(PodOwnership.Judge(null, "node-a"));
        Assert.Equal(new OwnerVerdict.OtherOwner("node-b"), PodOwnership.Judge(Pod("node-b"), "node-a"));
    }

    [Theory]
    [InlineData("4", "5", true)]
    [InlineData("5", "5", true)]
    [InlineData("6", "5", false)]
    [InlineData("abc", "5", false)]   // opaque: not known to be older
    [InlineData("4", null, false)]
    [InlineData(null, "5", false)]
    public void Only_a_watch_event_known_to_lag_is_ignored(string? eventVersion, string? known, bool notNewer)
    {
        Assert.Equal(notNewer, PodOwnership.IsNotNewer(eventVersion, known));
    }

    [Theory]
    [InlineData("node-a", "host-1")]
    [InlineData(null, "host-2")]
    public void Stamp_sets_started_via_always_and_the_owner_only_in_a_fleet(string? ownerId, string startedVia)
    {
        var pod = new V1Pod { Metadata = new V1ObjectMeta { Name = "p", Annotations = new Dictionary<string, string> { ["keep"] = "me" } } };

        PodOwnership.Stamp(pod, ownerId, startedVia);

        Assert.Equal(startedVia, pod.Metadata.Annotations[Scheduler.Actors.Pods.PodMetadata.StartedViaAnnotation]);
        Assert.Equal(ownerId, PodOwnership.OwnerOf(pod));
        Assert.Equal("me", pod.Metadata.Annotations["keep"]);
    }
}
