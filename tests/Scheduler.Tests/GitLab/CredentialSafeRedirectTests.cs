using System.Net;
using System.Net.Sockets;
using System.Text;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.GitLab;

/// <summary>GitLab sends artifact downloads on to object storage: the job token must not follow a redirect to another
/// host, nor a body with a runner token.</summary>
public sealed class CredentialSafeRedirectTests : IDisposable
{
    private readonly Server _gitLab = new("127.0.0.1");
    private readonly Server _storage = new("127.0.0.2");

    public void Dispose()
    {
        _gitLab.Dispose();
        _storage.Dispose();
    }

    private static GitLabClient Client(HttpClient http, string url)
    {
        Assert.True(GitLabUrl.TryApiBase(url, out var apiBase, out var error), error);
        return new GitLabClient(http, apiBase, new GitLabClientOptions(RunnerIdentity.Current(), ""));
    }

    [Fact]
    public async Task A_download_redirected_to_another_host_arrives_without_the_job_token()
    {
        _gitLab.Answer = context => context.Response.Redirect($"{_storage.Url}blob?signature=abc");
        _storage.Answer = context => context.Response.OutputStream.Write("archive bytes"u8);
        using var http = GitLabHttp.CreateClient();
        using var file = new MemoryStream();

        var result = await Client(http, _gitLab.Url).DownloadArtifactsAsync(7, "job-token-0001", file);

        Assert.Equal(ArtifactsOutcome.Succeeded, result.Outcome);
        Assert.Equal("archive bytes", Encoding.UTF8.GetString(file.ToArray()));
        Assert.Equal("job-token-0001", Assert.Single(_gitLab.Requests).Headers["JOB-TOKEN"]);
        var atStorage = Assert.Single(_storage.Requests);
        Assert.Equal("/blob?signature=abc", atStorage.Path);
        Assert.Null(atStorage.Headers["JOB-TOKEN"]);
        Assert.DoesNotContain("job-token-0001", atStorage.AllHeaders, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redirect_within_GitLab_keeps_the_job_token()
    {
        _gitLab.Answer = context =>
        {
            if (context.Request.Url!.AbsolutePath.EndsWith("/artifacts", StringComparison.Ordinal))
            {
                context.Response.Redirect($"{_gitLab.Url}moved");
            }
            else
            {
                context.Response.OutputStream.Write("moved bytes"u8);
            }
        };
        using var http = GitLabHttp.CreateClient();
        using var file = new MemoryStream();

        var result = await Client(http, _gitLab.Url).DownloadArtifactsAsync(7, "job-token-0001", file);

        Assert.Equal(ArtifactsOutcome.Succeeded, result.Outcome);
        Assert.All(_gitLab.Requests, request => Assert.Equal("job-token-0001", request.Headers["JOB-TOKEN"]));
        Assert.Equal(2, _gitLab.Requests.Count);
    }

    public static TheoryData<string, string, int, string?, string?> Redirects => new()
    {
        // method, Location, status, the method followed with (null: not followed), the JOB-TOKEN sent there
        { "GET", "https://storage.example.com/b", 302, "GET", null },
        { "GET", "https://gitlab.example.com:443/other", 301, "GET", "t" },
        { "GET", "https://gitlab.example.com:8443/other", 302, "GET", null },
        { "GET", "https://GITLAB.example.com/other", 307, "GET", "t" },
        { "GET", "http://gitlab.example.com/other", 302, null, null },
        { "GET", "ftp://gitlab.example.com/other", 302, null, null },
        { "POST", "https://elsewhere.example.com/p", 307, null, null },
        { "POST", "https://elsewhere.example.com/p", 308, null, null },
        { "POST", "https://gitlab.example.com/p", 307, "POST", "t" },
        { "POST", "https://elsewhere.example.com/p", 303, "GET", null },
        { "GET", "https://gitlab.example.com/p", 200, null, null },
    };

    [Theory]
    [MemberData(nameof(Redirects))]
    public void Redirect_rules(string method, string location, int status, string? followedWith, string? token)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), "https://gitlab.example.com/api/v4/x");
        request.Headers.TryAddWithoutValidation("JOB-TOKEN", "t");
        request.Headers.TryAddWithoutValidation("RUNNER-TOKEN", "t");
        request.Headers.TryAddWithoutValidation("User-Agent", "scheduler");
        if (method == "POST")
        {
            request.Content = new StringContent("{\"token\":\"runner\"}");
        }

        var response = new HttpResponseMessage((HttpStatusCode)status);
        response.Headers.Location = new Uri(location);

        var next = CredentialSafeRedirects.Next(request, response);

        Assert.Equal(followedWith, next?.Method.Method);
        if (next is not null)
        {
            Assert.Equal(token, next.Headers.TryGetValues("JOB-TOKEN", out var values) ? values.Single() : null);
            Assert.Equal(token, next.Headers.TryGetValues("RUNNER-TOKEN", out var runner) ? runner.Single() : null);
            Assert.True(next.Headers.Contains("User-Agent"));
            Assert.Equal(followedWith == "POST", next.Content is not null);
        }
    }

    private sealed record Seen(string Path, WebHeaderCollection Headers, string AllHeaders);

    /// <summary>An HTTP server on one loopback address that records each request.</summary>
    private sealed class Server : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _serving;

        public Server(string address)
        {
            // A free port can be taken between the probe and the listener: a few tries.
            for (var attempt = 1; ; attempt++)
            {
                using (var probe = new TcpListener(IPAddress.Parse(address), 0))
                {
                    probe.Start();
                    Url = $"http://{address}:{((IPEndPoint)probe.LocalEndpoint).Port}/";
                }

                _listener.Prefixes.Clear();
                _listener.Prefixes.Add(Url);
                try
                {
                    _listener.Start();
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                }
            }

            _serving = Task.Run(ServeAsync);
        }

        public string Url { get; }
        public Action<HttpListenerContext> Answer { get; set; } = _ => { };
        public List<Seen> Requests { get; } = [];

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                var headers = new WebHeaderCollection { context.Request.Headers };
                lock (Requests)
                {
                    Requests.Add(new Seen(context.Request.RawUrl ?? "", headers, headers.ToString()));
                }

                Answer(context);
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
