using System.IO.Compression;
using k8s;
using Scheduler.Exec;
using Scheduler.LocalCluster;
using Scheduler.Messages.Protocol;

namespace Scheduler.EndToEnd.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ExecEndToEndTests(ClusterFixture cluster)
{
    private readonly JobHarness _harness = new(cluster);

    private static void AssertState(JobState expected, JobRun run) =>
        Assert.True(run.Result.State == expected, $"expected {expected}, got {run.Result}\n--- trace ---\n{run.Trace}");

    private async Task AssertNoPodLeftAsync()
    {
        using var client = new k8s.Kubernetes(cluster.Server.ClientConfiguration());
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await client.CoreV1.ListNamespacedPodAsync("default")).Items.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        Assert.Empty((await client.CoreV1.ListNamespacedPodAsync("default")).Items);
    }

    [Fact]
    public async Task A_successful_job_runs_its_scripts_in_the_clone_and_deletes_its_pod()
    {
        var run = await _harness.RunAsync("""
            variables: { GREETING: hello-e2e }
            build:
              stage: build
              before_script: [echo "before $GREETING"]
              script:
                - cat hello.txt
                - echo "job $CI_JOB_NAME at $CI_COMMIT_SHA"
              after_script: [echo after-script-ran]
            """, "build");

        AssertState(JobState.Success, run);
        Assert.Contains("before hello-e2e", run.Trace);
        Assert.Contains("hello from the repository", run.Trace);
        Assert.Contains($"job build at {cluster.Repository.Sha}", run.Trace);
        Assert.Contains("after-script-ran", run.Trace);
        Assert.True(run.Trace.IndexOf("hello from the repository", StringComparison.Ordinal) <
                    run.Trace.IndexOf("after-script-ran", StringComparison.Ordinal));
        Assert.Contains("Job succeeded", run.Trace);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_failing_job_reports_exit_code_3_and_still_runs_after_script()
    {
        var run = await _harness.RunAsync("""
            fails:
              script: [echo about-to-fail, exit 3, echo never-printed]
              after_script: [echo after-the-failure]
            """, "fails");

        AssertState(JobState.Failed, run);
        Assert.Equal(3, run.Result.ExitCode);
        Assert.Equal(FailureReasons.ScriptFailure, run.Result.FailureReason);
        Assert.Contains("about-to-fail", run.Trace);
        Assert.DoesNotContain("never-printed", run.Trace.Replace("$ echo never-printed", ""));
        Assert.Contains("after-the-failure", run.Trace);
        Assert.Contains("exit code 3", run.Trace);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task Canceling_stops_the_script_runs_after_script_and_deletes_the_pod()
    {
        var run = await _harness.RunAsync("""
            long:
              script: [echo started-sleeping, sleep 60, echo never-reached]
              after_script: [echo after-the-cancel]
            """, "long", cancelWhenTraceHas: "started-sleeping\n");

        AssertState(JobState.Canceled, run);
        Assert.Contains("after-the-cancel", run.Trace);
        Assert.DoesNotContain("never-reached\n", run.Trace);
        await AssertNoPodLeftAsync();
    }

    [Fact]
    public async Task A_service_container_is_reached_on_localhost()
    {
        var port = Random.Shared.Next(20000, 40000);
        var run = await _harness.RunAsync($$"""
            web:
              services:
                - name: python:3
                  alias: web
                  entrypoint: [python3]
                  command: ["-c", "import http.server as h; h.HTTPServer(('127.0.0.1', {{port}}), type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: (s.send_response(200), s.end_headers(), s.wfile.write(b'service-says-hi'))})).serve_forever()"]
              script:
                - for i in $(seq 1 100); do python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{{port}}/').read().decode())" && break; sleep 0.2; done
            """, "web");

        AssertState(JobState.Success, run);
        Assert.Contains("service-says-hi", run.Trace.Replace("$ for i", ""));
    }

    [Fact]
    public async Task Configured_volumes_appear_at_their_mount_paths()
    {
        var hostDir = cluster.NewDirectory("hostpath");
        await File.WriteAllTextAsync(Path.Combine(hostDir, "input.txt"), "from-the-host-path\n");
        var config = JobHarness.Config($"""
            [[runners.kubernetes.volumes.host_path]]
            name = "data"
            mount_path = "/mnt/data"
            host_path = "{hostDir}"
            [[runners.kubernetes.volumes.empty_dir]]
            name = "scratch"
            mount_path = "/mnt/scratch"
            """);

        var run = await _harness.RunAsync("""
            volumes:
              script:
                - cat /mnt/data/input.txt
                - echo written-by-the-job > /mnt/data/output.txt
                - echo scratch > /mnt/scratch/file && cat /mnt/scratch/file
            """, "volumes", config);

        AssertState(JobState.Success, run);
        Assert.Contains("from-the-host-path", run.Trace);
        Assert.Equal("written-by-the-job\n", await File.ReadAllTextAsync(Path.Combine(hostDir, "output.txt")));
    }

    [Fact]
    public async Task A_cache_saved_by_one_job_is_restored_by_the_next()
    {
        var cacheDir = cluster.NewDirectory("cache");
        var config = JobHarness.Config($"""
            [[runners.kubernetes.volumes.host_path]]
            name = "cache"
            mount_path = "/cache"
            host_path = "{cacheDir}"
            """);
        var marker = Guid.NewGuid().ToString("N");

        var first = await _harness.RunAsync($$"""
            produce:
              cache: { key: e2e, paths: [deps/], policy: push }
              script: [mkdir -p deps, echo {{marker}} > deps/value]
            """, "produce", config);
        var second = await _harness.RunAsync("""
            consume:
              cache: { key: e2e, paths: [deps/], policy: pull }
              script: [cat deps/value]
            """, "consume", config);

        AssertState(JobState.Success, first);
        Assert.NotEmpty(Directory.EnumerateFiles(cacheDir, "*", SearchOption.AllDirectories));
        AssertState(JobState.Success, second);
        Assert.Contains(marker, second.Trace.Replace($"echo {marker}", ""));
    }

    [Fact]
    public async Task Artifacts_land_in_the_artifacts_directory()
    {
        var artifactsDir = cluster.NewDirectory("artifacts");
        var run = await _harness.RunAsync("""
            package:
              script: [mkdir -p out, echo artifact-content > out/result.txt, echo not-kept > other.txt]
              artifacts: { name: result, paths: [out/] }
            """, "package", artifactsDir: artifactsDir);

        AssertState(JobState.Success, run);
        var archive = Assert.Single(Directory.GetFiles(artifactsDir));
        using var zip = ZipFile.OpenRead(archive);
        var entry = Assert.Single(zip.Entries, e => e.FullName.TrimStart('/') == "out/result.txt");
        using var reader = new StreamReader(entry.Open());
        Assert.Equal("artifact-content\n", await reader.ReadToEndAsync());
        Assert.DoesNotContain(zip.Entries, e => e.FullName.EndsWith("other.txt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_masked_variable_appears_only_as_MASKED()
    {
        const string secret = "s3cr3t-value-for-e2e";
        var run = await _harness.RunAsync("""
            leak:
              script:
                - echo "the secret is $SECRET_VALUE"
                - echo "$CI_JOB_TOKEN"
            """, "leak", flags: [new ExecVariableFlag("SECRET_VALUE", secret, Masked: true)]);

        AssertState(JobState.Success, run);
        Assert.Contains("the secret is [MASKED]", run.Trace);
        Assert.DoesNotContain(secret, run.Trace);
        Assert.DoesNotContain(run.Job.Token, run.Trace);
    }

    [Fact]
    public async Task A_job_whose_exec_streams_are_cut_still_ends_with_its_full_output()
    {
        const int lines = 400;
        try
        {
            // Every exec connection (log reader, stage waits) is dropped 1.2 s after it opens while the build prints for
            // about 4 s: the log is read in several attaches, each resuming at the byte offset already received.
            var run = await _harness.RunAsync($$"""
                chatty:
                  script:
                    - i=1; while [ $i -le {{lines}} ]; do echo "line-$i-of-the-build"; if [ $((i % 50)) -eq 0 ]; then sleep 0.5; fi; i=$((i+1)); done
                    - exit 3
                """, "chatty", onStart: _ => cluster.Server.Faults = new FaultSettings { ExecDropAfter = TimeSpan.FromMilliseconds(1200) });

            AssertState(JobState.Failed, run);
            Assert.Equal(3, run.Result.ExitCode);
            for (var i = 1; i <= lines; i++)
            {
                var line = $"\nline-{i}-of-the-build\n";
                var first = run.Trace.IndexOf(line, StringComparison.Ordinal);
                Assert.True(first >= 0, $"missing {line.Trim()}\n--- trace ---\n{run.Trace}");
                Assert.Equal(-1, run.Trace.IndexOf(line, first + 1, StringComparison.Ordinal));
            }
        }
        finally
        {
            cluster.Server.Faults = FaultSettings.None;
        }
    }
}
