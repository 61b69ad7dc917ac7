using System.Text.Json.Nodes;
using Scheduler.FakeGitLab;
using Scheduler.GitLab;

namespace Scheduler.Scheduler.Tests.GitLab;

public sealed class GitLabClientTests : FakeGitLabTest
{
    [Fact]
    public async Task Request_job_201_returns_the_parsed_job_and_sends_what_the_runner_is()
    {
        var runner = GitLab.AddRunner();
        var queued = GitLab.EnqueueJob(runner, new FakeJobBuilder().Name("build").Script("make").Variable("SECRET", "hunter2", masked: true));

        var result = await Client().RequestJobAsync(runner, null);

        var received = Assert.IsType<RequestJobResult.Received>(result);
        Assert.Equal(queued.Id, received.Job.Id);
        Assert.Equal(queued.Token, received.Job.Token);
        Assert.Equal("build", received.Job.JobInfo.Name);
        Assert.Contains(received.Job.Variables, v => v.Key == "SECRET" && v.Masked);
        var request = Assert.Single(GitLab.RequestsTo(FakeEndpoint.RequestJob));
        var body = JsonNode.Parse(request.BodyText)!;
        Assert.Equal(runner, body["token"]!.GetValue<string>());
        Assert.Equal("s_0123456789ab", body["system_id"]!.GetValue<string>());
        Assert.Equal("kubernetes", body["info"]!["executor"]!.GetValue<string>());
        Assert.Equal(31, body["info"]!["features"]!.AsObject().Count);
        Assert.True(body["info"]!["features"]!["trace_checksum"]!.GetValue<bool>());
        Assert.False(body["info"]!["features"]!["terminal"]!.GetValue<bool>());
        Assert.Equal(runner, request.Header("RUNNER-TOKEN"));
        Assert.Equal("application/json", request.Header("Accept"));
        Assert.StartsWith("scheduler 1.2.3 ", request.Header("User-Agent"));
        // Two-phase commit advertised: the job waits for the ack.
        Assert.True(GitLab.Job(queued.Id)!.AwaitingAck);
    }

