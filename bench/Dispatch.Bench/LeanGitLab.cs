using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Scheduler.Dispatch.Bench;

/// <summary>
/// A GitLab that always has a job: <c>POST /jobs/request</c> answers 201 with a small job (GIT_STRATEGY none, one
/// <c>true</c> step), <c>PUT /jobs/:id</c> 200, <c>PATCH /jobs/:id/trace</c> 202 with the new <c>Range</c>. Counts requests
/// and final updates; keeps no per-job state, so that the runner is what is measured.
/// </summary>
public sealed class LeanGitLab : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _nextId;
    private long _requests;
    private long _succeeded;
    private long _failed;

    private LeanGitLab(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    /// <summary>Print every request (DISPATCH_BENCH_LOG=1), to see where a job waits.</summary>
    public static bool Log { get; } = Environment.GetEnvironmentVariable("DISPATCH_BENCH_LOG") == "1";
    public long Requests => Interlocked.Read(ref _requests);
    public long Succeeded => Interlocked.Read(ref _succeeded);
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Whether <c>POST /jobs/request</c> hands out jobs (on) or answers 204 (no job).</summary>
    public bool Serving { get; set; } = true;

    public static async Task<LeanGitLab> StartAsync()
    {
        // No watch of the current directory for appsettings.json (a recursive inotify watch).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        LeanGitLab? self = null;
        app.Run(context => self!.HandleAsync(context));
        await app.StartAsync();
        var url = app.Urls.First();
        self = new LeanGitLab(app, url);
        return self;
    }

    /// <summary>The job <c>POST /jobs/request</c> hands out.</summary>
    public string JobJson(long id) => $$"""
        {"id":{{id}},"token":"job-token-{{id}}","allow_git_fetch":true,
         "job_info":{"id":{{id}},"name":"bench","stage":"test","pipeline_id":1,"project_id":1,"project_name":"project","project_full_path":"bench/project"},
         "git_info":{"repo_url":"{{Url}}/bench/project.git","ref":"main","sha":"265c14cf140a66cfc61e40e4ab45c95ba8df5ed1","before_sha":"0000000000000000000000000000000000000000","ref_type":"branch","refspecs":[],"depth":20},
         "runner_info":{"timeout":3600},
         "variables":[{"key":"CI_JOB_ID","value":"{{id}}","public":true,"masked":false},{"key":"GIT_STRATEGY","value":"none","public":true,"masked":false}],
         "steps":[{"name":"script","script":["true"],"timeout":3600,"when":"on_success","allow_failure":false}],
         "image":{"name":"alpine:3.20"},"services":[],"artifacts":[],"cache":[],"credentials":[],"dependencies":[],
         "features":{"trace_sections":true,"failure_reasons":[]} }
        """;

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var request = context.Request;
        if (Log)
        {
            Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {request.Method} {request.Path}");
        }

        var path = request.Path.Value ?? "";
        var response = context.Response;
        if (request.Method == "POST" && path.EndsWith("/jobs/request", StringComparison.Ordinal) && !Serving)
        {
            response.StatusCode = (int)HttpStatusCode.NoContent;
            return;
        }

        if (request.Method == "POST" && path.EndsWith("/jobs/request", StringComparison.Ordinal))
        {
            response.StatusCode = (int)HttpStatusCode.Created;
            response.ContentType = "application/json";
            await response.WriteAsync(JobJson(Interlocked.Increment(ref _nextId)));
            return;
        }

        if (request.Method == "PATCH" && path.EndsWith("/trace", StringComparison.Ordinal))
        {
            await DrainAsync(request);
            var range = request.Headers["Content-Range"].ToString();
            var end = range.Split('-') is [_, var last] && long.TryParse(last, out var e) ? e + 1 : 0;
            response.StatusCode = (int)HttpStatusCode.Accepted;
            response.Headers["Range"] = $"0-{end}";
            response.Headers["Job-Status"] = "running";
            return;
        }

        if (request.Method == "PUT" && path.Contains("/jobs/", StringComparison.Ordinal))
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            if (body.Contains("\"state\":\"success\"", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _succeeded);
            }
            else if (body.Contains("\"state\":\"failed\"", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _failed);
            }

            response.StatusCode = (int)HttpStatusCode.OK;
            response.Headers["Job-Status"] = "running";
            return;
        }

        response.StatusCode = (int)HttpStatusCode.OK;
    }

    private static async Task DrainAsync(HttpRequest request)
    {
        var buffer = new byte[4096];
        while (await request.Body.ReadAsync(buffer) > 0)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
