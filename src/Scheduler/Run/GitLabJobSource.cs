using Scheduler.Actors.Intake;
using Scheduler.GitLab;
using Scheduler.Messages.Settings;

namespace Scheduler.Run;

/// <summary>
/// The job source of one runner entry: <c>POST /jobs/request</c>, and on a 201 the two-phase commit's <c>PUT state=running</c>
/// before the job is handed on. Keeps <c>X-GitLab-Last-Update</c> and the count of consecutive retries for the backoff.
/// The intake may have up to <c>request_concurrency</c> calls in flight at once, so both are updated atomically.
/// </summary>
public sealed class GitLabJobSource(GitLabClient client, RunnerEntry runner) : IJobSource
{
    private string? _lastUpdate;
    private int _retries;

    public async Task<JobRequestOutcome> RequestJobAsync(CancellationToken ct)
    {
        var result = await client.RequestJobAsync(runner.Token, Volatile.Read(ref _lastUpdate), ct);
        if (result is not RequestJobResult.Retry)
        {
            Interlocked.Exchange(ref _retries, 0);
        }

        switch (result)
        {
            case RequestJobResult.Received received:
                RememberLastUpdate(received.LastUpdate);
                return await AcknowledgeAsync(received, ct);
            case RequestJobResult.NoJob noJob:
                RememberLastUpdate(noJob.LastUpdate);
                return new JobRequestOutcome.NoJob();
            case RequestJobResult.Forbidden forbidden:
                return new JobRequestOutcome.Forbidden(forbidden.Message);
            case RequestJobResult.Retry retry:
                var retries = Interlocked.Increment(ref _retries);
                return new JobRequestOutcome.Retry(retry.Delay(retries), $"{retry.StatusCode}: {retry.Message}")
                {
                    Unhealthy = retry.StatusCode == 0, // no answer at all: GitLab Runner's client error
                };
            case RequestJobResult.Failed failed:
                return new JobRequestOutcome.Failed($"{failed.StatusCode}: {failed.Message}");
            default:
                return new JobRequestOutcome.Failed("unexpected answer");
        }
    }

    private void RememberLastUpdate(string? lastUpdate)
    {
        if (lastUpdate is not null)
        {
            Volatile.Write(ref _lastUpdate, lastUpdate);
        }
    }

    // Two-phase commit: GitLab holds the job for this runner only once it is told the job is running. A short retry
    // covers a transient failure; a refusal means GitLab gave the job up (canceled, or picked by another runner). With no
    // answer after the retries the job is run anyway: GitLab handed it to this runner (its request succeeded), so dropping
    // it would leave it running there until it times out as stuck; the trace and the final update carry on with their own
    // retries, and a refusal then stops the job.
    private async Task<JobRequestOutcome> AcknowledgeAsync(RequestJobResult.Received received, CancellationToken ct)
    {
        var job = received.Job;
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var update = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running), ct);
            switch (update.Outcome)
            {
                case UpdateOutcome.Accepted:
                case UpdateOutcome.TryAgain:
                    return new JobRequestOutcome.Received(job);
                case UpdateOutcome.Abort:
                    return new JobRequestOutcome.Failed($"job {job.Id} was refused on start ({update.StatusCode}); not run");
            }

            await Task.Delay(Backoff.Delay(attempt, null), ct);
        }

        return new JobRequestOutcome.Received(job);
    }
}
