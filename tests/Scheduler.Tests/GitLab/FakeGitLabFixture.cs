using Scheduler.FakeGitLab;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;
using Scheduler.Metrics;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>A fresh fake GitLab per test, a client pointed at it, and the metrics that client counts into.</summary>
public abstract class FakeGitLabTest : IAsyncLifetime
{
    protected FakeGitLabServer GitLab { get; private set; } = null!;
    protected HttpClient Http { get; } = GitLabHttp.CreateClient();
    protected RunnerMetrics Metrics { get; } = new();

    protected static readonly RunnerIdentity Identity = new("1.2.3", "abcdef12", "amd64", "scheduler");

    public async Task InitializeAsync() => GitLab = await FakeGitLabServer.StartAsync();

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await GitLab.DisposeAsync();
    }

    protected GitLabClient Client(IReadOnlyDictionary<string, bool>? features = null, string runnerLabel = "runner1")
    {
        Assert.True(GitLabUrl.TryApiBase(GitLab.Url, out var apiBase, out _));
        return new GitLabClient(Http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab")
        {
            Features = features ?? RunnerFeatures.Advertised,
            Metrics = Metrics,
            MetricsRunner = runnerLabel,
        });
    }

    /// <summary>Queues a job for <paramref name="runnerToken"/>, picks it and acknowledges it, as the runner does right after a 201.</summary>
    protected async Task<JobPayload> StartJobAsync(GitLabClient client, string runnerToken, FakeJobBuilder? job = null)
    {
        GitLab.EnqueueJob(runnerToken, job);
        var received = Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runnerToken, null));
        var ack = await client.UpdateJobAsync(received.Job.Id, received.Job.Token, new JobUpdate(JobState.Running));
        Assert.Equal(UpdateOutcome.Accepted, ack.Outcome);
        return received.Job;
    }

    /// <summary>Sends <paramref name="trace"/> the way a trace sink does: from the confirmed offset, at most 1 MiB per
    /// patch, following 416 answers and retrying failed patches. Returns the final state and the patches sent.</summary>
    protected static async Task<(TraceUploadState State, List<PatchTraceResult> Results)> UploadTraceAsync(GitLabClient client, JobPayload job,
        byte[] trace, int maxPatches = 100)
    {
        var state = TraceUploadState.Start;
        var results = new List<PatchTraceResult>();
        while (state.Next(trace.Length) is { } patch && results.Count < maxPatches)
        {
            var result = await client.PatchTraceAsync(job.Id, job.Token, patch.Start, trace.AsMemory((int)patch.Start, patch.Length));
            results.Add(result);
            state = result.Outcome switch
            {
                PatchOutcome.Accepted => state.Accepted(patch),
                PatchOutcome.RangeMismatch => state.RangeMismatch(result.Offset!.Value),
                PatchOutcome.Failed => state,
                _ => throw new InvalidOperationException($"unexpected {result.Outcome}"),
            };
        }

        return (state, results);
    }
}