    [Fact]
    public async Task Request_job_204_carries_last_update_and_an_unchanged_queue_answers_204_again()
    {
        var runner = GitLab.AddRunner();
        var client = Client();

        var first = Assert.IsType<RequestJobResult.NoJob>(await client.RequestJobAsync(runner, null));
        Assert.NotNull(first.LastUpdate);
        var second = Assert.IsType<RequestJobResult.NoJob>(await client.RequestJobAsync(runner, first.LastUpdate));
        Assert.Equal(first.LastUpdate, second.LastUpdate);
        Assert.Equal(first.LastUpdate, JsonNode.Parse(GitLab.RequestsTo(FakeEndpoint.RequestJob)[1].BodyText)!["last_update"]!.GetValue<string>());

        // A new job changes the queue version, so the same last_update now gets the job.
        GitLab.EnqueueJob(runner);
        Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runner, first.LastUpdate));
    }

    [Fact]
    public async Task Long_poll_holds_an_unchanged_request_until_a_job_arrives_or_it_times_out()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        GitLab.LongPollTimeout = TimeSpan.FromMilliseconds(300);
        var first = Assert.IsType<RequestJobResult.NoJob>(await client.RequestJobAsync(runner, null));

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var timedOut = Assert.IsType<RequestJobResult.NoJob>(await client.RequestJobAsync(runner, first.LastUpdate));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(250), $"answered after {watch.Elapsed}");
        Assert.Null(timedOut.LastUpdate);

        GitLab.LongPollTimeout = TimeSpan.FromSeconds(30);
        var waiting = client.RequestJobAsync(runner, first.LastUpdate);
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        var queued = GitLab.EnqueueJob(runner);
        var received = Assert.IsType<RequestJobResult.Received>(await waiting);
        Assert.Equal(queued.Id, received.Job.Id);
    }

    [Fact]
    public async Task Request_bodies_written_one_after_another_each_carry_only_their_own_json()
    {
        // The body is written into a buffer that the client reuses on the same thread: a short body after a long one must
        // not carry the long one's tail. Each call writes its body before its first await, so these all write on this thread.
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        var sent = Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? new string('x', 5000 + i) : $"short-{i}").ToList();

        var updates = sent.Select(reason => client.UpdateJobAsync(job.Id, job.Token,
            new JobUpdate(JobState.Running, reason, Checksum: reason.Length > 100 ? "crc32:" + reason : null))).ToList();
        await Task.WhenAll(updates);

        var bodies = GitLab.RequestsTo(FakeEndpoint.UpdateJob).Skip(1).Select(r => JsonNode.Parse(r.BodyText)!.AsObject()).ToList();
        Assert.Equal(sent.Order(), bodies.Select(b => b["failure_reason"]!.GetValue<string>()).Order());
        Assert.All(bodies, body =>
        {
            var reason = body["failure_reason"]!.GetValue<string>();
            Assert.Equal(reason.Length > 100, body.ContainsKey("checksum"));
            Assert.Equal(job.Token, body["token"]!.GetValue<string>());
            Assert.Equal("kubernetes", body["info"]!["executor"]!.GetValue<string>());
        });
    }

    [Theory]
    [InlineData("{\"id\": 5")]
    [InlineData("[]")]
    [InlineData("{\"id\": 0, \"token\": \"t\"}")]
    [InlineData("{\"id\": 5, \"token\": \"t\", \"variables\": [null]}")]
    public async Task Request_job_with_a_damaged_201_body_fails_without_throwing(string json)
    {
        var runner = GitLab.AddRunner();
        GitLab.EnqueueRawJob(runner, json);

        var failed = Assert.IsType<RequestJobResult.Failed>(await Client().RequestJobAsync(runner, null));

        Assert.Equal(201, failed.StatusCode);
        Assert.StartsWith("GitLab sent a job that cannot be read: ", failed.Message);
    }

    [Theory]
    [InlineData(400, RunnerCallOutcome.Rejected)]
    [InlineData(422, RunnerCallOutcome.Rejected)]
    [InlineData(410, RunnerCallOutcome.Gone)]
    [InlineData(429, RunnerCallOutcome.Failed)]
    [InlineData(500, RunnerCallOutcome.Failed)]
    public async Task Register_and_verify_errors_map_to_outcomes_with_gitlabs_message(int status, RunnerCallOutcome expected)
    {
        GitLab.AddRegistrationToken("reg");
        var token = GitLab.AddRunner();
        GitLab.InjectFault(FakeEndpoint.Register, status);
        GitLab.InjectFault(FakeEndpoint.Verify, status);

        var register = await Client().RegisterAsync(new RegistrationRequest("reg", "r", []));
        var verify = await Client().VerifyAsync(token);

        Assert.Equal((expected, status), (register.Outcome, register.StatusCode));
        Assert.Equal((expected, status), (verify.Outcome, verify.StatusCode));
        Assert.EndsWith($"(HTTP {status}): {status} injected fault", register.Message);
        Assert.Null(register.Credentials);
    }

    [Fact]
    public async Task Request_job_with_an_unknown_token_is_forbidden()
    {
        var result = await Client().RequestJobAsync("not-a-runner", null);

        var forbidden = Assert.IsType<RequestJobResult.Forbidden>(result);
        Assert.Contains("403", forbidden.Message);
        Assert.DoesNotContain("not-a-runner", forbidden.Message);
    }

    [Theory]
    [InlineData(429, 17)]
    [InlineData(409, null)]
    [InlineData(500, null)]
    [InlineData(502, null)]
    [InlineData(503, 5)]
    public async Task Request_job_429_409_and_5xx_ask_to_retry_with_retry_after(int status, int? retryAfterSeconds)
    {
        var runner = GitLab.AddRunner();
        GitLab.EnqueueJob(runner);
        GitLab.InjectFault(FakeEndpoint.RequestJob, status, retryAfterSeconds: retryAfterSeconds);
        var client = Client();

        var retry = Assert.IsType<RequestJobResult.Retry>(await client.RequestJobAsync(runner, null));

        Assert.Equal(status, retry.StatusCode);
        Assert.Equal(retryAfterSeconds is { } s ? TimeSpan.FromSeconds(s) : null, retry.RetryAfter);
        var delay = retry.Delay(3);
        Assert.True(retryAfterSeconds is { } wait ? delay == TimeSpan.FromSeconds(wait) : delay >= TimeSpan.FromMilliseconds(200) && delay <= TimeSpan.FromMilliseconds(400),
            $"delay {delay}");
        // The fault was one answer; the job is still there.
        Assert.IsType<RequestJobResult.Received>(await client.RequestJobAsync(runner, null));
    }

    [Fact]
    public async Task Request_job_to_a_closed_port_is_a_network_retry()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Assert.True(GitLabUrl.TryApiBase($"http://127.0.0.1:{port}", out var apiBase, out _));
        var client = new GitLabClient(Http, apiBase, new GitLabClientOptions(Identity, "s_0123456789ab") { Metrics = Metrics, MetricsRunner = "r" });

        var retry = Assert.IsType<RequestJobResult.Retry>(await client.RequestJobAsync("token", null));

        Assert.Equal(0, retry.StatusCode);
        Assert.StartsWith("network error", retry.Message);
        Assert.Contains("gitlab_runner_api_request_statuses_total{runner=\"r\",endpoint=\"request_job\",status=\"error\",method=\"POST\"} 1",
            await Metrics.ExportTextAsync());
    }

    [Fact]
    public async Task Job_needing_a_feature_the_runner_lacks_is_dropped_as_runner_unsupported()
    {
        var runner = GitLab.AddRunner();
        var job = GitLab.EnqueueJob(runner, new FakeJobBuilder().RequiresFeature("vault_secrets"));

        Assert.IsType<RequestJobResult.NoJob>(await Client().RequestJobAsync(runner, null));
        Assert.Equal("failed", job.Status);
        Assert.Equal("runner_unsupported", job.FailureReason);
    }

    [Fact]
    public async Task Update_job_success_is_accepted_with_job_status()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        Assert.Equal("running", GitLab.Job(job.Id)!.Status);

        var result = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Success, Checksum: "crc32:00000000", ByteSize: 0));

        Assert.Equal(UpdateOutcome.Accepted, result.Outcome);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal("success", result.JobStatus);
        Assert.Equal("success", GitLab.Job(job.Id)!.Status);
        Assert.Equal("crc32:00000000", GitLab.Job(job.Id)!.Checksum);
        var put = GitLab.RequestsTo(FakeEndpoint.UpdateJob)[^1];
        Assert.Equal(job.Token, put.Header("JOB-TOKEN"));
        Assert.Null(put.Header("Accept"));
        Assert.Null(JsonNode.Parse(put.BodyText)!["exit_code"]);
    }

    [Theory]
    [InlineData("script_failure", 2, "script_failure", 2)]
    [InlineData("job_canceled", 1, "unknown_failure", 1)]
    [InlineData(null, 0, "unknown_failure", null)]
    public async Task Update_job_failed_stores_failure_reason_and_exit_code(string? reason, int exitCode, string storedReason, int? storedExitCode)
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);

        var result = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Failed, reason, exitCode));

        Assert.Equal((UpdateOutcome.Accepted, 200, "failed"), (result.Outcome, result.StatusCode, result.JobStatus));
        Assert.Equal("failed", GitLab.Job(job.Id)!.Status);
        Assert.Equal(storedReason, GitLab.Job(job.Id)!.FailureReason);
        Assert.Equal(storedExitCode, GitLab.Job(job.Id)!.ExitCode);
    }

    [Fact]
    public async Task Final_update_202_says_try_again_after_the_interval_then_200()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        GitLab.DeferFinalUpdate(job.Id, 1);

        var first = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Success));
        var second = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Success));

        Assert.Equal((UpdateOutcome.TryAgain, 202, "running"), (first.Outcome, first.StatusCode, first.JobStatus));
        Assert.Equal(TimeSpan.FromSeconds(1), first.UpdateInterval);
        Assert.Equal(UpdateOutcome.Accepted, second.Outcome);
        Assert.Equal(["running", "success", "success"], GitLab.Job(job.Id)!.Updates);
    }

    [Fact]
    public async Task Update_with_a_wrong_token_or_of_a_finished_job_is_forbidden_and_aborts()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);

        var wrongToken = await client.UpdateJobAsync(job.Id, "wrong", new JobUpdate(JobState.Running));
        Assert.Equal((UpdateOutcome.Abort, 403), (wrongToken.Outcome, wrongToken.StatusCode));

        await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Success));
        var afterEnd = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running));
        Assert.Equal((UpdateOutcome.Abort, 403, "success"), (afterEnd.Outcome, afterEnd.StatusCode, afterEnd.JobStatus));
    }

    [Fact]
    public async Task Without_two_phase_commit_the_job_runs_at_once()
    {
        var features = new Dictionary<string, bool>(RunnerFeatures.Advertised) { ["two_phase_job_commit"] = false };
        var runner = GitLab.AddRunner();
        var queued = GitLab.EnqueueJob(runner);

        Assert.IsType<RequestJobResult.Received>(await Client(features).RequestJobAsync(runner, null));

        Assert.Equal("running", queued.Status);
        Assert.False(queued.AwaitingAck);
    }

    [Fact]
    public async Task Trace_patches_arrive_in_order_and_keep_alive_reports_running()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);

        var first = await client.PatchTraceAsync(job.Id, job.Token, 0, "hello "u8.ToArray());
        var second = await client.PatchTraceAsync(job.Id, job.Token, 6, "world\n"u8.ToArray());

        Assert.Equal((PatchOutcome.Accepted, 6L, "running"), (first.Outcome, first.Offset, first.JobStatus));
        Assert.Equal((PatchOutcome.Accepted, 12L), (second.Outcome, second.Offset));
        Assert.Equal(TimeSpan.FromSeconds(1), second.UpdateInterval);
        Assert.Equal("hello world\n", GitLab.Job(job.Id)!.TraceText());
        var patch = GitLab.RequestsTo(FakeEndpoint.PatchTrace)[1];
        Assert.Equal("6-11", patch.Header("Content-Range"));
        Assert.Equal(job.Token, patch.Header("JOB-TOKEN"));
        Assert.Equal("?debug_trace=false", patch.Query);
    }

    [Fact]
    public async Task A_trace_of_several_MiB_arrives_intact_in_patches_of_at_most_1_MiB()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        var trace = new byte[(3 * 1024 * 1024) + 12345];
        new Random(42).NextBytes(trace);

        var (state, results) = await UploadTraceAsync(client, job, trace);

        Assert.True(state.IsComplete(trace.Length));
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.Equal(PatchOutcome.Accepted, r.Outcome));
        Assert.All(GitLab.RequestsTo(FakeEndpoint.PatchTrace), r => Assert.True(r.Body.Length <= TraceUploadState.MaxPatchBytes));
        Assert.Equal(trace, GitLab.Job(job.Id)!.TraceBytes());
        var checksum = TraceChecksum.Of(trace);
        var final = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Success, Checksum: checksum, ByteSize: trace.Length));
        Assert.Equal(UpdateOutcome.Accepted, final.Outcome);
        Assert.Equal(checksum, GitLab.Job(job.Id)!.Checksum);
    }

    [Fact]
    public async Task A_lost_answer_mid_trace_is_recovered_through_416_with_no_gap_or_duplicate()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        var trace = new byte[(2 * 1024 * 1024) + 100];
        new Random(7).NextBytes(trace);
        await client.PatchTraceAsync(job.Id, job.Token, 0, trace.AsMemory(0, 1000));
        // GitLab stores the next patch but its answer is lost: the runner sees a 502 and sends the same range again.
        GitLab.InjectFault(FakeEndpoint.PatchTrace, 502, applyBeforeFailing: true);

        var state = new TraceUploadState(1000);
        var results = new List<PatchTraceResult>();
        while (state.Next(trace.Length) is { } patch)
        {
            var result = await client.PatchTraceAsync(job.Id, job.Token, patch.Start, trace.AsMemory((int)patch.Start, patch.Length));
            results.Add(result);
            state = result.Outcome switch
            {
                PatchOutcome.Accepted => state.Accepted(patch),
                PatchOutcome.RangeMismatch => state.RangeMismatch(result.Offset!.Value),
                _ => state,
            };
        }

        Assert.Equal([PatchOutcome.Failed, PatchOutcome.RangeMismatch, PatchOutcome.Accepted],
            results.Select(r => r.Outcome));
        Assert.Equal(1000 + TraceUploadState.MaxPatchBytes, results[1].Offset);
        Assert.Equal(trace, GitLab.Job(job.Id)!.TraceBytes());
    }

    [Theory]
    [InlineData(5, 3, 3)]
    [InlineData(0, 3, 3)]
    public async Task A_patch_at_the_wrong_offset_gets_416_with_the_size_held(long start, long held, long expectedOffset)
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        await client.PatchTraceAsync(job.Id, job.Token, 0, "abc"u8.ToArray());

        var result = await client.PatchTraceAsync(job.Id, job.Token, start, "xyz"u8.ToArray());

        Assert.Equal((PatchOutcome.RangeMismatch, 416, (long?)expectedOffset), (result.Outcome, result.StatusCode, result.Offset));
        Assert.Equal(held, GitLab.Job(job.Id)!.TraceBytes().Length);
    }

    [Fact]
    public async Task Graceful_cancellation_is_seen_as_canceling_and_ends_canceled()
    {
        Assert.True(RunnerFeatures.Advertised["cancel_gracefully"]);
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);

        GitLab.CancelJob(job.Id);
        var patch = await client.PatchTraceAsync(job.Id, job.Token, 0, "still running\n"u8.ToArray());
        var keepAlive = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running));
        var final = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Failed, "job_canceled", 1));

        Assert.Equal(PatchOutcome.Accepted, patch.Outcome);
        Assert.True(patch.CancelRequested);
        Assert.True(keepAlive.CancelRequested);
        Assert.Equal(UpdateOutcome.Accepted, keepAlive.Outcome);
        Assert.Equal((UpdateOutcome.Accepted, "canceled"), (final.Outcome, final.JobStatus));
        var afterEnd = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running));
        Assert.Equal((UpdateOutcome.Abort, 403, "canceled"), (afterEnd.Outcome, afterEnd.StatusCode, afterEnd.JobStatus));
        Assert.Equal("canceled", GitLab.Job(job.Id)!.Status);
    }

    [Fact]
    public async Task Cancellation_without_graceful_support_aborts_the_trace_with_403()
    {
        var features = new Dictionary<string, bool>(RunnerFeatures.Advertised) { ["cancel_gracefully"] = false };
        var runner = GitLab.AddRunner();
        var client = Client(features);
        var job = await StartJobAsync(client, runner);

        GitLab.CancelJob(job.Id);
        var patch = await client.PatchTraceAsync(job.Id, job.Token, 0, "output\n"u8.ToArray());

        Assert.Equal((PatchOutcome.Abort, 403, "canceled"), (patch.Outcome, patch.StatusCode, patch.JobStatus));
        Assert.Empty(GitLab.Job(job.Id)!.TraceBytes());
        var keepAlive = await client.UpdateJobAsync(job.Id, job.Token, new JobUpdate(JobState.Running));
        Assert.Equal((UpdateOutcome.Abort, "canceled"), (keepAlive.Outcome, keepAlive.JobStatus));
    }

    [Fact]
    public async Task Artifacts_upload_then_download_through_a_dependent_job()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var producer = await StartJobAsync(client, runner);
        var archive = new byte[200_000];
        new Random(3).NextBytes(archive);

        var upload = await client.UploadArtifactsAsync(producer.Id, producer.Token, new MemoryStream(archive), "artifacts.zip", "zip", "archive", "7d");
        await client.UpdateJobAsync(producer.Id, producer.Token, new JobUpdate(JobState.Success));
        var consumer = await StartJobAsync(client, runner, new FakeJobBuilder().DependsOn(producer.Id));
        var dependency = Assert.Single(consumer.Dependencies);
        var downloaded = new MemoryStream();
        var download = await client.DownloadArtifactsAsync(dependency.Id, dependency.Token, downloaded);

        Assert.Equal(ArtifactsOutcome.Succeeded, upload.Outcome);
        var stored = Assert.Single(GitLab.Job(producer.Id)!.Artifacts);
        Assert.Equal(("artifacts.zip", "zip", "archive", "7d"), (stored.FileName, stored.Format, stored.Type, stored.ExpireIn));
        Assert.Equal("artifacts.zip", dependency.ArtifactsFile!.Filename);
        Assert.Equal(ArtifactsOutcome.Succeeded, download.Outcome);
        Assert.Equal(archive, downloaded.ToArray());
    }

    [Theory]
    [InlineData("", ArtifactsOutcome.Forbidden, 401)]
    [InlineData("wrong", ArtifactsOutcome.Forbidden, 403)]
    public async Task Artifacts_download_without_a_valid_token_is_refused(string token, ArtifactsOutcome expected, int status)
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        await client.UploadArtifactsAsync(job.Id, job.Token, new MemoryStream([1, 2, 3]), "a.zip");

        var result = await client.DownloadArtifactsAsync(job.Id, token, new MemoryStream());

        Assert.Equal((expected, status), (result.Outcome, result.StatusCode));
    }

    [Fact]
    public async Task Artifacts_download_of_a_job_without_artifacts_is_not_found_and_too_large_upload_is_413()
    {
        var runner = GitLab.AddRunner();
        var client = Client();
        var job = await StartJobAsync(client, runner);
        GitLab.MaxArtifactBytes = 10;

        var download = await client.DownloadArtifactsAsync(job.Id, job.Token, new MemoryStream());
        var upload = await client.UploadArtifactsAsync(job.Id, job.Token, new MemoryStream(new byte[11]), "a.zip");

        Assert.Equal(ArtifactsOutcome.NotFound, download.Outcome);
        Assert.Equal((ArtifactsOutcome.TooLarge, 413), (upload.Outcome, upload.StatusCode));
    }

    [Fact]
    public async Task Register_with_a_registration_token_returns_credentials_and_a_bad_one_is_forbidden()
    {
        GitLab.AddRegistrationToken("GR1348941reg");
        var client = Client();

        var registered = await client.RegisterAsync(new RegistrationRequest("GR1348941reg", "my runner", ["k8s", "linux"]));
        var refused = await client.RegisterAsync(new RegistrationRequest("nope", "x", []));

        Assert.Equal(RunnerCallOutcome.Succeeded, registered.Outcome);
        var runner = GitLab.Runner(registered.Credentials!.Token)!;
        Assert.Equal(("my runner", registered.Credentials.Id), (runner.Description, runner.Id));
        Assert.Equal(["k8s", "linux"], runner.TagList);
        Assert.Equal("k8s,linux", JsonNode.Parse(GitLab.RequestsTo(FakeEndpoint.Register)[0].BodyText)!["tag_list"]!.GetValue<string>());
        Assert.Equal((RunnerCallOutcome.Forbidden, 403), (refused.Outcome, refused.StatusCode));
        Assert.DoesNotContain(registered.Credentials.Token, registered.Credentials.ToString());
    }

    [Fact]
    public async Task Register_when_registration_tokens_are_disabled_is_gone()
    {
        GitLab.AddRegistrationToken("reg");
        GitLab.RegistrationTokensEnabled = false;

        var result = await Client().RegisterAsync(new RegistrationRequest("reg", "x", []));

        Assert.Equal((RunnerCallOutcome.Gone, 410), (result.Outcome, result.StatusCode));
    }

    [Theory]
    [InlineData("glrt-t3_abcdefghijklmnopqrst")]
    [InlineData("6337ff461c94fd3fa32b")]
    public async Task Verify_accepts_known_tokens_including_glrt_with_system_id(string token)
    {
        GitLab.AddRunner(token);

        var valid = await Client().VerifyAsync(token);
        var invalid = await Client().VerifyAsync(token + "x");

        Assert.Equal(RunnerCallOutcome.Succeeded, valid.Outcome);
        Assert.Equal(token, valid.Credentials!.Token);
        Assert.Equal("s_0123456789ab", GitLab.Runner(token)!.SystemId);
        Assert.Equal((RunnerCallOutcome.Forbidden, 403), (invalid.Outcome, invalid.StatusCode));
    }
}
